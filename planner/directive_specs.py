"""The directives a plait config may use, with their arguments (Tailcall 1.6 dialect).

One table, read by every pass that checks directives. Argument types are GraphQL type
strings over :data:`REGISTRY`. See ``docs/config.md`` and ``TAILCALL.md`` for meanings.
"""
from __future__ import annotations

from dataclasses import dataclass

from .arg_types import EnumType, InputType, TypeRegistry

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "CONNECT", "TRACE")

REGISTRY = TypeRegistry(
    EnumType("Method", METHODS),
    EnumType("Encoding", ("ApplicationJson", "ApplicationXWwwFormUrlencoded")),
    EnumType("LinkType", ("Config", "Protobuf", "Script", "Cert", "Key", "Operation",
                          "Htpasswd", "Jwks", "Grpc")),
    EnumType("HttpVersion", ("HTTP1", "HTTP2")),
    EnumType("PrometheusFormat", ("text", "protobuf")),
    InputType("KeyValue", {"key": "String!", "value": "String!"}),
    InputType("URLQuery", {"key": "String!", "value": "String!", "skipEmpty": "Boolean"}),
    InputType("Step", {"query": "String", "mutation": "String", "args": "JSON"}),
    InputType("Batch", {"delay": "Int", "maxSize": "Int", "headers": "[String!]"}),
    InputType("Proxy", {"url": "String!"}),
    InputType("Routes", {"graphQL": "String", "status": "String"}),
    InputType("ScriptOptions", {"timeout": "Int"}),
    InputType("Cors", {
        "allowCredentials": "Boolean", "allowHeaders": "[String!]",
        "allowMethods": "[Method!]", "allowOrigins": "[String!]",
        "allowPrivateNetwork": "Boolean", "exposeHeaders": "[String!]", "maxAge": "Int",
        "vary": "[String!]",
    }),
    InputType("Headers", {
        "cacheControl": "Boolean", "cors": "Cors", "custom": "[KeyValue!]",
        "experimental": "[String!]", "setCookies": "Boolean",
    }),
    InputType("StdoutExporter", {"pretty": "Boolean"}),
    InputType("OtlpExporter", {"url": "String!", "headers": "[KeyValue!]"}),
    InputType("PrometheusExporter", {"path": "String", "format": "PrometheusFormat"}),
    InputType("ApolloExporter", {"apiKey": "String!", "graphRef": "String!",
                                 "platform": "String", "userVersion": "String",
                                 "version": "String"}),
    InputType("TelemetryExporter", {"stdout": "StdoutExporter", "otlp": "OtlpExporter",
                                    "prometheus": "PrometheusExporter",
                                    "apollo": "ApolloExporter"}),
)

SERVER_ARGS = {
    "port": "Int", "hostname": "String", "workers": "Int", "version": "HttpVersion",
    "pipelineFlush": "Boolean", "queryValidation": "Boolean",
    "responseValidation": "Boolean", "introspection": "Boolean",
    "globalResponseTimeout": "Int", "batchRequests": "Boolean", "apolloTracing": "Boolean",
    "enableFederation": "Boolean", "enableJIT": "Boolean", "showcase": "Boolean",
    "dedupe": "Boolean", "headers": "Headers", "routes": "Routes",
    "script": "ScriptOptions", "vars": "[KeyValue!]", "responseHeaders": "[KeyValue!]",
}
UPSTREAM_ARGS = {
    "allowedHeaders": "[String!]", "batch": "Batch", "httpCache": "Int", "timeout": "Int",
    "connectTimeout": "Int", "http2Only": "Boolean", "keepAliveInterval": "Int",
    "keepAliveTimeout": "Int", "keepAliveWhileIdle": "Boolean", "tcpKeepAlive": "Int",
    "poolIdleTimeout": "Int", "poolMaxIdlePerHost": "Int", "proxy": "Proxy",
    "userAgent": "String", "verifySSL": "Boolean", "onRequest": "String",
    "baseURL": "String",
}
LINK_ARGS = {"id": "String", "src": "String!", "type": "LinkType",
             "headers": "[KeyValue!]", "meta": "JSON", "proto_paths": "[String!]"}
TELEMETRY_ARGS = {"export": "TelemetryExporter", "requestHeaders": "[String!]"}

RESOLVER_PLACES = frozenset({"FIELD_DEFINITION", "OBJECT"})


