"""``@protected`` with Htpasswd (Basic) and Jwks (Bearer JWT) providers: real upstream on
127.0.0.1, both VMs (ids ``py`` and ``c``), and the HTTP server for the header path."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import bcrypt
import jwt
import plait
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from plait.engine import auth as auth_module

MISSING = "Authentication Failure: Missing Authorization Header"
INVALID = "Authentication Failure: Invalid Authorization Header"

# A $apr1$ hash made by `openssl passwd -apr1 -salt sGnZOB/7 aprpass` (an independent
# implementation of Apache's MD5 scheme).
APR1_CAROL = "$apr1$sGnZOB/7$7N9.wIGBeeketFsupDlns."

SDL = """
schema @link(id: "basic", type: Htpasswd, src: ".htpasswd")
       @link(id: "jwt", type: Jwks, src: "jwks.json") {
  query: Query
  mutation: Mutation
}
type Query {
  user(id: Int!): User @http(url: "UP/users/{{.args.id}}")
  secret(id: Int!): User @http(url: "UP/users/{{.args.id}}") @protected
  secretNN(id: Int!): User! @http(url: "UP/users/{{.args.id}}") @protected
  basicOnly(id: Int!): User @http(url: "UP/users/{{.args.id}}") @protected(id: ["basic"])
  post(id: Int!): Post @http(url: "UP/posts/{{.args.id}}")
  viaCall: User @call(steps: [{query: "secret", args: {id: 7}}])
}
type Mutation {
  addPost(title: String!): Post
    @http(url: "UP/posts", method: POST, body: {title: "{{.args.title}}"}) @protected
}
type User {
  id: Int!
  name: String
  email: String @protected
}
type Post {
  id: Int!
  title: String
  userId: Int
  author: Author @http(url: "UP/users/{{.value.userId}}")
}
type Author @protected {
  id: Int!
  name: String
}
"""


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Keys:
    """An RSA key in the JWKS file, and one that is not."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec_key = ec.generate_private_key(ec.SECP256R1())

    def jwks(self) -> dict[str, Any]:
        rsa_jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        rsa_jwk.update({"kid": "k1", "alg": "RS256", "use": "sig"})
        ec_jwk = json.loads(ECAlgorithm.to_jwk(self.ec_key.public_key()))
        ec_jwk.update({"kid": "e1", "alg": "ES256"})
        return {"keys": [rsa_jwk, ec_jwk]}

    def token(self, lifetime: float = 3600, *, kid: str | None = "k1", key: Any = None,
              algorithm: str = "RS256", **claims: Any) -> str:
        payload = {"sub": "tester", "exp": int(time.time() + lifetime), **claims}
        headers = {"kid": kid} if kid is not None else {}
        return "Bearer " + jwt.encode(payload, key or self.key, algorithm=algorithm,
                                      headers=headers)


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory, keys: Keys, upstream) -> Path:
    folder = tmp_path_factory.mktemp("auth")
    alice = bcrypt.hashpw(b"secret", bcrypt.gensalt(rounds=4)).decode()
    alice = "$2y$" + alice[4:]  # Apache's htpasswd -B writes $2y$
    bob = "{SHA}" + base64.b64encode(hashlib.sha1(b"shapass").digest()).decode()
    (folder / ".htpasswd").write_text(f"# users\nalice:{alice}\nbob:{bob}\n"
                                      f"carol:{APR1_CAROL}\n")
    (folder / "jwks.json").write_text(json.dumps(keys.jwks()))
    (folder / "config.graphql").write_text(SDL.replace("UP", upstream.url))
    return folder


def run(folder: Path, vm: str, query: str, authorization: str | None = None,
        variables: dict | None = None) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        async with plait.Engine.from_file(folder / "config.graphql", vm=vm) as engine:
            headers = {"Authorization": authorization} if authorization else None
            result = await engine.execute(query, variables, None, headers)
            return json.loads(result.body)
    return asyncio.run(go())


