"""Types of the compiled server fast path (``bindings/_fastpath.pyx``)."""
from typing import Any

class FastPath:
    #: Requests read by the fast path (answered from ``constants`` or handed over).
    handled: int
    #: (request body, Accept value) -> (answer head before Date, the rest).
    constants: dict[tuple[bytes, bytes | None], tuple[bytes, bytes]]
    #: (request body, Accept value) -> the running shared execution requests with those
    #: bytes join (``plait.server._Gathering``; kept by the server).
    gatherings: dict[tuple[bytes, bytes | None], Any]
    def __init__(self, server: Any, graphql_path: bytes, max_body: int, max_head: int,
                 cors: bool, accept_modes: dict[str | None, tuple[int, bool]],
                 keepalive: float) -> None: ...
    def remember(self, key: tuple[bytes, bytes | None], head: bytes, rest: bytes) -> None: ...
    def feed(self, connection: Any, data: bytes) -> int: ...