@dataclass(frozen=True, slots=True)
class DirectiveSpec:
    """Where a directive may appear and what arguments it takes."""

    name: str
    places: frozenset[str]
    args: dict[str, str]
    repeatable: bool = False
    #: True for the directives that say how a field gets its value.
    resolver: bool = False
    #: Arguments still read but deprecated: argument -> what to use instead.
    deprecated: dict[str, str] | None = None


def _spec(name: str, places: set[str] | frozenset[str], args: dict[str, str],
          **kwargs: object) -> DirectiveSpec:
    return DirectiveSpec(name, frozenset(places), args, **kwargs)  # type: ignore[arg-type]


DIRECTIVES: dict[str, DirectiveSpec] = {spec.name: spec for spec in (
    _spec("server", {"SCHEMA"}, SERVER_ARGS,
          deprecated={"responseHeaders": "headers: {custom: [...]}"}),
    _spec("upstream", {"SCHEMA"}, UPSTREAM_ARGS,
          deprecated={"baseURL": "full URLs in @http(url: ...)"}),
    _spec("link", {"SCHEMA"}, LINK_ARGS, repeatable=True),
    _spec("telemetry", {"SCHEMA"}, TELEMETRY_ARGS),
    _spec("http", RESOLVER_PLACES, {
        "url": "String", "method": "Method", "query": "[URLQuery!]", "body": "JSON",
        "headers": "[KeyValue!]", "batchKey": "[String!]", "dedupe": "Boolean",
        "encoding": "Encoding", "input": "JSON", "output": "JSON", "onRequest": "String",
        "onResponseBody": "String", "select": "JSON", "path": "String", "baseURL": "String",
    }, repeatable=True, resolver=True,
        deprecated={"path": "url", "baseURL": "url"}),
    _spec("grpc", RESOLVER_PLACES, {
        "url": "String!", "method": "String!", "body": "JSON", "headers": "[KeyValue!]",
        "batchKey": "[String!]", "dedupe": "Boolean", "onResponseBody": "String",
        "select": "JSON",
    }, repeatable=True, resolver=True),
    _spec("graphQL", RESOLVER_PLACES, {
        "url": "String!", "name": "String!", "args": "[KeyValue!]",
        "headers": "[KeyValue!]", "batch": "Boolean", "dedupe": "Boolean",
    }, repeatable=True, resolver=True),
    _spec("call", RESOLVER_PLACES, {"steps": "[Step!]!", "dedupe": "Boolean"},
          repeatable=True, resolver=True),
    _spec("expr", RESOLVER_PLACES, {"body": "JSON"}, repeatable=True, resolver=True),
    _spec("js", RESOLVER_PLACES, {"name": "String!"}, resolver=True),
    _spec("cache", {"FIELD_DEFINITION", "OBJECT"}, {"maxAge": "Int!"}),
    _spec("addField", {"OBJECT", "INTERFACE"}, {"name": "String!", "path": "[String!]!"},
          repeatable=True),
    _spec("modify", {"FIELD_DEFINITION", "INPUT_FIELD_DEFINITION"},
          {"name": "String", "omit": "Boolean"}),
    _spec("omit", {"FIELD_DEFINITION", "INPUT_FIELD_DEFINITION"}, {}),
    _spec("protected", {"OBJECT", "FIELD_DEFINITION"}, {"id": "[String!]"}),
    _spec("discriminate", {"FIELD_DEFINITION"}, {"field": "String"}),
    _spec("alias", {"ENUM_VALUE"}, {"options": "[String!]!"}),
    _spec("deprecated", {"FIELD_DEFINITION", "ENUM_VALUE", "ARGUMENT_DEFINITION",
                         "INPUT_FIELD_DEFINITION"}, {"reason": "String"}),
    _spec("specifiedBy", {"SCALAR"}, {"url": "String!"}),
)}

PLACE_NAMES = {
    "SCHEMA": "the schema definition", "OBJECT": "object types",
    "FIELD_DEFINITION": "fields", "INTERFACE": "interfaces", "UNION": "unions",
    "ENUM": "enums", "ENUM_VALUE": "enum values", "INPUT_OBJECT": "input types",
    "INPUT_FIELD_DEFINITION": "input fields", "ARGUMENT_DEFINITION": "arguments",
    "SCALAR": "scalars",
}
