"""Execute the introspection meta-fields ``__schema`` and ``__type`` (spec 4.5, 6.3, 6.4).

Introspection never reaches an upstream: the answer is read off the public
:class:`~plait.planner.schema_view.SchemaView`, so it is computed here, in the planner,
and the result is plain JSON-able data. Semantics follow graphql-js 16 (and graphql-core
3.2): field collection of spec 6.3.2, ``null`` for the ``__Type`` fields a kind does not
have, deprecated elements hidden unless ``includeDeprecated: true``, and ``defaultValue``
printed from the coerced default (``valueFromAST`` then ``astFromValue``).

The walk is driven by the selection set, whose depth the operation parser bounds, so type
references (``ofType``, ``fields { type { ... } }``) can never loop. Aliases can still make
the answer grow exponentially with depth, so every resolved value counts against a
:class:`Budget` (:data:`MAX_RESULT_VALUES`; pass one budget to every root meta-field of a
request to bound the request as a whole).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from math import isfinite
from typing import Any

from .located import LValue
from .model import (ENUM, INPUT, INTERFACE, OBJECT, SCALAR, UNION, ArgDef, DirectiveUse,
                    EnumValueDef, FieldDef, TypeRef)
from .op_ast import Field, FragmentDefinition, Value
from .collect_fields import collect_fields
from .query_errors import QueryError
from .schema_view import SchemaField, SchemaType, SchemaView

#: Most values (objects, lists and leaves) one introspection answer may hold. The full
#: introspection query of a large config needs a few tens of thousands.
MAX_RESULT_VALUES = 1_000_000

#: ``__TypeKind`` of each plait type kind (spec 4.5.2).
TYPE_KINDS = {SCALAR: "SCALAR", OBJECT: "OBJECT", INTERFACE: "INTERFACE", UNION: "UNION",
              ENUM: "ENUM", INPUT: "INPUT_OBJECT"}

_DEFAULT_REASON = "No longer supported"


@dataclass(frozen=True, slots=True)
class TypeObject:
    """A ``__Type`` value: a named type (``name``) or a wrapper around ``ref``.

    ``kind`` is ``NAMED``, ``LIST`` or ``NON_NULL``; for ``NON_NULL`` the wrapped type is
    ``ref`` without its ``!`` (a :class:`TypeRef` carries non-null as a flag)."""

    kind: str
    name: str | None = None
    ref: TypeRef | None = None


@dataclass(frozen=True, slots=True)
class InputValue:
    """A ``__InputValue``: a field or directive argument, or an input-object field."""

    name: str
    type: TypeRef
    default: LValue | None
    description: str | None
    directives: tuple[DirectiveUse, ...]


def type_object(ref: TypeRef, nullable: bool = False) -> TypeObject:
    """The ``__Type`` of a type reference (spec 4.5.2.7-8); ``nullable`` drops its ``!``."""
    if ref.non_null and not nullable:
        return TypeObject("NON_NULL", ref=ref)
    if ref.of is not None:
        return TypeObject("LIST", ref=ref)
    return TypeObject("NAMED", name=ref.name)


def deprecation_reason(directives: tuple[DirectiveUse, ...] | list[DirectiveUse]) -> str | None:
    """The ``@deprecated`` reason of a schema element, ``None`` when not deprecated."""
    for use in directives:
        if use.name == "deprecated":
            reason = use.values.get("reason")
            return reason.value if reason is not None and reason.kind == "string" \
                else _DEFAULT_REASON
    return None


class Budget:
    """How many more values introspection may produce (shared across root fields)."""

    __slots__ = ("limit", "remaining")

    def __init__(self, limit: int | None = None) -> None:
        self.limit = MAX_RESULT_VALUES if limit is None else limit
        self.remaining = self.limit

    def spend(self) -> None:
        self.remaining -= 1
        if self.remaining < 0:
            raise QueryError(f"The introspection result is too large (more than "
                             f"{self.limit} values); select fewer fields.",
                             code="INTROSPECTION_TOO_LARGE")


def resolve_introspection(field: Field, view: SchemaView,
                          fragments: dict[str, FragmentDefinition],
                          variables: dict[str, object], budget: Budget | None = None,
                          ) -> object:
    """Execute one root meta-field (``__schema`` or ``__type(name: ...)``) of a validated
    operation against ``view`` (spec 4.5, 6.4.2) and return plain JSON-able data: dicts in
    selection order keyed by response key, lists, ``str``, ``bool`` and ``None``.

    The root field's own ``@skip``/``@include`` are the caller's (it collected the root
    selection set). ``variables`` are the coerced variable values (spec 6.1.2).
    Raises :class:`QueryError` (code ``INTROSPECTION_TOO_LARGE``) once ``budget`` (by
    default a fresh one of :data:`MAX_RESULT_VALUES` values) is spent."""
    return _Introspector(view, fragments, variables, budget or Budget()).root(field)


class _Introspector:
    """One execution: spec 6.3 ExecuteSelectionSet over the introspection object types."""

    def __init__(self, view: SchemaView, fragments: dict[str, FragmentDefinition],
                 variables: dict[str, object], budget: Budget) -> None:
        self.view = view
        self.fragments = fragments
        self.variables = variables
        self.budget = budget
        #: CollectSubfields results, per return type and field nodes (as graphql-js).
        self.subfields: dict[tuple[str, tuple[int, ...]], dict[str, list[Field]]] = {}
        self.printer = DefaultPrinter(view)
        self.resolvers: dict[str, dict[str, Callable[[Any, dict[str, Any]], Any]]] = {
            "__Schema": {
                "description": lambda _s, _a: None,
                "types": lambda _s, _a: [TypeObject("NAMED", name=n) for n in view.types],
                "queryType": lambda _s, _a: TypeObject("NAMED", name=view.query),
                "mutationType": lambda _s, _a: None if view.mutation is None
                else TypeObject("NAMED", name=view.mutation),
                "subscriptionType": lambda _s, _a: None,
                "directives": lambda _s, _a: list(view.directives.values()),
            },
            "__Type": {
                "kind": self._kind, "name": self._name,
                "description": lambda t, _a: self._named(t, "description"),
                "specifiedByURL": self._specified_by, "fields": self._fields,
                "interfaces": self._interfaces, "possibleTypes": self._possible_types,
                "enumValues": self._enum_values, "inputFields": self._input_fields,
                "ofType": self._of_type, "isOneOf": self._is_one_of,
            },
            "__Field": {
                "name": lambda f, _a: f.name,
                "description": lambda f, _a: f.description,
                "args": lambda f, a: _filter(self._args(f.args), a),
                "type": lambda f, _a: type_object(f.type),
                "isDeprecated": lambda f, _a: f.deprecation is not None,
                "deprecationReason": lambda f, _a: f.deprecation,
            },
            "__InputValue": {
                "name": lambda v, _a: v.name,
                "description": lambda v, _a: v.description,
                "type": lambda v, _a: type_object(v.type),
                "defaultValue": lambda v, _a: self.printer.default(v.default, v.type),
                "isDeprecated": lambda v, _a: deprecation_reason(v.directives) is not None,
                "deprecationReason": lambda v, _a: deprecation_reason(v.directives),
            },
            "__EnumValue": {
                "name": lambda e, _a: e.name,
                "description": lambda e, _a: e.description,
                "isDeprecated": lambda e, _a: deprecation_reason(e.directives) is not None,
                "deprecationReason": lambda e, _a: deprecation_reason(e.directives),
            },
            "__Directive": {
                "name": lambda d, _a: d.name,
                "description": lambda d, _a: d.description,
                "locations": lambda d, _a: list(d.locations),
                "args": lambda d, a: _filter(self._args(d.args), a),
                "isRepeatable": lambda d, _a: d.repeatable,
            },
        }

    # -- execution (spec 6.3, 6.4) -------------------------------------------------------
    def root(self, field: Field) -> object:
        args = self._arguments(self.view.query, field)
        if field.name == "__schema":
            value: object = self.view
        elif field.name == "__type":
            name = args.get("name")
            value = TypeObject("NAMED", name=name) \
                if isinstance(name, str) and name in self.view.types else None
        else:
            raise ValueError(f"{field.name} is not an introspection meta-field")
        target = self.view.field(self.view.query, field.name)
        assert target is not None
        return self._complete(value, target.type.named, [field])

    def _complete(self, value: object, type_name: str, nodes: list[Field]) -> object:
        """Spec 6.4.3 CompleteValue, for values of the (nullable) type ``type_name``."""
        self.budget.spend()
        if value is None:
            return None
        if isinstance(value, list):
            return [self._complete(item, type_name, nodes) for item in value]
        target = self.view.types[type_name]
        if target.kind != OBJECT:
            return value
        return self._execute(value, type_name, self._collect_subfields(type_name, nodes))

    def _execute(self, value: object, type_name: str,
                 fields: dict[str, list[Field]]) -> dict[str, object]:
        """Spec 6.3 ExecuteSelectionSet (the introspection objects are all ``OBJECT``s)."""
        result: dict[str, object] = {}
        resolvers = self.resolvers[type_name]
        for key, nodes in fields.items():
            node = nodes[0]
            if node.name == "__typename":
                self.budget.spend()
                result[key] = type_name
                continue
            definition = self.view.field(type_name, node.name)
            if definition is None:  # pragma: no cover - the document is validated
                raise ValueError(f"{type_name} has no field {node.name}")
            resolved = resolvers[node.name](value, self._arguments(type_name, node))
            result[key] = self._complete(resolved, definition.type.named, nodes)
        return result

    # -- field collection (spec 6.3.2) ---------------------------------------------------
    def _collect_subfields(self, type_name: str, nodes: list[Field]) -> dict[str, list[Field]]:
        """Spec 6.4.3 CollectSubfields; like graphql-js, one visited-fragment set for all
        the nodes, and memoised (every item of a list shares its field nodes)."""
        key = (type_name, tuple(map(id, nodes)))
        fields = self.subfields.get(key)
        if fields is None:
            fields = collect_fields(type_name, [n.selections for n in nodes if n.selections],
                                    self.view, self.fragments, self.variables)
            self.subfields[key] = fields
        return fields

    # -- arguments (spec 6.4.1 CoerceArgumentValues) -------------------------------------
    def _arguments(self, type_name: str, node: Field) -> dict[str, Any]:
        definition = self.view.field(type_name, node.name)
        values: dict[str, Any] = {}
        if definition is not None:
            for name, arg in definition.args.items():
                if arg.default is not None:
                    values[name] = arg.default.plain()
        for argument in node.arguments:
            value = argument.value
            if value.kind == "variable" and value.value not in self.variables:
                continue
            values[argument.name] = self._value(value)
        return values

    def _value(self, value: Value) -> Any:
        """A literal or variable as plain data (variables are already coerced)."""
        if value.kind == "variable":
            return self.variables.get(value.value)
        if value.kind == "list":
            return [self._value(item) for item in value.value]
        if value.kind == "object":
            return {entry.name: self._value(entry.value) for entry in value.value}
        return value.value

    # -- __Type (spec 4.5.2) -------------------------------------------------------------
    def _schema_type(self, value: TypeObject) -> SchemaType | None:
        return self.view.types.get(value.name) if value.kind == "NAMED" and \
            value.name is not None else None

    def _named(self, value: TypeObject, attribute: str) -> Any:
        target = self._schema_type(value)
        return getattr(target, attribute) if target is not None else None

    def _kind(self, value: TypeObject, _args: dict[str, Any]) -> str | None:
        if value.kind != "NAMED":
            return value.kind
        target = self._schema_type(value)
        return TYPE_KINDS[target.kind] if target is not None else None

    def _name(self, value: TypeObject, _args: dict[str, Any]) -> str | None:
        return value.name if value.kind == "NAMED" else None

    def _specified_by(self, value: TypeObject, _args: dict[str, Any]) -> str | None:
        target = self._schema_type(value)
        return target.specified_by if target is not None and target.kind == SCALAR else None

    def _fields(self, value: TypeObject, args: dict[str, Any]) -> list[SchemaField] | None:
        target = self._schema_type(value)
        if target is None or target.kind not in (OBJECT, INTERFACE):
            return None
        return [f for f in target.fields.values()
                if args.get("includeDeprecated") or f.deprecation is None]

    def _interfaces(self, value: TypeObject, _args: dict[str, Any]) -> list[TypeObject] | None:
        target = self._schema_type(value)
        if target is None or target.kind not in (OBJECT, INTERFACE):
            return None
        return [TypeObject("NAMED", name=name) for name in target.interfaces
                if name in self.view.types]

    def _possible_types(self, value: TypeObject,
                        _args: dict[str, Any]) -> list[TypeObject] | None:
        """Union members as declared; an interface's implementations in type order."""
        target = self._schema_type(value)
        if target is None or target.kind not in (UNION, INTERFACE):
            return None
        if target.kind == UNION:
            typedef = self.view.blueprint.types.get(target.name)
            names = [name for name, _ in typedef.members] if typedef is not None \
                else sorted(target.possible)
        else:
            names = [name for name, t in self.view.types.items()
                     if t.kind == OBJECT and name in target.possible]
        return [TypeObject("NAMED", name=name) for name in names
                if name in self.view.types and name in target.possible]

    def _enum_values(self, value: TypeObject,
                     args: dict[str, Any]) -> list[EnumValueDef] | None:
        target = self._schema_type(value)
        if target is None or target.kind != ENUM:
            return None
        return [v for v in target.enum_values.values()
                if args.get("includeDeprecated") or deprecation_reason(v.directives) is None]

    def _input_fields(self, value: TypeObject,
                      args: dict[str, Any]) -> list[InputValue] | None:
        target = self._schema_type(value)
        if target is None or target.kind != INPUT:
            return None
        values = [InputValue(name, f.type, f.default, f.description, tuple(f.directives))
                  for name, f in target.input_fields.items()]
        return _filter(values, args)

    def _of_type(self, value: TypeObject, _args: dict[str, Any]) -> TypeObject | None:
        if value.ref is None:
            return None
        if value.kind == "NON_NULL":
            return type_object(value.ref, nullable=True)
        assert value.ref.of is not None
        return type_object(value.ref.of)

    def _is_one_of(self, value: TypeObject, _args: dict[str, Any]) -> bool | None:
        """graphql-js 16.9+: ``false`` for input objects (plait has no ``@oneOf``)."""
        target = self._schema_type(value)
        return False if target is not None and target.kind == INPUT else None

    @staticmethod
    def _args(args: dict[str, ArgDef]) -> list[InputValue]:
        return [InputValue(a.name, a.type, a.default, a.description, tuple(a.directives))
                for a in args.values()]


