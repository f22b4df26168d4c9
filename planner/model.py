"""The Blueprint: a validated config, ready for planning (see DESIGN.md, "The pipeline").

Types and fields keep their source positions so later stages (query validation, the
planner, ``plait explain``) can point back at the config.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .diagnostics import Loc
from .located import LValue
from .templates import JsonTemplate, Template

#: GraphQL's built-in scalars (spec 3.5).
SPEC_SCALARS = ("String", "Int", "Float", "Boolean", "ID")
#: Tailcall's custom scalars, usable without a ``scalar`` declaration.
TAILCALL_SCALARS = ("JSON", "Date", "DateTime", "Email", "PhoneNumber", "Url", "Empty",
                    "Bytes", "Int8", "Int16", "Int32", "Int64", "Int128", "UInt8",
                    "UInt16", "UInt32", "UInt64", "UInt128")

OBJECT, INTERFACE, UNION, ENUM, INPUT, SCALAR = (
    "object", "interface", "union", "enum", "input", "scalar")
OUTPUT_KINDS = frozenset({OBJECT, INTERFACE, UNION, ENUM, SCALAR})
INPUT_KINDS = frozenset({ENUM, INPUT, SCALAR})


@dataclass(slots=True)
class DirectiveUse:
    """One ``@name(...)`` as written; ``args`` holds checked plain values."""

    name: str
    loc: Loc
    values: dict[str, LValue]
    args: dict[str, Any] = field(default_factory=dict)
    valid: bool = True
    #: Where each argument's name is written.
    arg_locs: dict[str, Loc] = field(default_factory=dict)


@dataclass(slots=True)
class TypeRef:
    """A (possibly wrapped) type reference: ``name`` for named types, ``of`` for lists."""

    name: str | None
    of: "TypeRef | None"
    non_null: bool
    loc: Loc

    @property
    def named(self) -> str:
        ref: TypeRef = self
        while ref.of is not None:
            ref = ref.of
        assert ref.name is not None
        return ref.name

    @property
    def is_list(self) -> bool:
        return self.of is not None

    def list_depth(self) -> int:
        depth, ref = 0, self
        while ref.of is not None:
            depth, ref = depth + 1, ref.of
        return depth

    def __str__(self) -> str:
        inner = f"[{self.of}]" if self.of is not None else str(self.name)
        return inner + ("!" if self.non_null else "")


@dataclass(slots=True)
class ArgDef:
    name: str
    type: TypeRef
    loc: Loc
    default: LValue | None = None
    directives: list[DirectiveUse] = field(default_factory=list)
    description: str | None = None


@dataclass(slots=True)
class HttpQueryParam:
    key: str
    value: Template
    skip_empty: bool = False


@dataclass(slots=True)
class HttpResolver:
    """``@http``: one REST call per parent value (or one per batch with ``batch_key``)."""

    loc: Loc
    url: Template
    method: str = "GET"
    query: list[HttpQueryParam] = field(default_factory=list)
    headers: list[tuple[str, Template]] = field(default_factory=list)
    body: JsonTemplate | None = None
    batch_key: tuple[str, ...] = ()
    dedupe: bool = False
    encoding: str = "ApplicationJson"
    select: JsonTemplate | None = None

    @property
    def batched(self) -> bool:
        return bool(self.batch_key)


@dataclass(slots=True)
class GrpcResolver:
    """``@grpc``: a unary gRPC call, ``method`` as ``package.Service.Method``."""

    loc: Loc
    url: Template
    method: str
    body: JsonTemplate | None = None
    headers: list[tuple[str, Template]] = field(default_factory=list)
    batch_key: tuple[str, ...] = ()
    dedupe: bool = False
    select: JsonTemplate | None = None

    @property
    def batched(self) -> bool:
        return bool(self.batch_key)


@dataclass(slots=True)
class GraphQLResolver:
    """``@graphQL``: a field of an upstream GraphQL server."""

    loc: Loc
    url: Template
    name: str
    args: list[tuple[str, Template]] = field(default_factory=list)
    headers: list[tuple[str, Template]] = field(default_factory=list)
    batch: bool = False
    dedupe: bool = False

    @property
    def batched(self) -> bool:
        return self.batch


@dataclass(slots=True)
class CallStep:
    kind: str  # "query" or "mutation"
    field: str
    args: JsonTemplate
    loc: Loc


@dataclass(slots=True)
class CallResolver:
    """``@call``: resolve through other root fields, each step's output feeding the next."""

    loc: Loc
    steps: list[CallStep]
    dedupe: bool = False
    batched = False


