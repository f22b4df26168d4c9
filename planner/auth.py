"""Pass 9: authentication providers and what each ``@protected`` field requires.

Providers come from ``@link(type: Htpasswd, src: ...)`` (HTTP Basic credentials checked
against an Apache htpasswd file) and ``@link(type: Jwks, src: ...)`` (``Bearer`` JSON Web
Tokens verified with the keys of a JWKS file). Both files are read and checked here, so a
bad line or key is a config error with its ``file:line:col``.

Which fields are protected (Tailcall's rules): a field marked ``@protected``; every field
of a type marked ``@protected``; every field whose (named) output type is ``@protected``.
plait adds: a field of an object type whose interface declares the same field
``@protected``, and a ``@call`` field requires what its target root fields require.

A requirement is a tuple of *clauses*, each a tuple of provider keys: every clause must
be satisfied, a clause by any one of its providers. ``@protected`` without ``id`` is one
clause of all providers (any provider will do, as Tailcall documents);
``@protected(id: ["a", "b"])`` is the clauses ``(a,) (b,)`` (each listed provider, as in
Tailcall). The runtime side is ``plait.engine.auth``.
"""
from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .diagnostics import Diagnostics, Loc, did_you_mean
from .json_located import JsonError, parse_json_located
from .model import OBJECT, CallResolver, DirectiveUse, FieldDef, TypeDef

#: Largest htpasswd/JWKS file read (they hold credentials or keys, not data).
MAX_AUTH_FILE_BYTES = 4 * 1024 * 1024

Requirement = tuple[tuple[str, ...], ...]

_BCRYPT = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")
_MD5_CRYPT = re.compile(r"\$(apr1|1)\$([^$]{0,8})\$([./A-Za-z0-9]{22})")
HASH_HINT = ("use bcrypt (htpasswd -B), Apache MD5 (htpasswd -m, $apr1$) or SHA-1 "
             "(htpasswd -s, {SHA})")


@dataclass(slots=True)
class HtpasswdEntry:
    user: str
    #: "bcrypt", "md5" ($apr1$ or $1$) or "sha1".
    scheme: str
    hash: str


@dataclass(slots=True)
class AuthProvider:
    """One auth link: ``kind`` is ``Basic`` (htpasswd) or ``Jwt`` (JWKS)."""

    #: The link's ``id``, or ``Type:src`` for a link without one.
    key: str
    kind: str
    loc: Loc
    #: The file's path (relative to the working directory) and ``src`` as written.
    src: str
    declared_src: str = ""
    #: Basic: user → entry.
    users: dict[str, HtpasswdEntry] = field(default_factory=dict)
    #: Jwt: key id → ``jwt.PyJWK``.
    keys: dict[str, Any] = field(default_factory=dict)


def load_providers(links: list[Any], diags: Diagnostics) -> list[AuthProvider]:
    """Read every Htpasswd/Jwks link (missing files are reported by the loader; their
    providers are kept, empty, so ``@protected(id:)`` does not report them again)."""
    providers: list[AuthProvider] = []
    for link in links:
        if link.type not in ("Htpasswd", "Jwks"):
            continue
        display = os.path.normpath(os.path.join(os.path.dirname(link.declared_in), link.src))
        key = link.id if link.id else f"{link.type}:{link.src}"
        kind = "Basic" if link.type == "Htpasswd" else "Jwt"
        provider = AuthProvider(key, kind, link.loc, display, link.src)
        providers.append(provider)  # even when unreadable: its id stays known
        if link.src.startswith(("http://", "https://")):
            continue  # refused by the loader already
        text = _read(Path(display), display, link, diags)
        if text is None:
            continue
        if kind == "Basic":
            provider.users = parse_htpasswd(text, display, diags)
        else:
            provider.keys = parse_jwks(text, display, diags)
    return providers


def _read(path: Path, display: str, link: Any, diags: Diagnostics) -> str | None:
    try:
        if not path.is_file():
            return None  # the loader reported it
        with open(path, "rb") as handle:
            data = handle.read(MAX_AUTH_FILE_BYTES + 1)
    except OSError as exc:
        diags.error(link.loc, f'cannot read linked {link.type} file "{link.src}": '
                    f"{exc.strerror or exc}")
        return None
    if len(data) > MAX_AUTH_FILE_BYTES:
        diags.error(Loc(display, 1, 1), f"{link.type} file is larger than "
                    f"{MAX_AUTH_FILE_BYTES // (1024 * 1024)} MB")
        return None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        diags.error(Loc(display, line, col), f"{link.type} file is not UTF-8 text")
        return None


