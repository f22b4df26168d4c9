"""plait.engine: the VMs that run compiled Programs, and their runtime parts.

Two interpreters share one behaviour: the compiled Cython VM (``_cvm``) and the pure-Python
reference. ``PLAIT_NO_EXTENSIONS=1`` selects the reference explicitly; otherwise a missing
compiled module is an error, never a silent fallback.
"""
from __future__ import annotations

import os
from types import ModuleType

__all__ = ["extensions_disabled", "load_compiled_core"]


def extensions_disabled() -> bool:
    """True when ``PLAIT_NO_EXTENSIONS=1`` asks for the pure-Python reference VM."""
    return os.environ.get("PLAIT_NO_EXTENSIONS", "") not in ("", "0")


def load_compiled_core() -> ModuleType | None:
    """Return the compiled core, or None when extensions are disabled.

    Raises ImportError (with what to do) when the extension is expected but not built.
    """
    if extensions_disabled():
        return None
    try:
        from . import _cvm
    except ImportError as exc:  # pragma: no cover - exercised by CI's build check
        raise ImportError(
            "plait's compiled extension plait.engine._cvm is not built; reinstall with "
            "`pip install -e .` (needs a C compiler and Cython), or set PLAIT_NO_EXTENSIONS=1 "
            "to run the pure-Python reference VM"
        ) from exc
    return _cvm
