"""Authentication for ``@protected`` fields, shared by both VMs.

The planner records which requirements an operation touches (``Program.guards``); before a
guarded Program runs, the engine asks :meth:`Authenticator.check` which of them the
request fails, once per request, and runs a Program planned with those fields replaced by
their error (no upstream call is made for them or below them). Operations that touch no
protected field never come here.

Verdicts per credential are cached per engine for a short time (``ttl``) and concurrent
requests with the same credentials share one check: bcrypt is deliberately slow (and runs
in a worker thread so it does not stall the event loop), and a token's signature need not
be verified on every request. A cached token verdict never outlives the token's ``exp``.

Messages are Tailcall's: ``Authentication Failure: Missing Authorization Header`` /
``... Invalid Authorization Header`` (and ``Couldn't find JWK entry with specified kid``).
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import time
from collections import OrderedDict

from plait.planner.auth import AuthProvider, HtpasswdEntry, Requirement

from .values import FieldError

MISSING = "Missing Authorization Header"
INVALID = "Invalid Authorization Header"
UNKNOWN_KID = "Couldn't find JWK entry with specified kid"
#: When no provider accepts the request, the most telling failure is reported (Tailcall's
#: order: missing < unusable token < invalid).
_RANK = {MISSING: 0, UNKNOWN_KID: 1, INVALID: 2}
#: Clock skew allowed for ``exp``/``nbf`` (seconds; Tailcall's jsonwebtoken default).
LEEWAY_S = 60


class Authenticator:
    """Checks requests against the config's auth providers (one per engine)."""

    def __init__(self, providers: list[AuthProvider], ttl: float = 60.0,
                 cache_size: int = 4096) -> None:
        self.providers = {provider.key: provider for provider in providers}
        self.ttl = ttl
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str, bytes], tuple[str | None, float]] = OrderedDict()
        self._inflight: dict[tuple[str, bytes], asyncio.Future[tuple[str | None, float]]] = {}
        self._errors: dict[str, FieldError] = {}

    def error(self, reason: str) -> FieldError:
        found = self._errors.get(reason)
        if found is None:
            found = FieldError(f"Authentication Failure: {reason}",
                               {"code": "UNAUTHENTICATED"})
            self._errors[reason] = found
        return found

    async def check(self, guards: tuple[Requirement, ...], headers: dict[str, str]
                    ) -> dict[Requirement, FieldError]:
        """The requirements among ``guards`` this request fails, with their errors.
        ``headers`` have lower-case names. Each provider is asked at most once."""
        header = headers.get("authorization")
        verdicts: dict[str, str | None] = {}
        denied: dict[Requirement, FieldError] = {}
        for requirement in guards:
            for clause in requirement:
                worst: str | None = None
                for key in clause:
                    if key not in verdicts:
                        verdicts[key] = await self.verify(key, header)
                    verdict = verdicts[key]
                    if verdict is None:
                        worst = None
                        break
                    if worst is None or _RANK[verdict] > _RANK[worst]:
                        worst = verdict
                if worst is not None:
                    denied[requirement] = self.error(worst)
                    break
        return denied

    async def verify(self, key: str, header: str | None) -> str | None:
        """None when provider ``key`` accepts the ``Authorization`` header, else why not."""
        if header is None:
            return MISSING
        provider = self.providers[key]
        cache_key = (key, hashlib.sha256(header.encode("utf-8", "surrogatepass")).digest())
        now = time.monotonic()
        cached = self._cache.get(cache_key)
        if cached is not None:
            if cached[1] > now:
                return cached[0]
            del self._cache[cache_key]
        running = self._inflight.get(cache_key)
        if running is None:
            running = asyncio.ensure_future(self._verify(provider, header))
            self._inflight[cache_key] = running
            try:
                verdict, lifetime = await asyncio.shield(running)
            finally:
                self._inflight.pop(cache_key, None)
            if lifetime > 0:
                self._cache[cache_key] = (verdict, now + min(lifetime, self.ttl))
                if len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
            return verdict
        return (await asyncio.shield(running))[0]

    async def _verify(self, provider: AuthProvider, header: str) -> tuple[str | None, float]:
        """The verdict and how long it may be cached (seconds; 0: not at all)."""
        if provider.kind == "Basic":
            return await _verify_basic(provider, header), self.ttl
        return _verify_jwt(provider, header)


