"""Bytecode opcodes: the single source of truth for both VMs.

The Cython VM includes ``engine/opcodes.pxi``, generated from this enum by
``python planner/gen_opcodes.py``; ``tests/test_opcodes.py`` fails when the
generated file drifts from this module.

A Program is a flat tuple of instructions ``(opcode, a, b, c)``: operands are register
numbers or indexes into the Program's constant pool (see DESIGN.md, "Bytecode").
"""
from enum import IntEnum, unique


@unique
class Op(IntEnum):
    """One VM instruction kind. Values are stable: append, never renumber."""

    #: ``HALT`` — end of program.
    HALT = 0
    #: ``FETCH dst, resolver, src`` — start one upstream call for the value in ``src``.
    FETCH = 1
    #: ``FETCH_EACH dst, resolver, src`` — one call per item of the list in ``src``
    #: (dedupe applies), results as a list aligned with the items.
    FETCH_EACH = 2
    #: ``BATCH dst, resolver, src`` — one call for all keys of the list in ``src``,
    #: results scattered back by ``batchKey``.
    BATCH = 3
    #: ``AWAIT`` — wait until every started fetch has finished.
    AWAIT = 4
    #: ``EXPR dst, template, src`` — evaluate an ``@expr`` body against ``src``.
    EXPR = 5
    #: ``LOAD_FIELD dst, key, src`` — ``dst = src[key]`` (default field resolution).
    LOAD_FIELD = 6
    #: ``BEGIN_OBJECT`` / ``END_OBJECT`` — open or close a JSON object in the output.
    BEGIN_OBJECT = 7
    END_OBJECT = 8
    #: ``BEGIN_LIST src`` / ``END_LIST`` — loop over the list in ``src``.
    BEGIN_LIST = 9
    END_LIST = 10
    #: ``WRITE_KEY key`` — write a pre-encoded ``"name":`` from the constant pool.
    WRITE_KEY = 11
    #: ``WRITE_LEAF src, coercer`` — write a scalar/enum value with result coercion.
    WRITE_LEAF = 12
    #: ``WRITE_RAW src`` — copy a whole, unchanged JSON subtree (``msgspec.Raw``).
    WRITE_RAW = 13
    #: ``WRITE_CONST value`` — write pre-encoded JSON bytes (``__typename``, constants).
    WRITE_CONST = 14
