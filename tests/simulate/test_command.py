"""``thudo simulate`` on the command line: options, a clean run, one-line errors."""

from __future__ import annotations

import io
import time

import pytest

from tests.receiver import receiving
from tests.support import free_port
from thudo.cli import main
from thudo.simulate.clock import format_instant, parse_instant


def test_connection_refused_exits_1_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["simulate", "--url", f"http://127.0.0.1:{free_port()}", "--duration", "1"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("thudo simulate: cannot reach http://127.0.0.1:")
    assert "Traceback" not in err and err.count("\n") == 1


def test_bad_fleet_size_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--stations", "500"]) == 1
    assert "stations must be 1 to 126" in capsys.readouterr().err


def test_bad_duration_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["simulate", "--backfill", "a year"])
    assert info.value.code == 2
    assert "not a duration" in capsys.readouterr().err


def test_a_short_run_provisions_sends_and_stops(capsys: pytest.CaptureFixture[str]) -> None:
    start = format_instant(time.time() - 600)
    with receiving() as receiver:
        url = f"http://127.0.0.1:{receiver.port}"
        args = ["simulate", "--url", url, "--transport", "http", "--speed", "600"]
        args += ["--start", start, "--stations", "3", "--traffic", "1", "--duration", "1.5"]
        assert main(args) == 0
        requests = list(receiver.requests)
    err = capsys.readouterr().err
    paths = {r.path.split("?")[0] for r in requests}
    assert paths == {"/iot/services", "/iot/devices", "/iot/json"}
    measures = [r for r in requests if r.path.startswith("/iot/json?")]
    assert measures
    assert all(parse_instant(r.body["TimeInstant"]) <= time.time() for r in measures)
    assert "provisioned 31 devices" in err  # 3 + 3 weather + 22 gauges + 2 rivers + 1 counter
    assert "messages" in err and "via http" in err


def test_status_line_is_redrawn_on_a_terminal() -> None:
    from thudo.simulate.command import _show

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Tty()
    _show(out, "backfill  50.0%")
    assert out.getvalue() == "\r\x1b[Kbackfill  50.0%"
    plain = io.StringIO()
    _show(plain, "backfill  50.0%")
    assert plain.getvalue() == ""
