"""The Toxiproxy 2.x HTTP API: routes, status codes and JSON shapes of Shopify's api.go."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from chaos.toxiproxy import api_errors
from chaos.toxiproxy.api_errors import ApiError
from chaos.toxiproxy.definitions import (
    decode_json_body,
    parse_new_proxy,
    parse_new_toxic,
    parse_populate,
    parse_proxy_update,
    parse_toxic_update,
)
from chaos.toxiproxy.http_protocol import HttpRequest, HttpResponse
from chaos.toxiproxy.proxy_collection import ProxyCollection

# The Toxiproxy release whose API this server reproduces.
TOXIPROXY_API_VERSION = "2.12.0"

Route = Callable[[HttpRequest, list[str]], Awaitable[HttpResponse]]


class ToxiproxyApi:
    def __init__(self, collection: ProxyCollection) -> None:
        self.collection = collection
        # One request at a time: handlers await (listen, close), and two interleaved creates
        # of one name must not both pass the existence check.
        self.lock = asyncio.Lock()
        self.routes: dict[tuple[str, int], dict[str, Route]] = {
            ("reset", 1): {"POST": self.reset},
            ("version", 1): {"GET": self.version},
            ("populate", 1): {"POST": self.populate},
            ("proxies", 1): {"GET": self.proxy_index, "POST": self.proxy_create},
            ("proxies", 2): {"GET": self.proxy_show, "POST": self.proxy_update, "PATCH": self.proxy_update,
                             "DELETE": self.proxy_delete},
            ("proxies", 3): {"GET": self.toxic_index, "POST": self.toxic_create},
            ("proxies", 4): {"GET": self.toxic_show, "POST": self.toxic_update, "PATCH": self.toxic_update,
                             "DELETE": self.toxic_delete},
        }

    async def handle(self, request: HttpRequest) -> HttpResponse:
        if request.headers.get("user-agent", "").startswith("Mozilla/"):
            # Toxiproxy refuses browsers so that a web page cannot drive it (CSRF).
            return HttpResponse(403, b"User agent not allowed\n", "text/plain; charset=utf-8")
        segments = request.path.strip("/").split("/")
        if len(segments) in (3, 4) and segments[2] != "toxics":
            segments = []
        methods = self.routes.get((segments[0], len(segments))) if segments else None
        if methods is None:
            return HttpResponse(404, b"404 page not found\n", "text/plain; charset=utf-8")
        route = methods.get(request.method)
        if route is None:
            return HttpResponse(405, b"", "text/plain; charset=utf-8")
        async with self.lock:
            try:
                return await route(request, segments)
            except ApiError as error:
                return HttpResponse.json(error.status, error.to_json())

    async def reset(self, request: HttpRequest, segments: list[str]) -> HttpResponse:
        await self.collection.reset()
        return HttpResponse(204)

    async def version(self, request: HttpRequest, segments: list[str]) -> HttpResponse:
        return HttpResponse.json(200, {"version": TOXIPROXY_API_VERSION})

    async def populate(self, request: HttpRequest, segments: list[str]) -> HttpResponse:
        try:
            all_fields = parse_populate(decode_json_body(request.body))
        except ApiError as error:
            return HttpResponse.json(error.status, {**error.to_json(), "proxies": None})
        proxies = []
        try:
            for fields in all_fields:
                proxies.append(await self.collection.add_or_replace(fields))
        except ApiError as error:
            return HttpResponse.json(error.status, {**error.to_json(), "proxies": None})
        return HttpResponse.json(201, {"proxies": [proxy.to_json() for proxy in proxies]})

    async def proxy_index(self, request: HttpRequest, segments: list[str]) -> HttpResponse:
        return HttpResponse.json(200, {name: proxy.to_json() for name, proxy in self.collection.proxies.items()})

    async def proxy_create(self, request: HttpRequest, segments: list[str]) -> HttpResponse:
        fields = parse_new_proxy(decode_json_body(request.body))
        proxy = await self.collection.add(fields)
        return HttpResponse.json(201, proxy.to_json())

    async def proxy_show(self, request: HttpRequest, segments: list[str]) -> HttpResponse:
        return HttpResponse.json(200, self.collection.get(segments[1]).to_json())

    async def proxy_update(self, request: HttpRequest, segments: list[str]) -> HttpResponse:
        proxy = self.collection.get(segments[1])
        fields = parse_proxy_update(proxy.fields, decode_json_body(request.body))
        await self.collection.update(segments[1], fields)
        return HttpResponse.json(200, proxy.to_json())

    async def proxy_delete(self, request: HttpRequest, segments: list[str]) -> HttpResponse:
        await self.collection.remove(segments[1])
        return HttpResponse(204)

    async def toxic_index(self, request: HttpRequest, segments: list[str]) -> HttpResponse:
        proxy = self.collection.get(segments[1])
        return HttpResponse.json(200, [toxic.to_json() for toxic in proxy.toxics_in_order()])

    async def toxic_create(self, request: HttpRequest, segments: list[str]) -> HttpResponse:
        proxy = self.collection.get(segments[1])
        toxic = parse_new_toxic(decode_json_body(request.body), set(proxy.toxics))
        proxy.add_toxic(toxic)
        return HttpResponse.json(200, toxic.to_json())

    async def toxic_show(self, request: HttpRequest, segments: list[str]) -> HttpResponse:
        toxic = self.collection.get(segments[1]).toxics.get(segments[3])
        if toxic is None:
            raise api_errors.toxic_not_found()
        return HttpResponse.json(200, toxic.to_json())

    async def toxic_update(self, request: HttpRequest, segments: list[str]) -> HttpResponse:
        proxy = self.collection.get(segments[1])
        current = proxy.toxics.get(segments[3])
        if current is None:
            raise api_errors.toxic_not_found()
        toxic = parse_toxic_update(current, decode_json_body(request.body))
        proxy.update_toxic(toxic)
        return HttpResponse.json(200, toxic.to_json())

    async def toxic_delete(self, request: HttpRequest, segments: list[str]) -> HttpResponse:
        proxy = self.collection.get(segments[1])
        if segments[3] not in proxy.toxics:
            raise api_errors.toxic_not_found()
        proxy.remove_toxic(segments[3])
        return HttpResponse(204)
