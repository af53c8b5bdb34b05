"""Public names: every module says what it exports, and exports only what exists."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from types import ModuleType

import pytest

import thudo


def _modules() -> list[str]:
    names = ["thudo"]
    for info in pkgutil.walk_packages(thudo.__path__, "thudo."):
        leaf = info.name.rsplit(".", 1)[1]
        if leaf == "__main__" or leaf.startswith("_"):
            continue  # __main__ runs the CLI on import; _private modules are not public
        names.append(info.name)
    return sorted(names)


MODULES = _modules()


def _import(name: str) -> ModuleType:
    return importlib.import_module(name)


def test_the_package_tree_was_found() -> None:
    assert {"thudo.api.app", "thudo.store.sqlite.store", "thudo.ngsild.qlang"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_public_module_defines_all(name: str) -> None:
    module = _import(name)
    exported = getattr(module, "__all__", None)
    assert isinstance(exported, list | tuple), f"{name} has no __all__"


@pytest.mark.parametrize("name", MODULES)
def test_all_lists_only_names_that_exist(name: str) -> None:
    module = _import(name)
    exported = list(getattr(module, "__all__", []))
    assert len(exported) == len(set(exported)), f"{name}.__all__ repeats a name"
    for item in exported:
        assert isinstance(item, str)
        exists = hasattr(module, item)
        if not exists and hasattr(module, "__path__"):
            exists = importlib.util.find_spec(f"{name}.{item}") is not None
        assert exists, f"{name}.__all__ lists {item!r}, which does not exist"


def test_star_import_works_everywhere() -> None:
    for name in MODULES:
        namespace: dict[str, object] = {}
        exec(f"from {name} import *", namespace)
        for item in getattr(_import(name), "__all__", []):
            assert item in namespace, (name, item)
