# cython: language_level=3
"""The compiled VM core (Cython twin of ``plait.engine.refvm``).

Today it holds the opcode table as compiled; the interpreter loop lands with the Core
engine issue. See ``_cvm.pyi`` for the typed interface.
"""
include "opcodes.pxi"


def opcode_values():
    """Return ``{name: value}`` for every opcode as compiled into this module."""
    return dict(COMPILED_OPCODES)


cpdef str opcode_name(int op):
    """Return the name of opcode ``op``; ``ValueError`` if it is not an opcode."""
    for name, value in COMPILED_OPCODES.items():
        if value == op:
            return name
    raise ValueError(f"unknown opcode {op}")
