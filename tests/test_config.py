"""Settings (thudo/config.py): environment, TOML file, defaults, and validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from thudo.config import Settings, load_settings
from thudo.errors import SettingsError


def test_defaults() -> None:
    s = load_settings(environ={})
    assert s == Settings()
    assert s.port == 1026
    assert s.sqlite_path == "thudo.db"


def test_environment_values_are_coerced() -> None:
    s = load_settings(
        environ={
            "THUDO_PORT": "8080",
            "THUDO_CONTEXT_FETCH_TIMEOUT": "0.5",
            "THUDO_CONTEXT_ALLOW_REMOTE": "off",
            "THUDO_CONTEXT_URL_MAP": "http://a/c.jsonld=c.jsonld, http://b/d=d.json",
            "THUDO_DATABASE_URL": "sqlite:////var/lib/thudo/x.db",
        }
    )
    assert s.port == 8080
    assert s.context_fetch_timeout == 0.5
    assert s.context_allow_remote is False
    assert s.context_url_map == {"http://a/c.jsonld": "c.jsonld", "http://b/d": "d.json"}
    assert s.sqlite_path == "/var/lib/thudo/x.db"


def test_precedence_overrides_then_env_then_file(tmp_path: Path) -> None:
    cfg = tmp_path / "thudo.toml"
    cfg.write_text('[thudo]\nport = 2000\nhost = "0.0.0.0"\nmax_json_depth = 9\n')
    s = load_settings(cfg, environ={"THUDO_PORT": "3000", "THUDO_HOST": "::1"}, host="10.0.0.1")
    assert (s.port, s.host, s.max_json_depth) == (3000, "10.0.0.1", 9)


def test_config_file_from_the_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("max_page_size = 50\ndefault_page_size = 5\n")
    s = load_settings(environ={"THUDO_CONFIG": str(cfg)})
    assert (s.max_page_size, s.default_page_size) == (50, 5)


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"THUDO_PORT": "http"}, "port='http'"),
        ({"THUDO_PORT": "70000"}, "port=70000"),
        ({"THUDO_MAX_BODY_BYTES": "0"}, "max_body_bytes=0"),
        ({"THUDO_CONTEXT_FETCH_TIMEOUT": "-1"}, "context_fetch_timeout"),
        ({"THUDO_CONTEXT_ALLOW_REMOTE": "maybe"}, "context_allow_remote='maybe'"),
        ({"THUDO_LOG_LEVEL": "loud"}, "log_level='loud'"),
        ({"THUDO_LOG_FORMAT": "xml"}, "log_format='xml'"),
        ({"THUDO_DATABASE_URL": "mysql://x"}, "database_url='mysql://x'"),
        ({"THUDO_DEFAULT_PAGE_SIZE": "500", "THUDO_MAX_PAGE_SIZE": "100"}, "default_page_size=500"),
        ({"THUDO_CONTEXT_URL_MAP": "no-equals-sign"}, "context_url_map"),
    ],
)
def test_bad_values_name_the_key_and_the_value(environ: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(environ=environ)
    assert named in str(info.value)


def test_unknown_key_in_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[thudo]\nprot = 1\n")
    with pytest.raises(SettingsError, match="'prot'"):
        load_settings(cfg, environ={})


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot be read"):
        load_settings(tmp_path / "missing.toml", environ={})
    bad = tmp_path / "bad.toml"
    bad.write_text("port = = 1")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(bad, environ={})


def test_wrong_type_in_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[thudo]\nworkers = "many"\n')
    with pytest.raises(SettingsError, match="workers='many'"):
        load_settings(cfg, environ={})


def test_unrelated_environment_is_ignored() -> None:
    assert load_settings(environ={"PORT": "1", "THUDO": "x"}) == Settings()


def test_settings_are_frozen_and_replace_validates() -> None:
    s = load_settings(environ={})
    with pytest.raises(AttributeError):
        s.port = 1  # type: ignore[misc]
    assert s.replace(port=9).port == 9
    with pytest.raises(SettingsError):
        s.replace(port=0)


def test_sqlite_path_needs_an_sqlite_url() -> None:
    s = load_settings(environ={"THUDO_DATABASE_URL": "postgresql://u@h/db"})
    with pytest.raises(SettingsError):
        _ = s.sqlite_path


def test_mqtt_ingestion_in_several_workers_is_refused() -> None:
    with pytest.raises(SettingsError, match="one process"):
        load_settings(environ={}, workers=2, ingest_mqtt_url="mqtt://127.0.0.1:1883")
    assert load_settings(environ={}, workers=2).workers == 2


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"THUDO_NOTIFY_TIMEOUT": "nan"}, "notify_timeout"),
        ({"THUDO_INGEST_BATCH_WAIT": "inf"}, "ingest_batch_wait"),
        ({"THUDO_NOTIFY_TIMEOUT": "1e400"}, "notify_timeout"),
        ({"THUDO_MAX_BODY_BYTES": "99999999999999999999999999"}, "max_body_bytes"),
        ({"THUDO_PORT": "1.9"}, "port"),
    ],
)
def test_numbers_must_be_finite_whole_where_whole_and_sane(
    environ: dict[str, str], named: str
) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings(environ=environ)


@pytest.mark.parametrize(
    "toml",
    ["port = inf", "max_attributes = 1e400", "port = 1.9", "notify_timeout = 1" + "0" * 400],
)
def test_numbers_in_the_file_must_be_finite_and_whole(tmp_path: Path, toml: str) -> None:
    cfg = tmp_path / "thudo.toml"
    cfg.write_text(f"[thudo]\n{toml}\n")
    with pytest.raises(SettingsError, match=toml.split()[0]):
        load_settings(cfg, environ={})


def test_a_file_that_is_not_utf8_is_a_settings_error(tmp_path: Path) -> None:
    cfg = tmp_path / "thudo.toml"
    cfg.write_bytes(b"\xff\xfe garbage")
    with pytest.raises(SettingsError, match="UTF-8"):
        load_settings(cfg, environ={})
