"""Behaviour-spec cases (``tests/spec/*.md``): parsing, the mock upstream, comparison.

Shared by ``tests/test_spec.py`` (plait, both VMs) and ``bench/parity_spec.py`` (Tailcall).
The format is described in ``tests/spec/README.md``.
"""
from __future__ import annotations

import asyncio
import contextlib
import difflib
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import aiohttp
import yaml
from aiohttp import web

SPEC_DIR = Path(__file__).resolve().parent / "spec"
CONFIG_NAME = "config.graphql"
DIFFERS_PREFIX = "**Differs from Tailcall:**"
NO_MOCK_STATUS = 599
#: Bound on every single request a case sends (seconds).
REQUEST_TIMEOUT = 20.0
_MISSING: Any = object()
_FENCE = re.compile(r"^(`{3,}|~{3,})\s*([\w+-]*)\s*(.*?)\s*$")
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(?::\d+)?")


class CaseError(Exception):
    """A malformed case file; the message names the file and the block."""


# -- the case model ---------------------------------------------------------------------------
@dataclass
class Mock:
    """One expected upstream exchange."""

    method: str
    origin: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: Any  # _MISSING: not compared; str: raw text; else JSON
    status: int
    response_headers: dict[str, str]
    response_body: bytes
    reset: bool
    delay_ms: float
    expected_hits: int
    url: str


