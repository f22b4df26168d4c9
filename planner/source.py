"""Reading config files: the checks that come before parsing.

A config file must exist, be readable, carry a known extension, be non-empty UTF-8 text
and stay under a size limit. Each failure is one located diagnostic, never a traceback.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from .diagnostics import Diagnostics, Loc

SDL_EXTENSIONS = (".graphql", ".gql")
SETTINGS_EXTENSIONS = (".yml", ".yaml", ".json")
#: Configs larger than this are refused before parsing (a config is hand-written text).
MAX_CONFIG_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ConfigSource:
    """The text of one config file and the name used for it in diagnostics."""

    display: str
    path: Path
    text: str

    @property
    def kind(self) -> str:
        """``"sdl"`` for GraphQL SDL files, ``"settings"`` for .yml/.yaml/.json."""
        return "sdl" if self.path.suffix.lower() in SDL_EXTENSIONS else "settings"


def _position(data: bytes, offset: int) -> tuple[int, int]:
    line = data.count(b"\n", 0, offset) + 1
    col = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return line, col


def read_source(display: str, path: Path, diags: Diagnostics) -> ConfigSource | None:
    """Read ``path``; on failure record why (at ``display:1:1``) and return None."""
    at = Loc(display, 1, 1)
    suffix = path.suffix.lower()
    if suffix not in SDL_EXTENSIONS + SETTINGS_EXTENSIONS:
        shown = suffix or "no extension"
        diags.error(
            at,
            f"unsupported config file type ({shown})",
            "use .graphql or .gql for the schema, .yml, .yaml or .json for runtime settings",
        )
        return None
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            diags.error(at, "config path is a directory, not a file")
            return None
        if not stat.S_ISREG(info.st_mode):
            diags.error(at, "config path is not a regular file")
            return None
        with open(path, "rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        diags.error(at, "config file not found", "check the path; links resolve relative "
                    "to the file that declares them")
        return None
    except OSError as exc:
        diags.error(at, f"cannot read config file: {exc.strerror or exc}")
        return None
    if len(data) > MAX_CONFIG_BYTES:
        diags.error(at, f"config file is too large (over {MAX_CONFIG_BYTES} bytes)")
        return None
    return decode_source(display, path, data, diags)


def decode_source(display: str, path: Path, data: bytes, diags: Diagnostics) -> ConfigSource | None:
    """Decode config bytes as UTF-8 text; refuse empty files, NUL bytes and bad UTF-8."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data.strip():
        hint = "a schema needs at least `schema { query: Query }` and a Query type" \
            if path.suffix.lower() in SDL_EXTENSIONS else None
        diags.error(Loc(display, 1, 1), "config file is empty", hint)
        return None
    nul = data.find(b"\x00")
    if nul >= 0:
        line, col = _position(data, nul)
        diags.error(Loc(display, line, col), "config file is binary, not text (NUL byte)")
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _position(data, exc.start)
        diags.error(Loc(display, line, col),
                    f"config file is not UTF-8 text (invalid byte 0x{data[exc.start]:02x})")
        return None
    return ConfigSource(display, path, text)
