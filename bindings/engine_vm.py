"""Choosing the VM: the compiled one unless ``PLAIT_NO_EXTENSIONS=1`` or ``vm="py"``."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .engine import extensions_disabled, load_compiled_core


def select_vm(name: str | None) -> tuple[str, Callable[..., Any]]:
    """Return ``(name, run)`` for ``"c"``, ``"py"`` or None (the default)."""
    if name is None:
        name = "py" if extensions_disabled() else "c"
    if name == "py":
        from .engine import refvm

        return "py", refvm.run
    if name == "c":
        core = load_compiled_core()
        if core is None:
            raise ImportError("the compiled VM was requested but PLAIT_NO_EXTENSIONS=1 is set")
        return "c", core.run
    raise ValueError(f'unknown VM "{name}" (expected "c" or "py")')
