"""Pass 3: runtime settings (``@server``, ``@upstream``, ``@link``, ``@telemetry``).

Settings come from directives on ``schema`` and from settings files; later sources
override earlier ones entry by entry. Units are normalised here (Tailcall's traps):
``timeout``/``connectTimeout``/keep-alive/pool times are **seconds**, ``batch.delay``,
``globalResponseTimeout`` and ``@cache(maxAge)`` are **milliseconds**.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .diagnostics import Diagnostics, Loc
from .located import LValue
from .model import DirectiveUse


@dataclass(frozen=True, slots=True)
class BatchSettings:
    delay_ms: int = 0
    max_size: int = 100
    headers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ServerSettings:
    port: int = 8000
    hostname: str = "0.0.0.0"
    #: ``None``: one worker per CPU.
    workers: int | None = None
    version: str = "HTTP1"
    introspection: bool = True
    global_response_timeout_ms: int | None = None
    batch_requests: bool = False
    response_validation: bool = False
    dedupe: bool = False
    graphql_path: str = "/graphql"
    status_path: str = "/status"
    vars: dict[str, str] = field(default_factory=dict)
    response_headers: tuple[tuple[str, str], ...] = ()
    cache_control: bool = False
    cors: dict[str, Any] | None = None
    #: ``headers: {setCookies: true}``: upstream ``Set-Cookie`` headers reach the client.
    set_cookies: bool = False
    #: ``headers: {experimental: [...]}``: upstream response headers copied to the client.
    experimental_headers: tuple[str, ...] = ()
    #: Every entry as given, for settings plait reads but does not act on yet.
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UpstreamSettings:
    allowed_headers: frozenset[str] = frozenset()
    batch: BatchSettings | None = None
    timeout_s: float = 60.0
    connect_timeout_s: float = 60.0
    pool_max_idle_per_host: int = 60
    pool_idle_timeout_s: float = 60.0
    keep_alive_timeout_s: float = 60.0
    tcp_keep_alive_s: float = 5.0
    user_agent: str = "plait/0.1"
    http_cache_size: int = 0
    verify_ssl: bool = True
    proxy_url: str | None = None
    base_url: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LinkSettings:
    src: str
    type: str
    loc: Loc
    id: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    meta: Any = None
    proto_paths: tuple[str, ...] = ()
    #: The file that declared the link (``src`` is relative to its directory).
    declared_in: str = ""


@dataclass(frozen=True, slots=True)
class TelemetrySettings:
    export: dict[str, Any] | None = None
    request_headers: tuple[str, ...] = ()


@dataclass(slots=True)
class SettingsSource:
    """One ``@server``/``@upstream``/... use or one settings-file section."""

    directive: str
    loc: Loc
    args: dict[str, Any]
    values: dict[str, LValue]
    file: str = ""
    #: True for a settings-file section (messages then say ``upstream.batch``).
    from_file: bool = False

    def name_of(self, entry: str) -> str:
        """How messages name an entry: ``@upstream batch.delay`` or ``upstream.batch.delay``."""
        return f"{self.directive}.{entry}" if self.from_file else f"@{self.directive} {entry}"


def sources_from_directives(uses: list[DirectiveUse], file: str) -> list[SettingsSource]:
    # Arguments that passed their checks count even when a sibling failed (its error is
    # reported already), so one typo does not cause false follow-on errors.
    return [SettingsSource(use.name, use.loc, use.args, use.values, file)
            for use in uses if use.name in ("server", "upstream", "telemetry")
            or (use.name == "link" and use.valid)]


# name -> (minimum, maximum) for integer settings; positions come from the LValues.
_RANGES = {
    "server": {"port": (0, 65535), "workers": (1, 1024), "globalResponseTimeout": (1, None)},
    "upstream": {"timeout": (1, None), "connectTimeout": (1, None), "httpCache": (0, None),
                 "poolMaxIdlePerHost": (1, None), "poolIdleTimeout": (1, None),
                 "keepAliveTimeout": (1, None), "keepAliveInterval": (1, None),
                 "tcpKeepAlive": (0, None)},
}
_BATCH_RANGES = {"delay": (0, 60_000), "maxSize": (1, 100_000)}


def _check_range(what: str, value: Any, lvalue: LValue, bounds: tuple[int, int | None],
                 diags: Diagnostics) -> bool:
    low, high = bounds
    if isinstance(value, int) and (value < low or (high is not None and value > high)):
        span = f">= {low}" if high is None else f"between {low} and {high}"
        diags.error(lvalue.loc, f"{what} must be {span}, found {value}")
        return False
    return True


def build_settings(sources: list[SettingsSource], diags: Diagnostics
                   ) -> tuple[ServerSettings, UpstreamSettings, list[LinkSettings],
                              TelemetrySettings]:
    """Merge settings sources in order (later wins) and normalise units."""
    merged: dict[str, dict[str, tuple[Any, LValue]]] = {"server": {}, "upstream": {},
                                                        "telemetry": {}}
    links: list[LinkSettings] = []
    origin: dict[tuple[str, str], SettingsSource] = {}
    for source in sources:
        if source.directive == "link":
            links.append(_link(source))
            continue
        for name, value in source.args.items():
            if value is None:  # an explicit null means "use the default"
                continue
            lvalue = source.values[name]
            bounds = _RANGES.get(source.directive, {}).get(name)
            if bounds and not _check_range(source.name_of(name), value, lvalue, bounds, diags):
                continue
            if name == "batch" and value:
                ok = all([_check_range(source.name_of(f"batch.{key}"), value[key],
                                       lvalue.value[key], _BATCH_RANGES[key], diags)
                          for key in _BATCH_RANGES if value.get(key) is not None])
                if not ok:
                    continue
            merged[source.directive][name] = (value, lvalue)
            origin[(source.directive, name)] = source
    _warn_unused(merged, origin, links, diags)
    server = {name: value for name, (value, _) in merged["server"].items()}
    upstream = {name: value for name, (value, _) in merged["upstream"].items()}
    telemetry = {name: value for name, (value, _) in merged["telemetry"].items()}
    return (_server(server), _upstream(upstream), links,
            TelemetrySettings(telemetry.get("export"),
                              tuple(telemetry.get("requestHeaders") or ())))


_JS = "plait does not run JavaScript"
#: Settings plait reads but does not act on: (section, entry) -> (does the value ask for
#: something plait does not do?, why it has no effect). Each one set that way is a
#: warning at its position, so nothing in a config is silently ignored.
_UNUSED: dict[tuple[str, str], tuple[Any, str]] = {
    ("server", "version"): (lambda v: v == "HTTP2", "plait serves HTTP/1.1 only, not HTTP2"),
    ("server", "pipelineFlush"): (lambda v: True, "plait writes each response whole"),
    ("server", "queryValidation"): (
        lambda v: v is False, "plait always validates queries (GraphQL spec section 5)"),
    ("server", "responseValidation"): (
        lambda v: v is False, "plait always checks upstream values against the schema "
        "(result coercion, GraphQL spec section 3.5)"),
    ("server", "batchRequests"): (
        lambda v: v is False, "plait always accepts batched requests (a JSON array body)"),
    ("server", "apolloTracing"): (lambda v: v is True, "Apollo tracing is not supported"),
    ("server", "enableFederation"): (lambda v: v is True,
                                     "Apollo federation is not supported"),
    ("server", "enableJIT"): (lambda v: v is True, "plait always compiles operations"),
    ("server", "showcase"): (lambda v: v is True, "the showcase endpoint is not supported"),
    ("server", "script"): (lambda v: True, _JS),
    ("upstream", "http2Only"): (lambda v: v is True, "plait talks HTTP/1.1 to upstreams"),
    ("upstream", "keepAliveInterval"): (
        lambda v: True, "HTTP/2 keep-alive pings; plait's upstream connections are HTTP/1.1 "
        "(idle ones close after poolIdleTimeout)"),
    ("upstream", "keepAliveTimeout"): (
        lambda v: True, "HTTP/2 keep-alive pings; plait's upstream connections are HTTP/1.1 "
        "(idle ones close after poolIdleTimeout)"),
    ("upstream", "keepAliveWhileIdle"): (
        lambda v: True, "HTTP/2 keep-alive pings; plait's upstream connections are HTTP/1.1 "
        "(idle ones close after poolIdleTimeout)"),
    ("upstream", "proxy"): (lambda v: True, "plait connects to upstreams directly"),
    ("telemetry", "export"): (lambda v: True, "plait does not export telemetry yet"),
    ("telemetry", "requestHeaders"): (lambda v: True, "plait does not export telemetry yet"),
}
#: Link types plait accepts (the file must exist) but does not use.
_UNUSED_LINKS = {
    "Script": _JS,
    "Cert": "plait serves plain HTTP/1.1 (terminate TLS in front of it)",
    "Key": "plait serves plain HTTP/1.1 (terminate TLS in front of it)",
    "Operation": "persisted operations and @rest are not supported",
}


def _warn_unused(merged: dict[str, dict[str, tuple[Any, LValue]]],
                 origin: dict[tuple[str, str], SettingsSource], links: list[LinkSettings],
                 diags: Diagnostics) -> None:
    """Warn about each setting plait reads but does not act on (see ``_UNUSED``)."""
    for section, entries in merged.items():
        for name, (value, lvalue) in entries.items():
            rule = _UNUSED.get((section, name))
            if rule is not None and rule[0](value):
                diags.warning(lvalue.loc, f"{origin[(section, name)].name_of(name)} has no "
                              f"effect: {rule[1]}")
    hook = merged["upstream"].get("onRequest")
    if hook is not None and hook[0]:
        diags.error(hook[1].loc, f"{origin[('upstream', 'onRequest')].name_of('onRequest')}: "
                    "onRequest hooks are not supported",
                    "plait does not run JavaScript; express the logic with @expr, @call or "
                    "select")
    batch = merged["upstream"].get("batch")
    if batch is not None and batch[0] and batch[0].get("headers"):
        diags.warning(batch[1].value["headers"].loc,
                      f"{origin[('upstream', 'batch')].name_of('batch.headers')} has no "
                      "effect: plait batches calls apart whenever any header sent upstream "
                      "differs")
    for link in links:
        why = _UNUSED_LINKS.get(link.type)
        if why is not None:
            diags.warning(link.loc, f"@link(type: {link.type}) has no effect: {why}")


def _server(args: dict[str, Any]) -> ServerSettings:
    headers = args.get("headers") or {}
    routes = args.get("routes") or {}
    return ServerSettings(
        port=args.get("port", 8000),
        hostname=args.get("hostname", "0.0.0.0"),
        workers=args.get("workers"),
        version=args.get("version", "HTTP1"),
        introspection=args.get("introspection", True) is not False,
        global_response_timeout_ms=args.get("globalResponseTimeout"),
        batch_requests=bool(args.get("batchRequests", False)),
        response_validation=bool(args.get("responseValidation", False)),
        dedupe=bool(args.get("dedupe", False)),
        graphql_path=routes.get("graphQL") or "/graphql",
        status_path=routes.get("status") or "/status",
        vars={kv["key"]: kv["value"] for kv in args.get("vars") or ()},
        response_headers=tuple((kv["key"], kv["value"]) for kv in
                               [*(args.get("responseHeaders") or ()),
                                *(headers.get("custom") or ())]),
        cache_control=bool(headers.get("cacheControl", False)),
        cors=headers.get("cors"),
        set_cookies=bool(headers.get("setCookies", False)),
        experimental_headers=tuple(headers.get("experimental") or ()),
        raw=dict(args),
    )


def _upstream(args: dict[str, Any]) -> UpstreamSettings:
    batch = args.get("batch")
    return UpstreamSettings(
        allowed_headers=frozenset(h.lower() for h in args.get("allowedHeaders") or ()),
        batch=BatchSettings(batch.get("delay") or 0, batch.get("maxSize") or 100,
                            tuple(batch.get("headers") or ())) if batch is not None else None,
        timeout_s=float(args.get("timeout", 60)),
        connect_timeout_s=float(args.get("connectTimeout", 60)),
        pool_max_idle_per_host=args.get("poolMaxIdlePerHost", 60),
        pool_idle_timeout_s=float(args.get("poolIdleTimeout", 60)),
        keep_alive_timeout_s=float(args.get("keepAliveTimeout", 60)),
        tcp_keep_alive_s=float(args.get("tcpKeepAlive", 5)),
        user_agent=args.get("userAgent") or "plait/0.1",
        http_cache_size=args.get("httpCache", 0) or 0,
        verify_ssl=args.get("verifySSL", True) is not False,
        proxy_url=(args.get("proxy") or {}).get("url"),
        base_url=args.get("baseURL"),
        raw=dict(args),
    )


def _link(source: SettingsSource) -> LinkSettings:
    args = source.args
    return LinkSettings(
        src=args["src"], type=args.get("type") or "Config", loc=source.loc, id=args.get("id"),
        headers=tuple((kv["key"], kv["value"]) for kv in args.get("headers") or ()),
        meta=args.get("meta"), proto_paths=tuple(args.get("proto_paths") or ()),
        declared_in=source.file,
    )