def _filter(values: list[InputValue], args: dict[str, Any]) -> list[InputValue]:
    """``includeDeprecated`` on ``args`` and ``inputFields`` (spec 4.5.3, 4.5.4)."""
    if args.get("includeDeprecated"):
        return values
    return [v for v in values if deprecation_reason(v.directives) is None]


# -- defaultValue (graphql-js 16: print(astFromValue(valueFromAST(default, type)))) -------
_INVALID = object()
#: Spec scalars whose literal coercion is known; other (custom) scalars take any literal.
_SPEC_LEAVES = ("Int", "Float", "String", "Boolean", "ID")


class DefaultPrinter:
    """Prints default values as graphql-js 16 does for ``__InputValue.defaultValue``.

    The literal is coerced to its type (input-object fields missing from it take their own
    defaults, fields follow the type's order, a single value given for a list becomes a
    one-item list, Int literals for Float print as Int) and printed compactly
    (``{a: 1}``, ``[1, 2]``). Input-object fields print under their public names; hidden
    (``@omit``) ones are left out. A literal that does not coerce (config checks reject
    those) prints as written."""

    def __init__(self, view: SchemaView) -> None:
        self.view = view
        self._field_defaults: dict[tuple[str, str], object] = {}
        self._in_progress: set[tuple[str, str]] = set()

    def default(self, value: LValue | None, ref: TypeRef) -> str | None:
        if value is None:
            return None
        try:
            printed = self._coerce(value, ref)
            if printed is _INVALID:
                return print_literal(value)
            return printed if isinstance(printed, str) else None
        except RecursionError:  # pragma: no cover - SDL nesting is bounded by the parser
            return None

    def _coerce(self, value: LValue, ref: TypeRef) -> object:
        """The printed coerced value; ``None`` when astFromValue gives no node (a
        non-finite float), :data:`_INVALID` when the literal does not coerce."""
        if value.kind == "null":
            return _INVALID if ref.non_null else "null"
        if value.kind == "variable":
            return _INVALID
        if ref.of is not None:
            items = value.value if value.kind == "list" else [value]
            printed = [self._coerce(item, ref.of) for item in items]
            if any(p is _INVALID for p in printed):
                return _INVALID
            return "[" + ", ".join(p for p in printed if isinstance(p, str)) + "]"
        assert ref.name is not None
        target = self.view.types.get(ref.name)
        if target is None:
            return _INVALID
        if target.kind == INPUT:
            return self._input_object(value, ref.name)
        if target.kind == ENUM:
            if value.kind == "enum" and value.value in target.enum_values:
                return value.value
            return _INVALID
        return _scalar(value, ref.name)

    def _input_object(self, value: LValue, type_name: str) -> object:
        if value.kind != "object":
            return _INVALID
        typedef = self.view.blueprint.types.get(type_name)
        if typedef is None:
            return _INVALID
        parts: list[str] = []
        for name, field_def in typedef.fields.items():
            item = value.value.get(name)
            if item is None:
                printed = self._field_default(type_name, field_def)
                if printed is _INVALID:
                    if field_def.type.non_null:
                        return _INVALID
                    continue
            else:
                printed = self._coerce(item, field_def.type)
                if printed is _INVALID:
                    return _INVALID
            if field_def.public_name is not None and isinstance(printed, str):
                parts.append(f"{field_def.public_name}: {printed}")
        return "{" + ", ".join(parts) + "}"

    def _field_default(self, type_name: str, field_def: FieldDef) -> object:
        """The printed coerced default of an input field (:data:`_INVALID` when it has
        none, or while it is being computed: a default that needs itself)."""
        key = (type_name, field_def.name)
        if key in self._field_defaults:
            return self._field_defaults[key]
        if field_def.default is None or key in self._in_progress:
            return _INVALID
        self._in_progress.add(key)
        try:
            printed = self._coerce(field_def.default, field_def.type)
        finally:
            self._in_progress.discard(key)
        self._field_defaults[key] = printed
        return printed


