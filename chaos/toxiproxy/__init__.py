"""A Toxiproxy-API-compatible TCP fault-injection proxy (Shopify Toxiproxy 2.x), on asyncio.

Layers: `toxics` and `toxic_chain` are pure (timed chunk transformations); `proxied_connection`
and `proxy_runtime` move bytes; `definitions`, `api_routes` and `http_protocol` are the API;
`server` ties them; `subprocess_server` runs `gameday toxiproxy serve` for tests and the harness.
"""
