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
    """One VM instruction kind. Values are stable: append, never renumber.

    Registers hold lists of parent objects; *slots* hold the values a step resolved,
    keyed by the identity of each parent object.
    """

    #: ``HALT`` — end of program.
    HALT = 0
    #: ``FETCH slot, step, reg`` — start the upstream call(s) of step ``step`` for every
    #: object in register ``reg`` (identical requests are made once).
    FETCH = 1
    #: ``BATCH slot, step, reg`` — one upstream call per ``maxSize`` keys for all objects in
    #: ``reg``; results are scattered back by ``batchKey``.
    BATCH = 2
    #: ``EXPR slot, step, reg`` — evaluate an ``@expr`` body for every object in ``reg``.
    EXPR = 3
    #: ``AWAIT`` — wait for every started fetch and store the results in their slots.
    AWAIT = 4
    #: ``GATHER reg, source, path`` — the objects below the values of slot ``source`` (or
    #: below register ``-source-1``'s objects) along a plain field path, lists flattened,
    #: for the next steps.
    GATHER = 5
    #: ``WRITE shape`` — write the response JSON for the root object from the shape in the
    #: constant pool.
    WRITE = 6