def user_hits(upstream: Any, user_id: int) -> int:
    return upstream.hits[f"/users/{user_id}"]


# -- failures: null with a located error, no upstream call ------------------------------------
def test_missing_header_nulls_the_field_and_calls_nothing(config_dir, upstream, vm) -> None:
    upstream.hits.clear()
    body = run(config_dir, vm, "{ user(id: 1) { name } secret(id: 2) { name } }")
    assert body == {"data": {"user": {"name": "Leanne Graham"}, "secret": None}, "errors": [
        {"message": MISSING, "locations": [{"line": 1, "column": 24}], "path": ["secret"],
         "extensions": {"code": "UNAUTHENTICATED"}}]}
    assert user_hits(upstream, 1) == 1
    assert user_hits(upstream, 2) == 0


def test_wrong_password_unknown_user_and_bad_headers_are_invalid(config_dir, upstream,
                                                                 vm) -> None:
    upstream.hits.clear()
    for header in (basic("alice", "wrong"), basic("mallory", "secret"), basic("carol", ""),
                   "Basic !!!not-base64", "Basic " + base64.b64encode(b"no-colon").decode(),
                   "Bearer not.a.token", "Digest abc", "Basic", ""):
        body = run(config_dir, vm, "{ secret(id: 2) { name } }", header or " ")
        assert body["data"] == {"secret": None}, header
        assert [e["message"] for e in body["errors"]] == [INVALID], header
    assert user_hits(upstream, 2) == 0


@pytest.mark.parametrize("user,password", [("alice", "secret"), ("bob", "shapass"),
                                           ("carol", "aprpass")],
                         ids=["bcrypt", "sha1", "apr1"])
def test_good_basic_credentials(config_dir, upstream, vm, user, password) -> None:
    upstream.hits.clear()
    body = run(config_dir, vm, "{ secret(id: 3) { name email } }", basic(user, password))
    assert body == {"data": {"secret": {"name": "Clementine Bauch",
                                        "email": "Nathan@yesenia.net"}}}
    assert user_hits(upstream, 3) == 1


def test_good_jwt_rsa_and_ec(config_dir, keys, vm) -> None:
    for token in (keys.token(), keys.token(kid="e1", key=keys.ec_key, algorithm="ES256"),
                  keys.token(aud="anyone", iss="anywhere")):
        body = run(config_dir, vm, "{ secret(id: 1) { name } }", token)
        assert body == {"data": {"secret": {"name": "Leanne Graham"}}}


def test_bad_jwts_are_invalid(config_dir, keys, upstream, vm) -> None:
    upstream.hits.clear()
    now = int(time.time())
    bad = {
        "expired": keys.token(lifetime=-3600),
        "not yet valid": keys.token(nbf=now + 3600),
        "wrong key": keys.token(key=keys.other),
        "no kid": keys.token(kid=None),
        "no exp": "Bearer " + jwt.encode({"sub": "x"}, keys.key, algorithm="RS256",
                                         headers={"kid": "k1"}),
        "alg swap": "Bearer " + jwt.encode({"sub": "x", "exp": now + 60}, "k1" * 16,
                                           algorithm="HS256", headers={"kid": "k1"}),
        "unknown kid": keys.token(kid="nope"),
    }
    for name, token in bad.items():
        body = run(config_dir, vm, "{ secret(id: 4) { name } }", token)
        assert body["data"] == {"secret": None}, name
        assert [e["message"] for e in body["errors"]] == [INVALID], name
    assert user_hits(upstream, 4) == 0


def test_unknown_kid_message_with_jwt_only(tmp_path, keys, upstream, vm) -> None:
    (tmp_path / "jwks.json").write_text(json.dumps(keys.jwks()))
    (tmp_path / "config.graphql").write_text("""
        schema @link(type: Jwks, src: "jwks.json") { query: Query }
        type Query { me: Int @expr(body: 1) @protected }""")
    body = run(tmp_path, vm, "{ me }", keys.token(kid="nope"))
    assert body["errors"][0]["message"] == \
        "Authentication Failure: Couldn't find JWK entry with specified kid"
    assert run(tmp_path, vm, "{ me }", keys.token()) == {"data": {"me": 1}}


