"""Plan an operation: the response shape and the tree of fetch steps (the Plan IR).

For a validated operation and the values of the variables that ``@skip``/``@include``
read, builds (spec 6.3 ExecuteSelectionSet, statically):

- the response :class:`~program.ObjectShape` tree: response keys in selection order with
  pre-encoded key bytes, where each value comes from (the parent JSON, an ``@addField``
  path, a step), and how leaves are coerced (spec 3.5);
- :class:`PlanStep` nodes: one per field with a resolver, each hanging below its parent
  step's values along a path of plain fields (so a step runs once for *all* parent objects
  of a level: the N+1 is never issued as N separate plan nodes).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Union

import msgspec
from msgspec import Raw

from .check_templates import resolver_templates
from .collect_fields import collect_fields, distinct_keys
from .diagnostics import Loc
from .field_copy import aliased_shape
from .model import (ENUM, INTERFACE, OBJECT, UNION, TypeRef)
from .op_ast import Document, Field, FragmentDefinition, OperationDefinition, Selection
from .program import (SOURCE_ERROR, SOURCE_INTROSPECTION, SOURCE_KEY, SOURCE_PATH,
                      SOURCE_STEP, SOURCE_TYPENAME, AbstractShape, FieldShape, LeafCoercer,
                      ObjectShape, StepSpec)
from .scalars import CHECKED_SCALARS
from .schema_view import SchemaView
from .signature import field_body_signature

_SPEC_LEAVES = ("String", "Int", "Float", "Boolean", "ID")
_LOC = Loc("<query>", 0, 0)


@dataclass(slots=True)
class PlanStep:
    spec: StepSpec
    parent: "PlanStep | None"
    #: Path from the parent step's values (or the root object) to this step's parents.
    segments: tuple[tuple[object, ...], ...]
    children: list["PlanStep"] = field(default_factory=list)


@dataclass(slots=True)
class Plan:
    shape: ObjectShape
    roots: list[PlanStep]
    steps: list[StepSpec]
    operation: str
    introspects: bool = False
    cache_max_age_ms: int | None = None
    #: The auth requirements of the protected fields planned (in first-seen order).
    guards: tuple[Any, ...] = ()


@lru_cache(maxsize=1024)
def _decoder(type_text: str, leaf: bool) -> msgspec.json.Decoder:
    depth = 0
    while type_text.startswith("["):
        depth += 1
        type_text = type_text[1:].rstrip("!")[:-1]
    decoded: Any = Raw if leaf else dict[str, Raw]
    for _ in range(depth):
        decoded = list[Raw] if decoded is Raw else list[Union[decoded, None]]
    return msgspec.json.Decoder(decoded)


def response_decoder(type_ref: TypeRef, leaf: bool) -> msgspec.json.Decoder:
    """Decoder for a step's upstream body: lists and objects down to the field's own
    objects, every field value kept as ``msgspec.Raw`` (decoded only if used)."""
    return _decoder(str(type_ref), leaf)


class _Attach:
    __slots__ = ("step", "segments")

    def __init__(self, step: PlanStep | None, segments: tuple[tuple[object, ...], ...]) -> None:
        self.step = step
        self.segments = segments

    def then(self, segment: tuple[object, ...]) -> "_Attach":
        return _Attach(self.step, self.segments + (segment,))


class Planner:
    """Builds a :class:`Plan` for one operation (one instance per planning)."""

    def __init__(self, view: SchemaView, document: Document,
                 variables: dict[str, object], denied: dict[Any, Any] | None = None) -> None:
        self.view = view
        #: Auth requirements this request fails → the field error their fields become
        #: (no step is planned for such a field or below it).
        self.denied = denied
        self.guards: dict[Any, None] = {}
        self.document = document
        self.fragments: dict[str, FragmentDefinition] = {f.name: f for f in document.fragments}
        self.variables = variables
        self.steps: list[StepSpec] = []
        self.roots: list[PlanStep] = []
        self.introspects = False
        #: The smallest ``@cache(maxAge)`` (ms) of the fields the response contains.
        self.cache_max_age_ms: int | None = None
        self._planned: dict[tuple[str, int], dict[object, FieldShape]] = {}
        self._signatures = document.signatures
        self._attachments: list[_Attach] = []  # keeps ids in memo keys unique

    def plan(self, operation: OperationDefinition) -> Plan:
        root = self.view.query if operation.kind == "query" else self.view.mutation
        assert root is not None
        shape = self.object_shape(root, [operation.selections], _Attach(None, ()))
        return Plan(shape, self.roots, self.steps, operation.kind, self.introspects,
                    self.cache_max_age_ms, tuple(self.guards))

    def _location(self, node: Field) -> tuple[int, int]:
        return self.document.source.location(node.start)

    def object_shape(self, type_name: str, selection_sets: list[list[Selection]],
                     attach: _Attach) -> ObjectShape:
        self._attachments.append(attach)
        shape = ObjectShape(type_name, msgspec.json.encode(type_name))
        memo = self._signatures
        mutation_root = attach.step is None and not attach.segments and \
            type_name == self.view.blueprint.mutation
        # Spec 6.3.2 CollectFields: with plain fields, each key once, the fields themselves.
        plain = distinct_keys(selection_sets[0], memo) if len(selection_sets) == 1 else None
        entries: Any = zip(plain, selection_sets[0]) if plain is not None else \
            collect_fields(type_name, selection_sets, self.view, self.fragments,
                           self.variables).items()
        # Fields planned at this place (type and attachment), by body signature.
        planned_fields = self._planned.setdefault((type_name, id(attach)), {})
        append, encode = shape.fields.append, msgspec.json.encode
        for response_key, nodes in entries:
            node = nodes if plain is not None else nodes[0]
            memo_key = None
            # (Never on the mutation root: each mutation field is its own side effect.)
            if (plain is not None or len(nodes) == 1) and not mutation_root:
                # An identical field already planned at the same place (another alias of
                # it): reuse its step and shapes; only the response key and location differ.
                memo_key = node.signature or field_body_signature(node, memo)
                planned = planned_fields.get(memo_key)
                if planned is not None:
                    append(aliased_shape(planned, response_key, node))
                    continue
            field_shape, shared = self._field_shape(type_name, response_key,
                                                    encode(response_key) + b":",
                                                    [node] if plain is not None else nodes,
                                                    attach)
            append(field_shape)
            if memo_key is not None and shared:
                planned_fields[memo_key] = field_shape
        return shape

    def _field_shape(self, type_name: str, response_key: str, key: bytes, nodes: list[Field],
                     attach: _Attach) -> tuple[FieldShape, bool]:
        """The shape of one response key (its first field and the selections of all), and
        whether identical fields at the same place may copy it (not ``__typename``,
        introspection or a denied field: those are built for each key)."""
        node = nodes[0]
        offset = node.start
        if node.name == "__typename":
            return FieldShape(key, response_key, SOURCE_TYPENAME, None,
                              TypeRef("String", None, True, _LOC), offset), False
        definition = self.view.field(type_name, node.name)
        assert definition is not None, f"unvalidated field {type_name}.{node.name}"
        if definition.definition is None:  # __schema / __type (answers not shared)
            self.introspects = True
            return FieldShape(key, response_key, SOURCE_INTROSPECTION, node,
                              definition.type, offset, node=node), False
        config_field = definition.definition
        if config_field.auth is not None:
            self.guards[config_field.auth] = None
            error = self.denied.get(config_field.auth) if self.denied else None
            if error is not None:
                return FieldShape(key, response_key, SOURCE_ERROR, error, definition.type,
                                  offset, node=node, owner=type_name), False
        sub_sets = [n.selections for n in nodes if n.selections]
        for age in (config_field.cache_max_age_ms,
                    self.view.blueprint.types[config_field.type.named].cache_max_age_ms
                    if config_field.type.named in self.view.blueprint.types else None):
            if age is not None and (self.cache_max_age_ms is None
                                    or age < self.cache_max_age_ms):
                self.cache_max_age_ms = age
        if config_field.resolver is not None:
            spec = StepSpec(len(self.steps), config_field.resolver, config_field, type_name,
                            node.arguments, config_field.type, node,
                            self._location(node),
                            response_decoder(config_field.type,
                                             self.view.types[config_field.type.named]
                                             .is_leaf))
            spec.parent_refs = tuple(
                ref for template in resolver_templates(config_field.resolver)
                for ref in template.refs if ref.root in ("value", "parent"))
            self.steps.append(spec)
            step = PlanStep(spec, attach.step, attach.segments)
            (attach.step.children if attach.step else self.roots).append(step)
            source, source_arg = SOURCE_STEP, spec.slot
            child = _Attach(step, ())
        elif config_field.source_path:
            source, source_arg = SOURCE_PATH, config_field.source_path
            child = attach
            for part in config_field.source_path:
                child = child.then(("index", int(part)) if part.isdigit() else ("key", part))
        else:
            source, source_arg = SOURCE_KEY, config_field.name
            child = attach.then(("key", config_field.name))
        field_shape = FieldShape(key, response_key, source, source_arg, definition.type,
                                 offset, node=node, owner=type_name)
        self._fill_type(field_shape, definition.type, sub_sets, child,
                        config_field.discriminate)
        return field_shape, True

    def _fill_type(self, field_shape: FieldShape, type_ref: TypeRef,
                   sub_sets: list[list[Selection]], attach: _Attach,
                   discriminate: str | None) -> None:
        target = self.view.types[type_ref.named]
        if target.kind == OBJECT:
            field_shape.object = self.object_shape(target.name, sub_sets, attach)
        elif target.kind in (INTERFACE, UNION):
            abstract = AbstractShape(target.name, {}, discriminate, ())
            required = []
            for name in sorted(target.possible):
                abstract.shapes[name] = self.object_shape(
                    name, sub_sets, attach.then(("is", abstract, name)))
                required.append((name, frozenset(
                    f.definition.name for f in self.view.types[name].fields.values()
                    if f.definition is not None and f.type.non_null
                    and f.definition.resolver is None and not f.definition.source_path)))
            abstract.required = tuple(required)
            field_shape.abstract = abstract
        elif target.kind == ENUM:
            aliases = tuple((alias, value.name) for value in target.enum_values.values()
                            for alias in value.aliases)
            field_shape.leaf = LeafCoercer("enum", target.name,
                                           frozenset(target.enum_values), aliases)
        else:
            kind = target.name if target.name in _SPEC_LEAVES else \
                "checked" if target.name in CHECKED_SCALARS else "custom"
            field_shape.leaf = LeafCoercer(kind, target.name)


