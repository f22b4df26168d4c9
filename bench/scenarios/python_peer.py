"""The Python peer of the standard scenarios: Strawberry GraphQL on aiohttp, written the way
Strawberry's documentation recommends (typed schema classes, async resolvers, the aiohttp
integration's ``GraphQLView`` with a ``get_context`` override, the ``ParserCache`` and
``ValidationCache`` extensions, one ``aiohttp.ClientSession`` for the application, and a
per-request ``DataLoader`` so each post's author is fetched
once per distinct id: one ``GET /users/{id}`` per distinct user, no bulk call, no caching
across requests).

    python bench/scenarios/python_peer.py [--port 8000] [--upstream http://127.0.0.1:3000]

Needs ``pip install 'plait[bench]'`` (strawberry-graphql). Serves ``POST /graphql``.
"""
from __future__ import annotations

import argparse
import asyncio
from typing import Any

import strawberry
from aiohttp import ClientSession, TCPConnector, web
from strawberry.aiohttp.views import GraphQLView
from strawberry.dataloader import DataLoader
from strawberry.extensions import ParserCache, ValidationCache

SESSION = web.AppKey("session", ClientSession)
UPSTREAM = web.AppKey("upstream", str)


@strawberry.type
class User:
    id: int
    name: str
    username: str
    email: str
    phone: str | None
    website: str | None


@strawberry.type
class Post:
    id: int
    user_id: int
    title: str
    body: str

    @strawberry.field
    async def user(self, info: strawberry.Info) -> User | None:
        return await info.context["user_loader"].load(self.user_id)


@strawberry.type
class Query:
    @strawberry.field
    def greet(self) -> str:
        return "Hello World!"

    @strawberry.field
    async def posts(self, info: strawberry.Info) -> list[Post] | None:
        session, base = info.context["session"], info.context["upstream"]
        async with session.get(f"{base}/posts") as response:
            rows = await response.json()
        return [Post(id=r["id"], user_id=r["userId"], title=r["title"], body=r["body"])
                for r in rows]


USER_FIELDS = ("id", "name", "username", "email", "phone", "website")


def user_loader(session: ClientSession, base: str) -> DataLoader[int, User | None]:
    async def fetch(user_id: int) -> User | None:
        async with session.get(f"{base}/users/{user_id}") as response:
            if response.status != 200:
                return None
            row = await response.json()
        return User(**{k: row.get(k) for k in USER_FIELDS})

    async def load(keys: list[int]) -> list[User | None]:
        return list(await asyncio.gather(*(fetch(k) for k in keys)))

    return DataLoader(load_fn=load)


class View(GraphQLView):
    async def get_context(self, request: web.Request, response: Any) -> dict[str, Any]:
        session, base = request.app[SESSION], request.app[UPSTREAM]
        return {"session": session, "upstream": base,
                "user_loader": user_loader(session, base)}


def make_app(upstream: str) -> web.Application:
    app = web.Application()
    app[UPSTREAM] = upstream.rstrip("/")

    async def session_ctx(app: web.Application) -> Any:
        app[SESSION] = ClientSession(connector=TCPConnector(limit=200))
        yield
        await app[SESSION].close()

    app.cleanup_ctx.append(session_ctx)
    # ParserCache/ValidationCache: Strawberry's documented extensions that keep parsed and
    # validated documents (plait plans each operation once, too); answers are not cached.
    schema = strawberry.Schema(query=Query, extensions=[ParserCache(maxsize=100),
                                                        ValidationCache(maxsize=100)])
    app.router.add_route("*", "/graphql", View(schema=schema))
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--upstream", default="http://127.0.0.1:3000")
    args = parser.parse_args()
    try:
        import uvloop
        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    web.run_app(make_app(args.upstream), host=args.host, port=args.port, access_log=None,
                loop=loop)


if __name__ == "__main__":
    main()
