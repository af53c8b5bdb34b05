"""The ``thudo`` command line (thudo/cli.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from thudo import __version__
from thudo.cli import main


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("THUDO_"):
            monkeypatch.delenv(key)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"thudo {__version__}"


def test_config_check_prints_the_settings(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THUDO_PORT", "1234")
    assert main(["config", "check"]) == 0
    out = capsys.readouterr().out
    assert "port = 1234" in out
    assert "configuration is valid" in out


def test_config_check_masks_secrets(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THUDO_DATABASE_URL", "postgresql://thudo:s3cret@db:5432/thudo")
    assert main(["config", "check"]) == 0
    out = capsys.readouterr().out
    assert "s3cret" not in out
    assert "postgresql://thudo:***@db:5432/thudo" in out


def test_config_check_with_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "t.toml"
    cfg.write_text("[thudo]\nmax_body_bytes = 2048\n")
    assert main(["--config", str(cfg), "config", "check"]) == 0
    assert "max_body_bytes = 2048" in capsys.readouterr().out


def test_bad_configuration_exits_2_naming_the_key(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THUDO_MAX_JSON_DEPTH", "deep")
    assert main(["config", "check"]) == 2
    err = capsys.readouterr().err
    assert "max_json_depth='deep'" in err
    assert "Traceback" not in err


def test_bad_serve_option_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", "0"]) == 2
    assert "port=0" in capsys.readouterr().err


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 1
    assert "usage: thudo" in capsys.readouterr().out


def test_python_dash_m_runs_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "thudo", "--version"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    assert done.stdout.strip() == f"thudo {__version__}"


@pytest.mark.parametrize("rules", [None, b"garbage = [", b"\xff\xfe"])
def test_a_bad_alert_rules_file_exits_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    rules: bytes | None,
) -> None:
    """A missing, invalid or non-UTF-8 rules file once ended `thudo serve` in a traceback
    from inside the server's start; `config check` did not look at it."""
    path = tmp_path / "rules.toml"
    if rules is not None:
        path.write_bytes(rules)
    monkeypatch.setenv("THUDO_ALERT_RULES_FILE", str(path))
    monkeypatch.setenv("THUDO_HOST", "256.0.0.1")  # should serve get that far, it cannot bind
    for argv in (["config", "check"], ["serve", "--port", "1"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "alert_rules_file" in err and "Traceback" not in err