@dataclass(slots=True)
class ExprResolver:
    """``@expr``: a constant or templated JSON value, no upstream."""

    loc: Loc
    body: JsonTemplate
    batched = False


@dataclass(slots=True)
class JsResolver:
    """``@js``: a named script function (parsed; plait does not run scripts)."""

    loc: Loc
    name: str
    batched = False


Resolver = HttpResolver | GrpcResolver | GraphQLResolver | CallResolver | ExprResolver | \
    JsResolver
#: Resolvers that call an upstream (each call counts for N+1 analysis).
UPSTREAM_RESOLVERS = (HttpResolver, GrpcResolver, GraphQLResolver)


@dataclass(slots=True)
class FieldDef:
    """A field of an object, interface or input type."""

    name: str
    type: TypeRef
    owner: str
    loc: Loc
    args: dict[str, ArgDef] = field(default_factory=dict)
    directives: list[DirectiveUse] = field(default_factory=list)
    default: LValue | None = None
    resolver: Resolver | None = None
    #: The name clients see (``@modify(name:)``); ``None`` when hidden (``@omit``).
    public_name: str | None = None
    cache_max_age_ms: int | None = None
    protected: bool = False
    #: What the field requires when protected (``planner.auth.Requirement``), else None.
    auth: Any = None
    discriminate: str | None = None
    #: For ``@addField``: the path inside the parent value this field reads.
    source_path: tuple[str, ...] = ()
    description: str | None = None

    def __post_init__(self) -> None:
        if self.public_name is None:
            self.public_name = self.name

    @property
    def omitted(self) -> bool:
        return self.public_name is None


@dataclass(slots=True)
class EnumValueDef:
    name: str
    loc: Loc
    directives: list[DirectiveUse] = field(default_factory=list)
    aliases: tuple[str, ...] = ()
    description: str | None = None


@dataclass(slots=True)
class TypeDef:
    """A named type of the config (or a built-in scalar, with ``builtin=True``)."""

    name: str
    kind: str
    loc: Loc
    fields: dict[str, FieldDef] = field(default_factory=dict)
    interfaces: list[tuple[str, Loc]] = field(default_factory=list)
    members: list[tuple[str, Loc]] = field(default_factory=list)
    values: dict[str, EnumValueDef] = field(default_factory=dict)
    directives: list[DirectiveUse] = field(default_factory=list)
    description: str | None = None
    builtin: bool = False
    #: A type-level resolver (``@http`` etc. on an object type), used for entities.
    resolver: Resolver | None = None
    cache_max_age_ms: int | None = None
    protected: bool = False


@dataclass(slots=True)
class Blueprint:
    """Everything the planner needs, validated. Immutable by convention once built."""

    types: dict[str, TypeDef]
    query: str
    mutation: str | None
    server: Any
    upstream: Any
    links: list[Any]
    telemetry: Any
    files: list[str]
    #: The auth providers of ``Htpasswd``/``Jwks`` links (``planner.auth.AuthProvider``).
    auth_providers: list[Any] = field(default_factory=list)

    def type(self, name: str) -> TypeDef:
        return self.types[name]

    def field(self, type_name: str, field_name: str) -> FieldDef:
        return self.types[type_name].fields[field_name]

    def user_types(self) -> list[TypeDef]:
        return [t for t in self.types.values() if not t.builtin]