# -- what is protected ------------------------------------------------------------------------
def test_non_null_protected_field_nulls_its_parent(config_dir, vm) -> None:
    body = run(config_dir, vm, "{ user(id: 1) { name } secretNN(id: 5) { name } }")
    assert body["data"] is None
    assert body["errors"][0]["path"] == ["secretNN"]


def test_protected_field_of_an_unprotected_type(config_dir, vm) -> None:
    body = run(config_dir, vm, "{ user(id: 1) { name email } }")
    assert body == {"data": {"user": {"name": "Leanne Graham", "email": None}}, "errors": [
        {"message": MISSING, "locations": [{"line": 1, "column": 22}],
         "path": ["user", "email"], "extensions": {"code": "UNAUTHENTICATED"}}]}


def test_field_returning_a_protected_type_is_not_fetched(config_dir, upstream, vm) -> None:
    upstream.hits.clear()
    body = run(config_dir, vm, "{ post(id: 11) { title author { name } } }")
    assert body["data"] == {"post": {"title": "et ea vero quia laudantium autem",
                                     "author": None}}
    assert body["errors"][0]["path"] == ["post", "author"]
    assert upstream.hits["/posts/11"] == 1
    assert user_hits(upstream, 2) == 0  # post 11 is by user 2
    body = run(config_dir, vm, "{ post(id: 11) { author { name } } }", basic("bob", "shapass"))
    assert body == {"data": {"post": {"author": {"name": "Ervin Howell"}}}}


def test_protected_with_id_accepts_only_that_provider(config_dir, keys, vm) -> None:
    body = run(config_dir, vm, "{ basicOnly(id: 1) { name } }", keys.token())
    assert body["errors"][0]["message"] == INVALID
    body = run(config_dir, vm, "{ basicOnly(id: 1) { name } }", basic("bob", "shapass"))
    assert body == {"data": {"basicOnly": {"name": "Leanne Graham"}}}


def test_call_through_a_protected_root_field(config_dir, upstream, vm) -> None:
    upstream.hits.clear()
    body = run(config_dir, vm, "{ viaCall { name } }")
    assert body["data"] == {"viaCall": None}
    assert body["errors"][0]["message"] == MISSING
    assert user_hits(upstream, 7) == 0


def test_protected_mutation_is_not_sent(config_dir, upstream, vm) -> None:
    upstream.hits.clear()
    body = run(config_dir, vm, 'mutation { addPost(title: "x") { id } }')
    assert body["data"] == {"addPost": None}
    assert upstream.hits["/posts"] == 0
    body = run(config_dir, vm, 'mutation { addPost(title: "x") { title } }',
               basic("bob", "shapass"))
    assert body == {"data": {"addPost": {"title": "x"}}}
    assert upstream.hits["/posts"] == 1


# -- cost: once per request, cached per engine, nothing for unprotected operations -----------
def test_credentials_are_checked_once_and_cached(config_dir, vm, monkeypatch) -> None:
    calls: list[str] = []
    real = auth_module.check_password

    async def counting(entry: Any, password: bytes) -> bool:
        calls.append(entry.user)
        return await real(entry, password)

    monkeypatch.setattr(auth_module, "check_password", counting)

    async def go() -> list[dict[str, Any]]:
        async with plait.Engine.from_file(config_dir / "config.graphql", vm=vm) as engine:
            headers = {"authorization": basic("alice", "secret")}
            query = "{ a: secret(id: 1) { name email } b: basicOnly(id: 2) { name } }"
            first = await asyncio.gather(*(engine.execute(query, headers=headers)
                                           for _ in range(5)))
            again = await engine.execute(query, headers=headers)
            return [r.json() for r in [*first, again]]

    bodies = asyncio.run(go())
    assert all(b == {"data": {"a": {"name": "Leanne Graham", "email": "Sincere@april.biz"},
                              "b": {"name": "Ervin Howell"}}} for b in bodies)
    assert calls == ["alice"]  # three requirements, six requests: one bcrypt check


