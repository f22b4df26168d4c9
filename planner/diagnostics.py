"""Located diagnostics for configs: every error names file:line:col and what to do."""
from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Loc:
    """A 1-based position in a config file."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding about a config, printed as ``file:line:col: message``."""

    loc: Loc
    message: str
    hint: str | None = None
    severity: Severity = Severity.ERROR

    def format(self) -> str:
        prefix = "" if self.severity is Severity.ERROR else "warning: "
        text = f"{self.loc}: {prefix}{self.message}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.loc.file,
            "line": self.loc.line,
            "column": self.loc.col,
            "severity": self.severity.value,
            "message": self.message,
            "hint": self.hint,
        }


class Diagnostics:
    """Collects every finding of every pass, so users see all errors at once."""

    def __init__(self) -> None:
        self.items: list[Diagnostic] = []

    def error(self, loc: Loc, message: str, hint: str | None = None) -> None:
        self.items.append(Diagnostic(loc, message, hint))

    def warning(self, loc: Loc, message: str, hint: str | None = None) -> None:
        self.items.append(Diagnostic(loc, message, hint, Severity.WARNING))

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity is Severity.WARNING]

    def sorted(self) -> list[Diagnostic]:
        """Findings in file order (then line, column), errors first on ties."""
        return sorted(
            self.items,
            key=lambda d: (d.loc.file, d.loc.line, d.loc.col, d.severity is not Severity.ERROR),
        )


class ConfigError(Exception):
    """A config that cannot be loaded; carries every error (and warning) found."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        errors = [d for d in diagnostics if d.severity is Severity.ERROR]
        super().__init__("\n".join(d.format() for d in errors) or "invalid config")


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """Return ``'; did you mean "X"?'`` for the closest candidate, or ``''``."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in candidates}
        if name.lower() in lowered:
            close = [lowered[name.lower()]]
    return f'; did you mean "{close[0]}"?' if close else ""
