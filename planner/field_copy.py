"""The shape of another alias of a field already planned at the same place.

Hostile documents select one field under many aliases (100,000 aliases of
``posts { title }``); the planner plans it once and gives every other alias a copy of its
:class:`~program.FieldShape` that differs only in the response key (spec 6.3.2: the key
the value is written under) and the field node (its location in errors). This is the
reference; ``_field_copy.pyx`` is its compiled twin (copies the slots in C), selected
unless ``PLAIT_NO_EXTENSIONS=1``.
"""
from __future__ import annotations

import msgspec

from .op_ast import Field
from .program import FieldShape

_encode = msgspec.json.encode


def aliased_shape(planned: FieldShape, response_key: str, node: Field) -> FieldShape:
    """``planned`` written under ``response_key`` for ``node``."""
    return FieldShape(_encode(response_key) + b":", response_key, planned.source,
                      planned.source_arg, planned.type, node.start, planned.leaf,
                      planned.object, planned.abstract, node, planned.owner)


#: The pure-Python version, the reference implementation (tests compare both).
python_aliased_shape = aliased_shape


def _select() -> None:
    import os
    if os.environ.get("PLAIT_NO_EXTENSIONS", "") not in ("", "0"):
        return
    global aliased_shape
    # An ImportError here is a build error, never a silent fallback.
    from ._field_copy import aliased_shape as compiled
    aliased_shape = compiled


_select()