def test_unknown_users_cost_a_password_check_too(config_dir, vm, monkeypatch) -> None:
    """An unknown user name is checked against a bcrypt entry anyway (and refused), so
    response timing does not reveal which names exist."""
    calls: list[str] = []
    real = auth_module.check_password

    async def counting(entry: Any, password: bytes) -> bool:
        calls.append(entry.user)
        return await real(entry, password)

    monkeypatch.setattr(auth_module, "check_password", counting)
    body = run(config_dir, vm, "{ secret(id: 1) { name } }", basic("mallory", "secret"))
    assert body["errors"][0]["message"] == INVALID
    assert calls == ["alice"]  # the file's bcrypt user, as a decoy


def test_unprotected_operations_do_not_check(config_dir, vm, monkeypatch) -> None:
    async def refuse(*_args: Any) -> Any:
        raise AssertionError("checked credentials for an unprotected operation")

    monkeypatch.setattr(auth_module.Authenticator, "check", refuse)
    body = run(config_dir, vm, "{ user(id: 1) { name } post(id: 1) { title } }")
    assert body["data"]["user"] == {"name": "Leanne Graham"}


def test_over_http(config_dir, vm) -> None:
    import aiohttp
    from plait.server import Server

    async def go() -> list[tuple[int, dict[str, Any], str | None]]:
        server = Server(plait.Engine.from_file(config_dir / "config.graphql", vm=vm))
        _host, port = await server.start("127.0.0.1", 0)
        out = []
        try:
            async with aiohttp.ClientSession() as session:
                for header in (None, basic("bob", "shapass")):
                    async with session.post(
                            f"http://127.0.0.1:{port}/graphql",
                            json={"query": "{ secret(id: 1) { name } }"},
                            headers={"Authorization": header} if header else {}) as response:
                        out.append((response.status, await response.json(),
                                    response.headers.get("cache-control")))
        finally:
            await server.close(grace=1.0)
        return out

    (status1, body1, _), (status2, body2, cache2) = asyncio.run(go())
    assert status1 == 200 and body1["errors"][0]["message"] == MISSING
    assert status2 == 200 and body2 == {"data": {"secret": {"name": "Leanne Graham"}}}
    assert cache2 is None or "public" not in cache2


# -- config errors ---------------------------------------------------------------------------
def check_errors(folder: Path) -> list[str]:
    result = plait.check_config([str(folder / "config.graphql")])
    assert not result.ok
    return [d.format().split("\n")[0] for d in result.diagnostics if d.severity == "error"]


def test_bad_htpasswd_lines_are_located(tmp_path) -> None:
    (tmp_path / "users").write_text("alice:$2y$10$short\nbob\n\n# c\ncarol:plaintext\n"
                                    "dave:{SHA}abc\n  erin:$6$salt$hash\n")
    (tmp_path / "config.graphql").write_text(
        'schema @link(type: Htpasswd, src: "users") { query: Query }\n'
        "type Query { a: Int @expr(body: 1) @protected }\n")
    errors = check_errors(tmp_path)
    file = str(tmp_path / "users")
    assert [e.replace(file, "users") for e in errors] == [
        "users:1:7: malformed bcrypt hash (expected $2y$NN$ and 53 characters)",
        "users:2:1: htpasswd line is not user:hash",
        "users:5:7: unsupported password hash (crypt(3) DES or plain text)",
        "users:6:6: malformed {SHA} hash (expected the base64 of a 20-byte SHA-1)",
        "users:7:8: SHA-512-crypt hashes are not supported",
    ]


