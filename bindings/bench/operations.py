"""The operations a benchmark sends: from .graphql files, a directory of them, a recorded
traffic file (JSON lines), or inline ``NAME=QUERY`` strings.

- ``DIR/``: every ``*.graphql``/``*.gql`` file is one operation named after the file
  (``Q1.graphql`` is ``Q1``); ``NAME.variables.json`` beside it, when present, holds its
  variables.
- ``FILE.graphql``: one operation named after the file.
- ``FILE.jsonl`` (or ``.ndjson``/``.json``): one request per line,
  ``{"query", "variables", "operationName", "headers"}``. Requests are grouped into
  operations by ``operationName`` (else the document's first operation name, else the
  query text, numbered ``op1``, ``op2``... in order of first appearance); each operation's
  run cycles through its recorded requests (their variables and headers) in order.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_OP_NAME = re.compile(r"\b(?:query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)")


class OperationError(ValueError):
    pass


@dataclass
class Operation:
    name: str
    requests: list[dict[str, Any]] = field(default_factory=list)  # {query, variables, ...}

    @property
    def query(self) -> str:
        return self.requests[0]["query"]

    def bodies(self) -> list[tuple[bytes, dict[str, str]]]:
        """(JSON body, extra headers) per request, in the graphql-benchmarks shape."""
        out = []
        for r in self.requests:
            body = {"operationName": r.get("operationName"), "variables": r.get("variables")
                    or {}, "query": r["query"]}
            out.append((json.dumps(body, separators=(",", ":")).encode(),
                        dict(r.get("headers") or {})))
        return out


def _from_graphql(path: Path) -> Operation:
    query = path.read_text(encoding="utf-8").strip()
    if not query:
        raise OperationError(f"{path}: empty file")
    variables: dict[str, Any] = {}
    side = path.with_name(path.stem + ".variables.json")
    if side.is_file():
        variables = json.loads(side.read_text(encoding="utf-8"))
    return Operation(path.stem, [{"query": query, "variables": variables,
                                  "operationName": None}])


def _from_traffic(path: Path) -> list[Operation]:
    ops: dict[str, Operation] = {}
    anonymous: dict[str, str] = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise OperationError(f"{path}:{number}: not JSON: {exc}") from exc
            if not isinstance(record, dict) or not isinstance(record.get("query"), str):
                raise OperationError(f"{path}:{number}: expected an object with a 'query' "
                                     "string")
            for key, kind in (("variables", dict), ("headers", dict), ("operationName", str)):
                if record.get(key) is not None and not isinstance(record[key], kind):
                    raise OperationError(f"{path}:{number}: '{key}' must be a "
                                         f"{'string' if kind is str else 'object'}")
            name = record.get("operationName")
            if not name:
                match = _OP_NAME.search(record["query"])
                name = match.group(1) if match else anonymous.setdefault(
                    record["query"], f"op{len(anonymous) + 1}")
            ops.setdefault(name, Operation(name)).requests.append(
                {k: record.get(k) for k in ("query", "variables", "operationName", "headers")})
    if not ops:
        raise OperationError(f"{path}: no requests")
    return list(ops.values())


def load(sources: list[str]) -> list[Operation]:
    """Operations from each source in order (paths, or ``NAME=QUERY`` strings)."""
    ops: list[Operation] = []
    for source in sources:
        path = Path(source)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix in (".graphql", ".gql"))
            if not files:
                raise OperationError(f"{path}: no .graphql files")
            ops.extend(_from_graphql(p) for p in files)
        elif path.is_file():
            if path.suffix in (".graphql", ".gql"):
                ops.append(_from_graphql(path))
            else:
                ops.extend(_from_traffic(path))
        elif "=" in source and not source.startswith(("{", "query", "mutation")):
            name, _, query = source.partition("=")
            ops.append(Operation(name.strip(), [{"query": query, "variables": {},
                                                 "operationName": None}]))
        else:
            raise OperationError(f"{source}: no such file or directory (or NAME=QUERY)")
    seen: set[str] = set()
    for op in ops:
        if op.name in seen:
            raise OperationError(f"operation {op.name!r} given twice")
        seen.add(op.name)
    return ops
