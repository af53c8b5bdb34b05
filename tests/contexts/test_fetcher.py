"""Fetching remote @context documents: offline copies first, then HTTP within limits."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tests.support import ContextServer, free_port
from thudo.config import load_settings
from thudo.contexts.fetcher import ContextFetcher, parse_context_document
from thudo.errors import LdContextNotAvailable

DOC = {"@context": {"t": "https://ex.org/t"}}


def _fetcher(**overrides: object) -> ContextFetcher:
    return ContextFetcher(load_settings(environ={}, **overrides))


async def test_url_map_serves_a_local_file(tmp_path: Path) -> None:
    path = tmp_path / "ctx.jsonld"
    path.write_bytes(orjson.dumps(DOC))
    fetcher = _fetcher(
        context_url_map={"https://nowhere.example/ctx.jsonld": str(path)},
        context_allow_remote=False,
    )
    doc, data = await fetcher.fetch("https://nowhere.example/ctx.jsonld")
    assert doc == DOC
    assert data == path.read_bytes()


async def test_preload_dir_is_a_mirror_of_host_and_path(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror" / "smartdatamodels.org" / "context.jsonld"
    mirror.parent.mkdir(parents=True)
    mirror.write_bytes(orjson.dumps(DOC))
    fetcher = _fetcher(context_preload_dir=str(tmp_path / "mirror"), context_allow_remote=False)
    doc, _ = await fetcher.fetch("https://smartdatamodels.org/context.jsonld")
    assert doc == DOC


async def test_preload_dir_cannot_be_escaped(tmp_path: Path) -> None:
    (tmp_path / "secret.jsonld").write_bytes(orjson.dumps({"@context": {"secret": "x:y"}}))
    (tmp_path / "mirror" / "h").mkdir(parents=True)
    fetcher = _fetcher(context_preload_dir=str(tmp_path / "mirror"), context_allow_remote=False)
    for url in (
        "http://h/../../secret.jsonld",
        "http://h/%2e%2e/%2e%2e/secret.jsonld",
        "http://../secret.jsonld",
    ):
        with pytest.raises(LdContextNotAvailable):
            await fetcher.fetch(url)


async def test_remote_fetch_can_be_disabled() -> None:
    with pytest.raises(LdContextNotAvailable, match="offline"):
        await _fetcher(context_allow_remote=False).fetch("http://127.0.0.1:9/c.jsonld")


async def test_http_fetch(context_server: ContextServer) -> None:
    context_server.documents["/c.jsonld"] = orjson.dumps(DOC)
    fetcher = _fetcher()
    try:
        doc, _ = await fetcher.fetch(context_server.url("/c.jsonld"))
    finally:
        await fetcher.close()
    assert doc == DOC


@pytest.mark.parametrize(
    ("path", "body", "named"),
    [
        ("/missing.jsonld", None, "HTTP 404"),
        (
            "/big.jsonld",
            orjson.dumps({"@context": {f"t{i}": "x:y" for i in range(100)}}),
            "limit of 256 bytes",
        ),
        ("/slow.jsonld", orjson.dumps(DOC), "in time"),
        ("/text.jsonld", b"hello", "not valid JSON"),
        ("/empty.jsonld", b"{}", "no @context"),
    ],
)
async def test_http_failures_are_context_not_available(
    context_server: ContextServer, path: str, body: bytes | None, named: str
) -> None:
    if body is not None:
        context_server.documents[path] = body
    fetcher = _fetcher(context_max_bytes=256, context_fetch_timeout=0.2)
    try:
        with pytest.raises(LdContextNotAvailable) as info:
            await fetcher.fetch(context_server.url(path))
    finally:
        await fetcher.close()
    assert named in info.value.detail
    assert info.value.status == 503


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://ex.org/c.jsonld", "c.jsonld", "gopher://x"]
)
async def test_only_http_urls_are_fetched(url: str) -> None:
    with pytest.raises(LdContextNotAvailable):
        await _fetcher().fetch(url)


async def test_closed_port() -> None:
    fetcher = _fetcher()
    try:
        with pytest.raises(LdContextNotAvailable, match="cannot be retrieved"):
            await fetcher.fetch(f"http://127.0.0.1:{free_port()}/c.jsonld")
    finally:
        await fetcher.close()


@pytest.mark.parametrize("data", [b"[]", b'{"@context": 1}', b'{"@context": null}', b"\xff"])
def test_parse_context_document_refuses_non_contexts(data: bytes) -> None:
    with pytest.raises(LdContextNotAvailable, match="http://x/c"):
        parse_context_document(data, "http://x/c")