# -- htpasswd --------------------------------------------------------------------------
def parse_htpasswd(text: str, file: str, diags: Diagnostics) -> dict[str, HtpasswdEntry]:
    """``user:hash`` lines; blank lines and ``#`` comments are skipped."""
    users: dict[str, HtpasswdEntry] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        stripped = line.lstrip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line) - len(stripped)
        user, colon, hashed = stripped.partition(":")
        if not colon or not user:
            diags.error(Loc(file, number, indent + 1),
                        "htpasswd line is not user:hash" if not colon else
                        "htpasswd line has an empty user name",
                        "one user per line, e.g. alice:$2y$10$... (made with htpasswd -B)")
            continue
        at = Loc(file, number, indent + len(user) + 2)
        scheme = _scheme(hashed, at, diags)
        if scheme is None:
            continue
        if user in users:
            diags.warning(Loc(file, number, indent + 1), f'htpasswd user "{user}" is listed '
                          "again; the first entry is used")
            continue
        users[user] = HtpasswdEntry(user, scheme, hashed)
    if not users and not diags.has_errors:
        diags.warning(Loc(file, 1, 1), "htpasswd file lists no users; no Basic credentials "
                      "can succeed")
    return users


def _scheme(hashed: str, at: Loc, diags: Diagnostics) -> str | None:
    if hashed.startswith("$2"):
        if _BCRYPT.fullmatch(hashed):
            return "bcrypt"
        diags.error(at, "malformed bcrypt hash (expected $2y$NN$ and 53 characters)",
                    HASH_HINT)
        return None
    if hashed.startswith(("$apr1$", "$1$")):
        if _MD5_CRYPT.fullmatch(hashed):
            return "md5"
        diags.error(at, "malformed MD5 hash (expected $apr1$salt$ and 22 characters)",
                    HASH_HINT)
        return None
    if hashed.startswith("{SHA}"):
        try:
            digest = base64.b64decode(hashed[5:], validate=True)
        except (binascii.Error, ValueError):
            digest = b""
        if len(digest) == 20:
            return "sha1"
        diags.error(at, "malformed {SHA} hash (expected the base64 of a 20-byte SHA-1)",
                    HASH_HINT)
        return None
    if hashed.startswith(("$5$", "$6$")):
        what = "SHA-256" if hashed.startswith("$5$") else "SHA-512"
        diags.error(at, f"{what}-crypt hashes are not supported", HASH_HINT)
        return None
    diags.error(at, "unsupported password hash (crypt(3) DES or plain text)"
                if hashed else "empty password hash", HASH_HINT)
    return None


# -- JWKS ------------------------------------------------------------------------------
def parse_jwks(text: str, file: str, diags: Diagnostics) -> dict[str, Any]:
    """A JSON Web Key Set: ``{"keys": [...]}``; each key needs a ``kid`` (tokens name the
    key that signed them) and a supported algorithm."""
    import jwt

    try:
        root = parse_json_located(text, file)
    except JsonError as exc:
        where = _offset_loc(text, exc.offset, file)
        diags.error(where, f"JWKS file is not valid JSON: {exc.message}")
        return {}
    keys_value = root.value.get("keys") if root.kind == "object" else None
    if keys_value is None or keys_value.kind != "list":
        diags.error(root.loc, 'JWKS file must be an object with a "keys" list',
                    'e.g. {"keys": [{"kty": "RSA", "kid": "...", "alg": "RS256", "n": '
                    '"...", "e": "AQAB"}]}')
        return {}
    keys: dict[str, Any] = {}
    for item in keys_value.value:
        if item.kind != "object":
            diags.error(item.loc, f"JWKS key must be an object, found {item.describe()}")
            continue
        data = item.plain()
        kid = data.get("kid")
        if not isinstance(kid, str) or not kid:
            diags.error(item.loc, 'JWKS key has no "kid"',
                        "tokens are matched to keys by the kid in their header")
            continue
        if "d" in data or "p" in data:
            diags.error(item.loc, f'JWKS key "{kid}" contains private key material',
                        "publish only the public key (kty, kid, alg, n, e / x, y, crv)")
            continue
        try:
            key = jwt.PyJWK(data)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError) as exc:
            diags.error(item.loc, f'JWKS key "{kid}" is not usable: {exc}')
            continue
        if kid in keys:
            diags.error(item.key_locs.get("kid", item.loc), f'JWKS key id "{kid}" is used '
                        "twice")
            continue
        keys[kid] = key
    if not keys and not diags.has_errors:
        diags.warning(keys_value.loc, "JWKS file has no keys; no token can be verified")
    return keys


def _offset_loc(text: str, offset: int, file: str) -> Loc:
    line = text.count("\n", 0, offset) + 1
    return Loc(file, line, offset - (text.rfind("\n", 0, offset) + 1) + 1)


