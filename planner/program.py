"""Compiled operations: the Program a VM runs, and the constants it refers to.

A Program is a flat tuple of ``(opcode, a, b, c)`` quadruples (see ``opcodes.Op``) plus a
constant pool: :class:`StepSpec` (how to resolve one field for many parent objects),
:class:`GatherSpec` (where the next step's parent objects are) and the response
:class:`ObjectShape` tree (pre-encoded keys, result coercers). Programs are immutable and
shared by every request; per-request values (variables, headers) are bound by the VM.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .model import FieldDef, Resolver, TypeRef
from .op_ast import Argument, Field, SourceText

# Where a field's value comes from (FieldShape.source).
SOURCE_KEY = 0        # parent[source_arg] (default resolution, spec 6.4.3 via the parent JSON)
SOURCE_PATH = 1       # a nested path in the parent (@addField)
SOURCE_STEP = 2       # the value a step resolved for this parent (keyed by identity)
SOURCE_TYPENAME = 3   # __typename
SOURCE_INTROSPECTION = 4  # __schema / __type, computed from the schema view
SOURCE_ERROR = 5      # a fixed field error (``source_arg``): a @protected field the request
#                       may not read (see engine/auth.py)


@dataclass(frozen=True, slots=True)
class LeafCoercer:
    """Result coercion of one leaf type (spec 3.5, 3.9)."""

    kind: str  # String Int Float Boolean ID enum checked (planner/scalars.py) custom
    type_name: str
    enum_values: frozenset[str] = frozenset()
    #: ``@alias`` spellings of enum values: upstream spelling → enum value.
    enum_aliases: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class FieldShape:
    """One response key of an object in the response."""

    key: bytes               # pre-encoded ``"name":``
    response_key: str
    source: int
    source_arg: Any
    type: TypeRef
    #: Where the field is in the document (line and column are computed for errors only).
    offset: int
    leaf: LeafCoercer | None = None
    object: "ObjectShape | None" = None
    abstract: "AbstractShape | None" = None
    node: Field | None = None
    #: The object type that has the field (for messages such as ``Post.title``).
    owner: str = ""


@dataclass(slots=True)
class ObjectShape:
    type_name: str
    typename_json: bytes
    fields: list[FieldShape] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class AbstractShape:
    """An interface or union position: the shape depends on each value's object type.
    Compared and hashed by identity (gather segments, which key the emitter's groups,
    hold it)."""

    name: str
    shapes: dict[str, ObjectShape]
    #: The key naming the type in upstream values (``@discriminate``), if any.
    discriminator: str | None
    #: For inference without a discriminator: type → keys its non-null fields need.
    required: tuple[tuple[str, frozenset[str]], ...]


@dataclass(slots=True)
class StepSpec:
    """How to resolve one field for every object in a register (FETCH/BATCH/EXPR)."""

    slot: int
    resolver: Resolver
    field: FieldDef
    owner: str
    arguments: list[Argument]
    result_type: TypeRef
    node: Field
    location: tuple[int, int]
    #: Splits the upstream body to the depth the field's type needs (see engine/values.py).
    decoder: Any = None
    #: The references of the request templates that read parent objects (``.value``,
    #: ``.parent``): parents equal in these render the same request.
    parent_refs: tuple[Any, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.owner}.{self.field.name}"


@dataclass(frozen=True, slots=True)
class GatherSpec:
    """Objects below a step's values: ``("key", name)`` steps into a field (lists are
    flattened), ``("is", abstract, type)`` keeps values of one object type."""

    source_slot: int   # -1: start from register 0 (the root object)
    segments: tuple[tuple[Any, ...], ...]


@dataclass(slots=True)
class Program:
    code: tuple[int, ...]
    consts: tuple[Any, ...]
    n_regs: int
    n_slots: int
    shape: ObjectShape
    operation: str  # query | mutation
    source: SourceText
    #: The plan in readable form, for ``plait explain``.
    steps: list[StepSpec] = field(default_factory=list)
    parents: dict[int, int] = field(default_factory=dict)
    #: The shape tree compiled for the Cython VM (built on first use, then shared).
    compiled: Any = None
    #: Whether identical concurrent executions may share one (set by the engine).
    shareable: bool = False
    #: Whether that sharing extends to the other workers of a ``plait start`` (set by the
    #: engine: shareable executions with more than one round of upstream calls).
    across_workers: bool = False
    #: Whether the response needs ``__schema``/``__type`` answers.
    introspects: bool = False
    #: The response never changes (no variables, no upstream, only constant ``@expr``):
    #: the engine keeps its bytes after the first execution.
    constant: bool = False
    constant_body: bytes | None = None
    #: The smallest ``@cache(maxAge)`` in ms among the response's fields (Cache-Control).
    cache_max_age_ms: int | None = None
    #: The auth requirements of the ``@protected`` fields the operation selects (checked
    #: once per request before the Program runs; empty: no check at all).
    guards: tuple[Any, ...] = ()
