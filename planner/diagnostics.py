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
    """Collects every finding of every pass, so users see all errors at once.

    Keeps the first :data:`LIMIT` findings and counts the rest (``dropped``), so a
    machine-generated file with a million errors still yields a readable report.
    """

    LIMIT = 1000

    def __init__(self) -> None:
        self.items: list[Diagnostic] = []
        self.dropped = 0
        self.error_count = 0
        self.warning_count = 0

    def _add(self, diagnostic: Diagnostic) -> None:
        if diagnostic.severity is Severity.ERROR:
            self.error_count += 1
        else:
            self.warning_count += 1
        if len(self.items) < self.LIMIT:
            self.items.append(diagnostic)
        else:
            self.dropped += 1

    def error(self, loc: Loc, message: str, hint: str | None = None) -> None:
        self._add(Diagnostic(loc, message, hint))

    def warning(self, loc: Loc, message: str, hint: str | None = None) -> None:
        self._add(Diagnostic(loc, message, hint, Severity.WARNING))

    @property
    def has_errors(self) -> bool:
        return self.error_count > 0

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


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate most like ``name`` (case-insensitive match first), or None."""
    options = list(candidates)
    lowered = {c.lower(): c for c in options}
    if name.lower() in lowered and lowered[name.lower()] != name:
        return lowered[name.lower()]
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """Return ``'; did you mean "X"?'`` for the closest candidate, or ``''``."""
    guess = closest(name, candidates)
    return f'; did you mean "{guess}"?' if guess else ""


def suggest(name: str, candidates: Iterable[str], what: str = "") -> str:
    """graphql-js style suffix: ``' Did you mean "X"?'`` (or ``' Did you mean the enum value
    "X"?'`` with ``what``), or ``''``."""
    guess = closest(name, candidates)
    if not guess:
        return ""
    return f' Did you mean {what + " " if what else ""}"{guess}"?'

