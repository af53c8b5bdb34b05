"""``thudo.analytics`` is pure: it imports nothing from the rest of thudo (STYLE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import thudo.analytics

PACKAGE = Path(thudo.analytics.__file__).parent


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_analytics_imports_only_itself_from_thudo() -> None:
    modules = sorted(PACKAGE.glob("*.py"))
    assert len(modules) >= 5
    for path in modules:
        foreign = {
            name
            for name in _imports(path)
            if name.split(".")[0] == "thudo" and not name.startswith("thudo.analytics")
        }
        assert not foreign, f"{path.name} imports {sorted(foreign)}"