def test_bad_jwks_is_located(tmp_path) -> None:
    (tmp_path / "jwks.json").write_text('{"keys": [\n  {"kty": "RSA", "n": "x", "e": "AQAB"},\n'
                                        '  {"kty": "RSA", "kid": "a", "n": "!", "e": "AQAB"}\n]}')
    (tmp_path / "broken.json").write_text('{"keys": [1,]}')
    (tmp_path / "config.graphql").write_text(
        'schema @link(type: Jwks, src: "jwks.json") @link(type: Jwks, src: "broken.json")'
        ' @link(id: "gone", type: Jwks, src: "missing.json") { query: Query }\n'
        'type Query { a: Int @expr(body: 1) @protected(id: ["jwt"]) }\n')
    errors = [e.replace(str(tmp_path) + "/", "") for e in check_errors(tmp_path)]
    assert errors[0] == "broken.json:1:13: JWKS file is not valid JSON: expected a value"
    assert errors[1].startswith("config.graphql:1:82: linked Jwks file \"missing.json\" not "
                                "found")
    assert errors[2] == 'config.graphql:2:52: @protected: no auth provider has id "jwt"'
    assert errors[3] == 'jwks.json:2:3: JWKS key has no "kid"'
    assert errors[4].startswith('jwks.json:3:3: JWKS key "a" is not usable: ')
    assert len(errors) == 5


def test_protected_without_provider_is_an_error(tmp_path) -> None:
    (tmp_path / "config.graphql").write_text(
        "type Query { a: Int @expr(body: 1) @protected }\n")
    assert check_errors(tmp_path) == [
        f"{tmp_path}/config.graphql:1:14: @protected on Query.a needs an auth provider"]


def test_explain_names_the_requirements(config_dir, tmp_path, keys) -> None:
    engine = plait.Engine.from_file(config_dir / "config.graphql", vm="py")
    text = engine.explain("{ secret(id: 1) { name } basicOnly(id: 1) { id } }")
    assert "auth (checked once before any call): any of basic, jwt; basic" in text
    assert "auth" not in engine.explain("{ user(id: 1) { name } }")
    (tmp_path / "jwks.json").write_text(json.dumps(keys.jwks()))
    (tmp_path / "config.graphql").write_text(
        'schema @link(type: Jwks, src: "jwks.json") { query: Query }\n'
        "type Query { me: Int @expr(body: 1) @protected }\n")
    engine = plait.Engine.from_file(tmp_path / "config.graphql", vm="py")
    assert "auth (checked once before any call): Jwks:jwks.json" in engine.explain("{ me }")


def test_data_read_from_protected_fields_is_protected_too(config_dir, tmp_path, vm) -> None:
    """A field needs what the data it reads needs: an @addField path through a protected
    field, a template reading one through {{.value}}, and @call chains of any length."""
    (tmp_path / ".htpasswd").write_text((config_dir / ".htpasswd").read_text())
    hops = "\n".join(f'  f{i}: String @call(steps: [{{query: "f{i + 1}"}}])' for i in range(12))
    (tmp_path / "config.graphql").write_text(f'''
schema @link(type: Htpasswd, src: ".htpasswd") {{ query: Query }}
type Query {{
  user: User @expr(body: {{secret: {{v: "s3cret"}}, name: "n"}})
{hops}
  f12: String @protected @expr(body: "deep secret")
}}
type User @addField(name: "leak", path: ["secret", "v"]) {{
  name: String
  secret: Secret @protected
  echo: String @expr(body: "{{{{.value.secret.v}}}}")
}}
type Secret {{ v: String }}
''')
    for query, path in [("{ user { leak } }", ["user", "leak"]),
                        ("{ user { echo } }", ["user", "echo"]), ("{ f0 }", ["f0"])]:
        body = run(tmp_path, vm, query)
        assert [(e["message"], e["path"]) for e in body["errors"]] == [(MISSING, path)], query
        assert "secret" not in json.dumps(body["data"])
    allowed = run(tmp_path, vm, "{ user { leak echo } f0 }", basic("bob", "shapass"))
    assert allowed == {"data": {"user": {"leak": "s3cret", "echo": "s3cret"},
                                "f0": "deep secret"}}