def _scalar(value: LValue, name: str) -> object:
    """graphql-js ``astFromValue`` of a scalar's coerced literal."""
    kind, raw = value.kind, value.value
    if name == "Int":
        return str(raw) if kind == "int" else _INVALID
    if name == "Float":
        return js_number(float(raw)) if kind in ("int", "float") else _INVALID
    if name == "String":
        return print_string(raw) if kind == "string" else _INVALID
    if name == "Boolean":
        return ("true" if raw else "false") if kind == "boolean" else _INVALID
    if name == "ID":
        if kind == "int":
            return str(raw)
        if kind == "string":
            return raw if _is_integer_string(raw) else print_string(raw)
        return _INVALID
    # Custom scalars: parseLiteral is valueFromASTUntyped, serialize is the identity.
    if kind == "boolean":
        return "true" if raw else "false"
    if kind in ("int", "float"):
        return js_number(float(raw)) if kind == "float" else str(raw)
    if kind in ("string", "enum"):
        return print_string(str(raw))
    return print_literal(value)  # graphql-js cannot print objects/lists here; show them


def _is_integer_string(text: str) -> bool:
    digits = text.removeprefix("-")
    return digits.isascii() and digits.isdigit() and (digits == "0" or digits[0] != "0")


def print_literal(value: LValue) -> str:
    """A literal as written, in graphql-js 16's compact form."""
    kind = value.kind
    if kind == "string":
        return print_string(value.value)
    if kind == "int":
        return str(value.value)
    if kind == "float":
        return js_number(value.value) or "null"
    if kind == "boolean":
        return "true" if value.value else "false"
    if kind == "null":
        return "null"
    if kind == "variable":
        return "$" + value.value
    if kind == "list":
        return "[" + ", ".join(print_literal(item) for item in value.value) + "]"
    if kind == "object":
        return "{" + ", ".join(f"{key}: {print_literal(item)}"
                               for key, item in value.value.items()) + "}"
    return str(value.value)  # enum


_ESCAPES = {0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r", 0x22: '\\"',
            0x5C: "\\\\"}


def print_string(text: str) -> str:
    """graphql-js ``printString``: a double-quoted string, control characters escaped."""
    out = ['"']
    for char in text:
        code = ord(char)
        if code in _ESCAPES:
            out.append(_ESCAPES[code])
        elif code < 0x20 or 0x7F <= code <= 0x9F:
            out.append(f"\\u{code:04X}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def js_number(number: float) -> str | None:
    """JavaScript's ``String(number)`` (ECMA-262 Number::toString), ``None`` if not finite.

    Integral values print without a fraction, as graphql-js then makes them Int nodes."""
    if not isfinite(number):
        return None
    if number == int(number) and abs(number) < 1e21:
        return str(int(number))
    sign = "-" if number < 0 else ""
    _, digit_tuple, exponent = Decimal(repr(abs(number))).normalize().as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple))
    k, n = len(digits), len(digits) + exponent
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * -n + digits
    else:
        e = n - 1
        mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
        body = f"{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"
    return sign + body