@dataclass
class Request:
    """One request sent to the server under test."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None
    concurrent: int


@dataclass
class Expected:
    """The expected answer to one request."""

    status: int
    headers: dict[str, str]
    body: Any  # _MISSING: not compared
    text: str | None


@dataclass
class Case:
    """One parsed ``tests/spec/*.md`` file."""

    path: Path
    title: str
    description: str
    differs: str | None
    config: str
    files: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    mocks: list[Mock] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    expects: list[Expected] = field(default_factory=list)
    check: list[str] | None = None

    @property
    def name(self) -> str:
        return self.path.stem


# -- parsing ------------------------------------------------------------------------------------
def case_paths(directory: Path = SPEC_DIR) -> list[Path]:
    """Every case file (``*.md`` except ``README.md``), sorted by name."""
    return sorted(p for p in directory.glob("*.md") if p.name != "README.md")


def _blocks(path: Path, lines: list[str]) -> tuple[list[str], list[tuple[str, str, int]]]:
    """Split Markdown into prose lines and tagged fenced blocks ``(tag, text, line)``."""
    prose: list[str] = []
    blocks: list[tuple[str, str, int]] = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            prose.append(lines[i])
            i += 1
            continue
        fence, info, start = match.group(1), match.group(3), i + 1
        i += 1
        body: list[str] = []
        while i < len(lines) and not (lines[i].strip().startswith(fence)
                                      and lines[i].strip().strip(fence[0]) == ""):
            body.append(lines[i])
            i += 1
        if i == len(lines):
            raise CaseError(f"{path}:{start}: unclosed fenced block")
        i += 1
        tag = info.split()[0] if info.startswith("@") else ""
        if tag:
            blocks.append((tag, "\n".join(body) + "\n", start))
    return prose, blocks


def _yaml(path: Path, tag: str, line: int, text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise CaseError(f"{path}:{line}: block {tag}: invalid YAML: {error}") from None


def _mapping(where: str, value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CaseError(f"{where}: {what} must be a mapping, got {value!r}")
    return value


def _only(where: str, item: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(item) - allowed
    if unknown:
        raise CaseError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(allowed)}")


def _headers(where: str, value: Any) -> dict[str, str]:
    return {str(k).lower(): _scalar(v) for k, v in _mapping(where, value, "headers").items()}


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _parse_mock(where: str, item: Any) -> Mock:
    item = _mapping(where, item, "a mock")
    _only(where, item, {"request", "response", "expectedHits"})
    request = _mapping(where, item.get("request"), "request")
    response = _mapping(where, item.get("response"), "response")
    _only(f"{where}: request", request, {"method", "url", "headers", "body"})
    _only(f"{where}: response", response, {"status", "headers", "body", "text", "reset",
                                           "delay"})
    url = request.get("url")
    if not isinstance(url, str) or not _ORIGIN.match(url):
        raise CaseError(f"{where}: request.url must be an absolute http(s) URL, got {url!r}")
    parts = urlsplit(url)
    if sum(k in response for k in ("body", "text", "reset")) > 1:
        raise CaseError(f"{where}: response takes one of body, text, reset")
    headers = {"content-type": "application/json"}
    headers.update(_headers(where, response.get("headers")))
    if "body" in response:
        payload = json.dumps(response["body"]).encode()
    elif "text" in response:
        payload = str(response["text"]).encode()
    else:
        payload = b""
    hits = item.get("expectedHits", 1)
    if not isinstance(hits, int) or hits < 0:
        raise CaseError(f"{where}: expectedHits must be an integer >= 0, got {hits!r}")
    return Mock(
        method=str(request.get("method", "GET")).upper(),
        origin=f"{parts.scheme}://{parts.netloc}", path=unquote(parts.path or "/"),
        query=parse_qsl(parts.query, keep_blank_values=True),
        headers=_headers(where, request.get("headers")),
        body=request.get("body", _MISSING), status=int(response.get("status", 200)),
        response_headers=headers, response_body=payload,
        reset=bool(response.get("reset", False)),
        delay_ms=float(response.get("delay", 0)), expected_hits=hits, url=url)


def _parse_request(where: str, item: Any) -> Request:
    item = _mapping(where, item, "a request")
    _only(where, item, {"method", "url", "headers", "body", "concurrent"})
    headers = _headers(where, item.get("headers"))
    body = item.get("body")
    if body is None:
        payload = None
    elif isinstance(body, str):
        payload = body.encode()
    else:
        payload = json.dumps(body).encode()
    if payload is not None:
        headers.setdefault("content-type", "application/json")
    concurrent = item.get("concurrent", 1)
    if not isinstance(concurrent, int) or concurrent < 1:
        raise CaseError(f"{where}: concurrent must be an integer >= 1, got {concurrent!r}")
    return Request(method=str(item.get("method", "POST")).upper(),
                   url=str(item.get("url", "/graphql")), headers=headers, body=payload,
                   concurrent=concurrent)


def _parse_expected(where: str, item: Any) -> Expected:
    item = _mapping(where, item, "an expected response")
    _only(where, item, {"status", "headers", "body", "text"})
    text = item.get("text")
    return Expected(status=int(item.get("status", 200)),
                    headers=_headers(where, item.get("headers")),
                    body=item.get("body", _MISSING), text=None if text is None else str(text))


def _list(path: Path, tag: str, line: int, text: str) -> list[Any]:
    value = _yaml(path, tag, line, text)
    if value is None:
        return []
    if not isinstance(value, list):
        raise CaseError(f"{path}:{line}: block {tag} must be a YAML list")
    return value


def _differs(prose: list[str]) -> tuple[str | None, list[str]]:
    """The ``**Differs from Tailcall:**`` paragraph (joined), and the other prose lines."""
    for start, line in enumerate(prose):
        if line.startswith(DIFFERS_PREFIX):
            end = start + 1
            while end < len(prose) and prose[end].strip():
                end += 1
            text = " ".join(part.strip() for part in prose[start:end])
            return text[len(DIFFERS_PREFIX):].strip(), prose[:start] + prose[end:]
    return None, prose


def parse_case(path: Path) -> Case:
    """Parse one case file; raise :class:`CaseError` naming the file and block if malformed."""
    lines = path.read_text(encoding="utf-8").splitlines()
    prose, blocks = _blocks(path, lines)
    text = [line for line in prose if line.strip()]
    if not text or not text[0].startswith("# "):
        raise CaseError(f"{path}: the first line must be '# Title'")
    title = text[0][2:].strip()
    differs, rest = _differs(prose)
    description = "\n".join(line for line in rest if line.strip() and line.strip() != text[0])
    case = Case(path=path, title=title, description=description.strip(), differs=differs,
                config="")
    seen: set[str] = set()
    for tag, body, line in blocks:
        where = f"{path}:{line}: block {tag}"
        if tag in seen:
            raise CaseError(f"{where}: repeated block")
        seen.add(tag)
        if tag == "@config":
            case.config = body
        elif tag.startswith("@file:"):
            name = tag[len("@file:"):]
            if not name or name.startswith("/") or ".." in Path(name).parts:
                raise CaseError(f"{where}: the file name must be a relative path")
            case.files[name] = body
        elif tag == "@env":
            env = _mapping(where, _yaml(path, tag, line, body), "@env")
            case.env = {str(k): _scalar(v) for k, v in env.items()}
        elif tag == "@mock":
            case.mocks = [_parse_mock(f"{where}: item {n}", item)
                          for n, item in enumerate(_list(path, tag, line, body), 1)]
        elif tag == "@test":
            case.requests = [_parse_request(f"{where}: item {n}", item)
                             for n, item in enumerate(_list(path, tag, line, body), 1)]
        elif tag == "@expect":
            case.expects = [_parse_expected(f"{where}: item {n}", item)
                            for n, item in enumerate(_list(path, tag, line, body), 1)]
        elif tag == "@check":
            case.check = body.rstrip("\n").splitlines()
        else:
            raise CaseError(f"{where}: unknown block tag (see tests/spec/README.md)")
    if not case.config.strip():
        raise CaseError(f"{path}: no ```graphql @config block")
    if ("@test" in seen) == ("@check" in seen):
        raise CaseError(f"{path}: a case needs exactly one of a @test or a @check block")
    if "@test" in seen and len(case.expects) != len(case.requests):
        raise CaseError(f"{path}: block @expect has {len(case.expects)} item(s) for "
                        f"{len(case.requests)} request(s) in @test")
    return case


# -- the mock upstream --------------------------------------------------------------------------
def _media_match(expected: str, actual: str) -> bool:
    """Header values match exactly, or ignoring ``;`` parameters the expectation omits."""
    if expected == actual:
        return True
    return ";" not in expected and actual.split(";", 1)[0].strip() == expected.strip()


def header_problems(expected: dict[str, str], actual: Any) -> list[str]:
    """Headers of ``expected`` missing from or different in ``actual`` (names lowercase)."""
    problems = []
    for name, value in expected.items():
        got = actual.get(name)
        if got is None:
            problems.append(f"header {name}: missing (expected {value!r})")
        elif not _media_match(value, got):
            problems.append(f"header {name}: expected {value!r}, got {got!r}")
    return problems


class MockUpstream:
    """One aiohttp server on 127.0.0.1 per origin; counts hits, records strays."""

    def __init__(self, mocks: list[Mock], extra_origins: Sequence[str] = ()) -> None:
        self.mocks = mocks
        self.hits = [0] * len(mocks)
        self.unexpected: list[str] = []
        origins = [m.origin for m in mocks] + list(extra_origins)
        self.origins = list(dict.fromkeys(origins))
        self.addresses: dict[str, str] = {}
        self._runners: list[web.AppRunner] = []

    async def start(self) -> MockUpstream:
        for origin in self.origins:
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handler(origin))
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self._runners.append(runner)
            port = runner.addresses[0][1]
            self.addresses[origin] = f"http://127.0.0.1:{port}"
        return self

    async def close(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()

    def rewrite(self, text: str) -> str:
        """Replace each mocked origin (longest first) by its local address, then each
        origin's ``host:port`` (default port spelled out, as error messages name it)."""
        for origin in sorted(self.addresses, key=len, reverse=True):
            text = re.sub(re.escape(origin) + r"(?![\w.:-])", self.addresses[origin], text)
        for origin, address in self.addresses.items():
            parts = urlsplit(origin)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            text = re.sub(rf"(?<![\w.-]){re.escape(f'{parts.hostname}:{port}')}(?!\d)",
                          address.split("//", 1)[1], text)
        return text

    def rewrite_value(self, value: Any) -> Any:
        """:meth:`rewrite` applied to every string inside a YAML/JSON value."""
        if isinstance(value, str):
            return self.rewrite(value)
        if isinstance(value, list):
            return [self.rewrite_value(v) for v in value]
        if isinstance(value, dict):
            return {k: self.rewrite_value(v) for k, v in value.items()}
        return value

    def _handler(self, origin: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            body = await request.read()
            index = self._match(origin, request, body)
            if index is None:
                self.unexpected.append(_describe(origin, request, body))
                return web.Response(status=NO_MOCK_STATUS, text="no mock")
            self.hits[index] += 1
            mock = self.mocks[index]
            if mock.delay_ms:
                await asyncio.sleep(mock.delay_ms / 1000)
            if mock.reset:
                assert request.transport is not None
                request.transport.abort()
                raise asyncio.CancelledError
            return web.Response(status=mock.status, body=mock.response_body,
                                headers=mock.response_headers)
        return handle

    def _match(self, origin: str, request: web.Request, body: bytes) -> int | None:
        path = unquote(request.rel_url.raw_path)
        query = parse_qsl(request.rel_url.raw_query_string, keep_blank_values=True)
        for index, mock in enumerate(self.mocks):
            if (mock.origin == origin and mock.method == request.method and mock.path == path
                    and mock.query == query and not header_problems(mock.headers,
                                                                    request.headers)
                    and _body_matches(mock.body, body)):
                return index
        return None

    def hit_problems(self) -> list[str]:
        """Mocks hit a different number of times than expected, and unexpected requests."""
        problems = [f"upstream {m.method} {m.url}: expected {m.expected_hits} hit(s), got {n}"
                    for m, n in zip(self.mocks, self.hits) if n != m.expected_hits]
        problems += [f"unexpected upstream request (answered {NO_MOCK_STATUS} no mock): {r}"
                     for r in self.unexpected]
        return problems


def _body_matches(expected: Any, body: bytes) -> bool:
    if expected is _MISSING:
        return True
    if isinstance(expected, str):
        return body.decode("utf-8", "replace") == expected
    try:
        return json.loads(body) == expected
    except ValueError:
        return False


def _describe(origin: str, request: web.Request, body: bytes) -> str:
    text = f"{request.method} {origin}{request.rel_url}"
    if body:
        text += f" body={body[:300].decode('utf-8', 'replace')!r}"
    return text


@contextlib.asynccontextmanager
async def mock_upstream(case: Case) -> AsyncIterator[MockUpstream]:
    """The case's mock servers, also for origins that appear only in its config (so a stray
    call is recorded rather than leaving the machine)."""
    sources = [case.config, *case.files.values(), *case.env.values()]
    # An origin the client itself sends (CORS ``Origin``) is not an upstream: keep it.
    client = {v for r in case.requests for v in r.headers.values()}
    extra = [o for text in sources for o in _ORIGIN.findall(text)
             if not o.startswith(("http://127.0.0.1", "http://localhost"))
             and o not in client]
    upstream = await MockUpstream(case.mocks, extra).start()
    try:
        yield upstream
    finally:
        await upstream.close()


# -- materialising a case -----------------------------------------------------------------------
def write_case(case: Case, directory: Path, upstream: MockUpstream | None) -> Path:
    """Write the config and ``@file`` blocks (origins rewritten) into ``directory``."""
    rewrite = upstream.rewrite if upstream else (lambda text: text)
    for name, text in case.files.items():
        target = directory / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(rewrite(text), encoding="utf-8")
    config = directory / CONFIG_NAME
    config.write_text(rewrite(case.config), encoding="utf-8")
    return config


def case_env(case: Case, upstream: MockUpstream | None) -> dict[str, str]:
    """The case's ``@env`` with origins rewritten."""
    return {k: upstream.rewrite(v) if upstream else v for k, v in case.env.items()}


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration (restored afterwards)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# -- comparing answers --------------------------------------------------------------------------
def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise ValueError(f"duplicate object key(s) {duplicates}")
    return dict(pairs)


def _canonical(value: Any) -> Any:
    """Integral floats as ints (JSON does not tell ``1`` from ``1.0``); key order kept."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    return value


def dump(value: Any) -> str:
    """Pretty JSON in the value's own key order (what comparisons and diffs use)."""
    return json.dumps(_canonical(value), indent=2, ensure_ascii=False)


def json_diff(expected: Any, body: bytes) -> str | None:
    """``None`` when ``body`` is the JSON ``expected`` (key order included), else a diff."""
    try:
        actual = json.loads(body, object_pairs_hook=_no_duplicates)
    except ValueError as error:
        return f"response is not JSON ({error}): {body[:500]!r}"
    want, got = dump(expected), dump(actual)
    if want == got:
        return None
    lines = difflib.unified_diff(want.splitlines(), got.splitlines(), "expected", "actual",
                                 lineterm="", n=2)
    return "\n".join(lines)


@dataclass
class Answer:
    """What the server under test answered to one request."""

    status: int
    headers: dict[str, str]
    body: bytes


async def send(session: aiohttp.ClientSession, base: str, request: Request) -> list[Answer]:
    """Send one request (``concurrent`` copies at once) and return the answers."""
    async def once() -> Answer:
        async with session.request(request.method, base + request.url,
                                   headers=request.headers, data=request.body,
                                   timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)) as r:
            return Answer(r.status, {k.lower(): v for k, v in r.headers.items()},
                          await r.read())
    return list(await asyncio.gather(*(once() for _ in range(request.concurrent))))


def answer_problems(expected: Expected, answer: Answer, upstream: MockUpstream) -> list[str]:
    """How ``answer`` differs from ``expected`` (origins in the expected body rewritten)."""
    problems = []
    if answer.status != expected.status:
        problems.append(f"status: expected {expected.status}, got {answer.status}")
    problems += header_problems(expected.headers, answer.headers)
    if expected.body is not _MISSING:
        diff = json_diff(upstream.rewrite_value(expected.body), answer.body)
        if diff:
            problems.append(f"body differs:\n{diff}")
    if expected.text is not None:
        text = answer.body.decode("utf-8", "replace")
        if text != upstream.rewrite(expected.text):
            problems.append(f"text: expected {expected.text!r}, got {text[:500]!r}")
    return problems


Outcome = tuple[list[str], list[list[Answer]]]


async def exchange(case: Case, base: str, upstream: MockUpstream) -> Outcome:
    """Send the case's requests to ``base`` in order; return problems and the answers."""
    problems: list[str] = []
    answers: list[list[Answer]] = []
    async with aiohttp.ClientSession() as session:
        for number, (request, expected) in enumerate(zip(case.requests, case.expects), 1):
            got = await send(session, base, request)
            answers.append(got)
            for copy, answer in enumerate(got, 1):
                label = f"request {number}" + (f" (copy {copy})" if len(got) > 1 else "")
                problems += [f"{label}: {p}" for p in answer_problems(expected, answer, upstream)]
    problems += upstream.hit_problems()
    return problems, answers


@contextlib.asynccontextmanager
async def serve_plait(config: Path, vm: str) -> AsyncIterator[str]:
    """The real plait HTTP server for ``config`` on an ephemeral port; yields its base URL."""
    import plait
    from plait.server import Server

    server = Server(plait.Engine.from_file(config, vm=vm))
    host, port = await server.start("127.0.0.1", 0)
    try:
        yield f"http://{host}:{port}"
    finally:
        await server.close(grace=2.0)


async def run_against_plait(case: Case, directory: Path, vm: str) -> Outcome:
    """Run a ``@test`` case against plait (mocks, config, server, requests, hit counts)."""
    async with mock_upstream(case) as upstream:
        config = write_case(case, directory, upstream)
        with environment(case_env(case, upstream)):
            async with serve_plait(config, vm) as base:
                return await exchange(case, base, upstream)


def check_problems(case: Case, directory: Path, timeout: float = 60) -> list[str]:
    """Run ``plait check config.graphql`` in ``directory``; how it differs from ``@check``."""
    assert case.check is not None
    write_case(case, directory, None)
    done = subprocess.run([sys.executable, "-m", "plait", "check", CONFIG_NAME], cwd=directory,
                          capture_output=True, text=True, timeout=timeout, check=False,
                          env={**os.environ, **case.env})
    lines = (done.stdout + done.stderr).rstrip("\n").splitlines()
    problems = []
    if done.returncode != 1:
        problems.append(f"plait check exited {done.returncode}, expected 1")
    if lines != case.check:
        diff = difflib.unified_diff(case.check, lines, "expected", "actual", lineterm="", n=2)
        problems.append("plait check output differs:\n" + "\n".join(diff))
    return problems
