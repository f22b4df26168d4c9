"""Parse GraphQL SDL config text with graphql-core's parser (spec 2, 3).

graphql-core gives exact source positions and bounds nesting depth, so a hostile file
(megabytes of ``[[[[``) ends in one located syntax error, not a stack overflow.
"""
from __future__ import annotations

from graphql import GraphQLSyntaxError, Source, parse
from graphql.language import DocumentNode

from .diagnostics import Diagnostics, Loc
from .source import ConfigSource

#: Upper bound on tokens in one config file (a large real config has a few 10,000s).
MAX_TOKENS = 2_000_000


def parse_sdl(source: ConfigSource, diags: Diagnostics) -> DocumentNode | None:
    """Parse ``source``; on a syntax error record it and return None."""
    try:
        return parse(Source(source.text, source.display), max_tokens=MAX_TOKENS)
    except GraphQLSyntaxError as exc:
        where = exc.locations[0] if exc.locations else None
        loc = Loc(source.display, where.line, where.column) if where else \
            Loc(source.display, 1, 1)
        message = exc.message.removeprefix("Syntax Error: ").rstrip(".")
        diags.error(loc, f"syntax error: {message}")
        return None
    except RecursionError:  # pragma: no cover - graphql-core bounds depth itself
        diags.error(Loc(source.display, 1, 1), "syntax error: document is nested too deeply")
        return None