# -- requirements ----------------------------------------------------------------------
def _ids(uses: list[DirectiveUse], providers: dict[str, AuthProvider],
         diags: Diagnostics) -> tuple[bool, list[str]]:
    """Whether ``@protected`` is among ``uses``, and the provider ids it lists."""
    marked, ids = False, []
    for use in uses:
        if use.name != "protected" or not use.valid:
            continue
        marked = True
        for index, name in enumerate(use.args.get("id") or ()):
            if name in providers:
                ids.append(name)
                continue
            value = use.values.get("id")
            loc = value.loc if value is not None else use.loc
            if value is not None and value.kind == "list" and index < len(value.value):
                loc = value.value[index].loc
            named = [link_id for link_id, provider in providers.items()
                     if link_id != f"{'Htpasswd' if provider.kind == 'Basic' else 'Jwks'}:"
                     f"{provider.declared_src}"]
            diags.error(loc, f'@protected: no auth provider has id "{name}"'
                        f"{did_you_mean(name, named)}",
                        "give the link an id: @link(id: \"" + name + "\", type: Htpasswd, "
                        "src: ...)" if not named else f"known ids: {', '.join(named)}")
    return marked, ids


def _combine(*requirements: Requirement | None) -> Requirement | None:
    clauses: list[tuple[str, ...]] = []
    for requirement in requirements:
        for clause in requirement or ():
            if clause not in clauses:
                clauses.append(clause)
    return tuple(clauses) or None


def assign_requirements(types: dict[str, TypeDef], query: str, mutation: str | None,
                        providers: list[AuthProvider], diags: Diagnostics) -> None:
    """Set ``FieldDef.auth`` on every protected field (see the module docstring)."""
    if not providers:
        return
    by_key = {provider.key: provider for provider in providers}
    everyone: Requirement = (tuple(by_key),)

    def requirement(marked: bool, ids: list[str]) -> Requirement | None:
        if not marked:
            return None
        return tuple((name,) for name in dict.fromkeys(ids)) or everyone

    type_req: dict[str, Requirement | None] = {}
    for typedef in types.values():
        if typedef.builtin:
            continue
        type_req[typedef.name] = requirement(*_ids(typedef.directives, by_key, diags))
    field_req: dict[int, Requirement | None] = {}
    for typedef in types.values():
        if typedef.builtin or not typedef.fields:
            continue
        for field_def in typedef.fields.values():
            field_req[id(field_def)] = requirement(*_ids(field_def.directives, by_key, diags))
    for typedef in types.values():
        if typedef.builtin or not typedef.fields or typedef.kind == "input":
            continue
        for field_def in typedef.fields.values():
            inherited = [field_req.get(id(types[name].fields[field_def.name]))
                         for name, _ in typedef.interfaces
                         if name in types and field_def.name in types[name].fields]
            field_def.auth = _combine(type_req.get(typedef.name), field_req[id(field_def)],
                                      type_req.get(field_def.type.named), *inherited)
    # A field also requires what the data it reads requires: a @call field its target
    # root fields (transitively), an @addField its path, a template its {{.value...}}
    # fields. Requirements only grow, so this reaches a fixed point within as many passes
    # as there are fields.
    roots = {"query": types.get(query), "mutation": types.get(mutation) if mutation else None}
    fields = [(typedef, field_def) for typedef in types.values()
              if not typedef.builtin and typedef.kind == OBJECT
              for field_def in typedef.fields.values()]
    for _ in range(len(fields) + 1):
        changed = False
        for typedef, field_def in fields:
            read = [_path_requirements(types, typedef.name, path)
                    for path in _paths_read(field_def)]
            if isinstance(field_def.resolver, CallResolver):
                read += _call_targets(field_def, roots)
            combined = _combine(field_def.auth, *read)
            if combined != field_def.auth:
                field_def.auth, changed = combined, True
        if not changed:
            break


def _paths_read(field_def: FieldDef) -> list[tuple[str, ...]]:
    """The parent-relative paths a field reads: its @addField path and the
    ``{{.value...}}`` references of its resolver's templates."""
    paths = [field_def.source_path] if field_def.source_path else []
    if field_def.resolver is not None:
        from .check_templates import resolver_templates

        paths += [ref.path for template in resolver_templates(field_def.resolver)
                  for ref in template.refs if ref.root == "value" and ref.path]
    return paths


def _path_requirements(types: dict[str, TypeDef], owner: str, path: tuple[str, ...]
                       ) -> Requirement | None:
    """What the fields along ``path`` (from type ``owner``) require, combined."""
    found: list[Requirement | None] = []
    current = types.get(owner)
    for segment in path:
        if segment.isdigit():
            continue
        if current is None or segment not in current.fields:
            break
        step = current.fields[segment]
        found.append(step.auth)
        current = types.get(step.type.named)
    return _combine(*found) if found else None


def _call_targets(field_def: FieldDef, roots: dict[str, TypeDef | None]
                  ) -> list[Requirement | None]:
    found: list[Requirement | None] = []
    assert isinstance(field_def.resolver, CallResolver)
    for step in field_def.resolver.steps:
        root = roots.get(step.kind)
        target = root.fields.get(step.field) if root is not None else None
        if target is not None:
            found.append(target.auth)
    return found


def describe_requirement(requirement: Requirement) -> str:
    """``any of basic, jwt`` / ``basic and jwt`` for ``plait explain``."""
    parts = [clause[0] if len(clause) == 1 else "any of " + ", ".join(clause)
             for clause in requirement]
    return " and ".join(parts)
