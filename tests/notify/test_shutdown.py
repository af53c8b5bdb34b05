"""Shutting the broker down never hangs, even when the delivery loop is woken just as it
is cancelled (on Python 3.11, asyncio.wait_for could swallow that cancellation)."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import SettingsFactory
from thudo.api.app import ThudoApp


@pytest.mark.parametrize("round_", range(20))
async def test_close_while_the_delivery_loop_is_woken(
    make_settings: SettingsFactory, round_: int
) -> None:
    app = ThudoApp(make_settings(notify_poll_interval=30.0))
    await app.startup()
    await asyncio.sleep(0.01 * (round_ % 4))  # let the loop settle into its wait
    app.dispatcher.wake_threadsafe()
    await asyncio.sleep(0)  # the wake-up is scheduled; the waiter resolves in this tick
    app.dispatcher._wake.set()  # and set directly too, right before the cancellation
    # Awaited in this very tick, so the cancellation meets the wake-up. A hung close()
    # can swallow the deadline's cancellation too, so ask the deadline whether it fired.
    async with asyncio.timeout(3) as deadline:
        await app.shutdown()
    assert not deadline.expired(), "shutdown hung until the 3 s deadline (poll interval: 30 s)"
    assert not app.started