# -- Basic ------------------------------------------------------------------------------
async def _verify_basic(provider: AuthProvider, header: str) -> str | None:
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return INVALID
    try:
        decoded = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return INVALID
    user_bytes, colon, password = decoded.partition(b":")
    if not colon:
        return INVALID
    try:
        user = user_bytes.decode("utf-8")
    except UnicodeDecodeError:
        return INVALID
    entry = provider.users.get(user)
    if entry is None:
        # An unknown user costs what a known one does (a bcrypt check, when the file has
        # bcrypt users), so timing does not tell which user names exist.
        decoy = next((e for e in provider.users.values() if e.scheme == "bcrypt"), None)
        if decoy is not None:
            await check_password(decoy, b"\0" + password)
        return INVALID
    ok = await check_password(entry, password)
    return None if ok else INVALID


async def check_password(entry: HtpasswdEntry, password: bytes) -> bool:
    """Whether ``password`` matches the htpasswd entry (bcrypt runs in a worker thread)."""
    if entry.scheme == "bcrypt":
        import bcrypt

        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(None, bcrypt.checkpw, password,
                                              entry.hash.encode("ascii"))
        except ValueError:
            return False
    if entry.scheme == "md5":
        magic, _, rest = entry.hash[1:].partition("$")
        salt = rest.partition("$")[0]
        expected = md5_crypt(password, salt.encode(), f"${magic}$".encode())
        return hmac.compare_digest(expected, entry.hash.encode("ascii"))
    if entry.scheme == "sha1":
        digest = base64.b64encode(hashlib.sha1(password).digest())
        return hmac.compare_digest(b"{SHA}" + digest, entry.hash.encode("ascii"))
    return False


_ITOA64 = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def md5_crypt(password: bytes, salt: bytes, magic: bytes = b"$apr1$") -> bytes:
    """The MD5-based crypt of Poul-Henning Kamp (FreeBSD ``$1$``), which Apache uses with
    the magic ``$apr1$`` (``htpasswd -m``): 1,000 rounds of MD5 over password and salt."""
    salt = salt[:8]
    alternate = hashlib.md5(password + salt + password).digest()
    context = hashlib.md5(password + magic + salt)
    length = len(password)
    while length > 0:
        context.update(alternate[:min(16, length)])
        length -= 16
    length = len(password)
    while length:
        context.update(b"\0" if length & 1 else password[:1])
        length >>= 1
    final = context.digest()
    for round_ in range(1000):
        step = hashlib.md5()
        step.update(password if round_ & 1 else final)
        if round_ % 3:
            step.update(salt)
        if round_ % 7:
            step.update(password)
        step.update(final if round_ & 1 else password)
        final = step.digest()
    out = bytearray()

    def put(value: int, count: int) -> None:
        for _ in range(count):
            out.append(_ITOA64[value & 0x3F])
            value >>= 6

    for a, b, c in ((0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)):
        put((final[a] << 16) | (final[b] << 8) | final[c], 4)
    put(final[11], 2)
    return magic + salt + b"$" + bytes(out)


# -- JWT --------------------------------------------------------------------------------
def _verify_jwt(provider: AuthProvider, header: str) -> tuple[str | None, float]:
    import jwt

    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return INVALID, 0
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError:
        return INVALID, 0
    if not isinstance(kid, str):
        return INVALID, 0  # as Tailcall: tokens must name their key
    key = provider.keys.get(kid)
    if key is None:
        return UNKNOWN_KID, 0
    try:
        claims = jwt.decode(token, key.key, algorithms=[key.algorithm_name],
                            options={"require": ["exp"], "verify_aud": False},
                            leeway=LEEWAY_S)
    except jwt.ImmatureSignatureError:
        return INVALID, 0  # valid later: not cached
    except (jwt.PyJWTError, ValueError, TypeError):
        return INVALID, 60.0
    try:
        remaining = float(claims["exp"]) + LEEWAY_S - time.time()
    except (TypeError, ValueError):
        return INVALID, 0
    return None, max(0.0, remaining)

