"""Types of the compiled server fast path (``bindings/_fastpath.pyx``)."""
from typing import Any

class FastPath:
    #: Requests read by the fast path (answered from ``constants`` or handed over).
    handled: int
    #: (request body, Accept value) -> (answer head before Date, the rest).
    constants: dict[tuple[bytes, bytes | None], tuple[bytes, bytes]]
    #: (request body, Accept value) -> the running shared execution requests with those
    #: bytes join.
    gatherings: dict[tuple[bytes, bytes | None], Gathering]
    def __init__(self, server: Any, graphql_path: bytes, max_body: int, max_head: int,
                 cors: bool, accept_modes: dict[str | None, tuple[int, bool]],
                 keepalive: float) -> None: ...
    def remember(self, key: tuple[bytes, bytes | None], head: bytes, rest: bytes) -> None: ...
    def gather(self, key: tuple[bytes, bytes | None], run: Any, mode: int,
               exchange: Any) -> None: ...
    def feed(self, connection: Any, data: bytes) -> int: ...

class Gathering:
    """Requests waiting for a running shared execution with their bytes (one answer)."""
    def __init__(self, fast: FastPath, key: tuple[bytes, bytes | None], run: Any, mode: int,
                 exchange: Any) -> None: ...
    def finish(self, future: Any) -> None: ...
