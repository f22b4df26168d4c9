"""Spec-shaped request errors (spec 7.1.2): ``message`` and ``locations``."""
from __future__ import annotations

from .op_ast import SourceText


class QueryError(Exception):
    """An error in a GraphQL request, located by character offsets in the document."""

    def __init__(self, message: str, offsets: list[int] | tuple[int, ...] = (),
                 code: str = "GRAPHQL_VALIDATION_FAILED") -> None:
        super().__init__(message)
        self.message = message
        self.offsets = tuple(offsets)
        self.code = code

    def to_dict(self, source: SourceText | None) -> dict[str, object]:
        error: dict[str, object] = {"message": self.message}
        if source is not None and self.offsets:
            error["locations"] = [dict(zip(("line", "column"), source.location(offset)))
                                  for offset in self.offsets]
        error["extensions"] = {"code": self.code}
        return error


class RequestInvalid(Exception):
    """A request rejected before execution, with every error found (spec 6.1)."""

    def __init__(self, errors: list[QueryError], source: SourceText | None) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors
        self.source = source

    def to_list(self) -> list[dict[str, object]]:
        return [e.to_dict(self.source) for e in self.errors]
