"""One Toxiproxy proxy per directed link of the cluster, and the toxics that cut, slow or throttle them.

A process reaches a peer through `topology.links[source][target]` when that is set, so a proxy named
`<source>--<target>` listening on loopback and forwarding to the target's real address puts chaos in
front of exactly the connection `source` opens to `target`. On that connection the source's bytes
travel on the proxy's `upstream` stream and the target's answers on `downstream`.

Talks to the Toxiproxy 2.x HTTP API with the standard library alone, so it works against our server
(chaos/toxiproxy) and against a real Toxiproxy given by URL.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cluster.deploy.listen_ports import free_listen_port
from cluster.runtime.topology import Topology

UPSTREAM = "upstream"  # bytes the source sends to the target
DOWNSTREAM = "downstream"  # bytes the target sends back to the source on the source's connection
STREAMS = (UPSTREAM, DOWNSTREAM)
PROXY_NAME_SEPARATOR = "--"
# Which roles open connections to which: the links chaos may cut. Routers are never connected to (the
# clients reach them directly), and status probes bypass the proxies on purpose so that the harness can
# still see an isolated process.
LINKED_ROLES = (
    ("router", "node"),
    ("router", "metadata"),
    ("node", "node"),
    ("node", "metadata"),
    ("metadata", "metadata"),
)
API_TIMEOUT_S = 10.0
CREATE_ATTEMPTS = 3


class ToxiproxyApiError(Exception):
    """The Toxiproxy API refused a request or could not be reached; the message names the URL and the answer."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, order=True)
class LinkStream:
    """One direction of bytes on one proxied link: what a single toxic spoils."""

    source: str
    target: str
    stream: str

    @property
    def proxy(self) -> str:
        return proxy_name(self.source, self.target)

    def describe(self) -> str:
        return f"{self.proxy}:{self.stream}"


def proxy_name(source: str, target: str) -> str:
    return f"{source}{PROXY_NAME_SEPARATOR}{target}"


def directed_links(topology: Topology) -> list[tuple[str, str]]:
    """Every (source, target) connection the processes of `topology` open to one another, sorted."""
    links = []
    for source_role, target_role in LINKED_ROLES:
        for source in topology.by_role(source_role):
            for target in topology.by_role(target_role):
                if source.process_id != target.process_id:
                    links.append((source.process_id, target.process_id))
    return sorted(links)


def traffic_streams(
    links: Iterable[tuple[str, str]], senders: Iterable[str], receivers: Iterable[str]
) -> list[LinkStream]:
    """The link streams that carry bytes sent by any of `senders` to any of `receivers`.

    A sender's bytes go upstream on its own connections and downstream on connections the receiver
    opened to it (answers to the receiver's requests); cutting exactly these is a one-way partition.
    """
    sender_set, receiver_set = set(senders), set(receivers)
    streams = []
    for source, target in links:
        if source in sender_set and target in receiver_set:
            streams.append(LinkStream(source, target, UPSTREAM))
        if target in sender_set and source in receiver_set:
            streams.append(LinkStream(source, target, DOWNSTREAM))
    return sorted(set(streams))


def _unused_loopback_port(avoid: set[int]) -> int:
    """A loopback port free right now and not in `avoid`, below the ephemeral range (listen_ports.py)."""
    return free_listen_port("127.0.0.1", avoid)


def _port_free(address: str) -> bool:
    host, _, port = address.rpartition(":")
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, int(port)))
        except OSError:
            return False
    return True


class ProxiedLinks:
    """The proxies of one cluster on one Toxiproxy server, and the toxics applied to them."""

    def __init__(
        self, topology: Topology, toxiproxy_url: str, api_timeout_s: float = API_TIMEOUT_S,
        listen_host: str = "127.0.0.1", dial_host: str | None = None,
    ) -> None:
        """`listen_host`/`dial_host`: where the proxies listen and the host name processes dial them by.
        The defaults suit a server on this machine; a server in a container listens on 0.0.0.0 and is
        dialled by its container name (the Docker backend)."""
        self.topology = topology
        self.url = toxiproxy_url.rstrip("/")
        self.api_timeout_s = api_timeout_s
        self.listen_host = listen_host
        self.dial_host = dial_host

    # ---- the API ---------------------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.api_timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            detail = error.read()[:300].decode(errors="replace")
            raise ToxiproxyApiError(f"{method} {self.url}{path} answered {error.code}: {detail}", error.code) from error
        except (urllib.error.URLError, OSError) as error:
            raise ToxiproxyApiError(
                f"cannot reach the Toxiproxy API at {self.url} ({error}); is the server running?"
            ) from error
        return json.loads(raw) if raw.strip() else None

    def version(self) -> str:
        answer = self._request("GET", "/version")
        # Toxiproxy before 2.6 answered plain text; ours and later ones answer {"version": ...}.
        return str(answer.get("version")) if isinstance(answer, dict) else str(answer)

    def proxies(self) -> dict[str, dict[str, Any]]:
        return dict(self._request("GET", "/proxies") or {})

    # ---- creating the proxies --------------------------------------------------------------------------

    def create(self, preferred_listen: Mapping[str, Mapping[str, str]] | None = None) -> dict[str, dict[str, str]]:
        """Creates (or keeps) one proxy per directed link in a single POST /populate; returns `links`.

        `preferred_listen` is a previous `links` mapping: a proxy is recreated on its old port when that
        port is free (or already ours), so processes still running with the old topology keep working.
        """
        preferred_listen = preferred_listen or {}
        existing = self.proxies()
        for attempt in range(CREATE_ATTEMPTS):
            definitions = self._definitions(preferred_listen if attempt == 0 else {}, existing)
            try:
                answer = self._request("POST", "/populate", definitions)
                break
            except ToxiproxyApiError as error:
                # A chosen port was taken between our check and the server's bind: choose again.
                if error.status is None or attempt == CREATE_ATTEMPTS - 1:
                    raise
        links: dict[str, dict[str, str]] = {}
        for proxy in answer["proxies"]:
            source, _, target = proxy["name"].partition(PROXY_NAME_SEPARATOR)
            listen = proxy["listen"]
            dial = f"{self.dial_host}:{listen.rpartition(':')[2]}" if self.dial_host else _loopback_address(listen)
            links.setdefault(source, {})[target] = dial
        return links

    def _definitions(
        self, preferred_listen: Mapping[str, Mapping[str, str]], existing: Mapping[str, Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """Proxy definitions with explicit listen ports.

        Not port 0: the processes' own ports were only probed free, not yet bound, and the kernel could
        hand one of them to a proxy; so ports are picked here, away from every process's port.
        """
        avoid = {spec.port for spec in self.topology.processes}
        definitions = []
        for source, target in directed_links(self.topology):
            name = proxy_name(source, target)
            spec = self.topology.get(target)
            previous = preferred_listen.get(source, {}).get(target)
            reusable = (
                previous is not None
                and int(previous.rpartition(":")[2]) not in avoid
                and (existing.get(name, {}).get("listen") == previous or _port_free(previous))
            )
            # Another server's ports are its own: reuse is only checked for one on this machine.
            reusable = reusable and self.dial_host is None
            listen = previous if reusable and previous else f"{self.listen_host}:{_unused_loopback_port(avoid)}"
            avoid.add(int(listen.rpartition(":")[2]))
            definitions.append({"name": name, "listen": listen, "upstream": f"{spec.host}:{spec.port}", "enabled": True})
        return definitions

    # ---- toxics ----------------------------------------------------------------------------------------

    def add_toxic(self, link: LinkStream, name: str, toxic_type: str, attributes: Mapping[str, int]) -> str:
        """Adds one toxic (idempotent: a toxic of that name already there counts as added); returns its name."""
        body = {"name": name, "type": toxic_type, "stream": link.stream, "toxicity": 1.0, "attributes": dict(attributes)}
        try:
            self._request("POST", f"/proxies/{link.proxy}/toxics", body)
        except ToxiproxyApiError as error:
            if error.status != 409:
                raise
        return name

    def remove_toxic(self, proxy: str, name: str) -> bool:
        """Removes one toxic; False when it was not there (already healed), so heal is idempotent."""
        try:
            self._request("DELETE", f"/proxies/{proxy}/toxics/{name}")
        except ToxiproxyApiError as error:
            if error.status == 404:
                return False
            raise
        return True

    def cut(self, source: str, target: str, streams: Iterable[str] = STREAMS, label: str = "cut") -> list[str]:
        """Black-holes the link: a `timeout` toxic with timeout 0 drops every byte and never closes.

        Chosen over disabling the proxy because a partition drops packets rather than refusing
        connections (callers see timeouts, i.e. unknown outcomes, as they would on a real network),
        because it can cut one stream only, and because two faults may cut the same link and each must
        heal only its own toxic.
        """
        return [
            self.add_toxic(LinkStream(source, target, stream), f"{label}-{stream}", "timeout", {"timeout": 0})
            for stream in streams
        ]

    def add_latency(
        self, source: str, target: str, latency_ms: int, jitter_ms: int = 0, streams: Iterable[str] = STREAMS,
        label: str = "latency",
    ) -> list[str]:
        """Delays each stream by latency_ms ± jitter_ms (both streams: a round trip gains twice latency_ms)."""
        attributes = {"latency": int(latency_ms), "jitter": int(jitter_ms)}
        return [
            self.add_toxic(LinkStream(source, target, stream), f"{label}-{stream}", "latency", attributes)
            for stream in streams
        ]

    def limit_bandwidth(
        self, source: str, target: str, rate_kilobytes_per_s: int, streams: Iterable[str] = STREAMS,
        label: str = "bandwidth",
    ) -> list[str]:
        return [
            self.add_toxic(
                LinkStream(source, target, stream), f"{label}-{stream}", "bandwidth", {"rate": int(rate_kilobytes_per_s)}
            )
            for stream in streams
        ]

    def heal(self, source: str, target: str) -> list[str]:
        """Removes every toxic of the link source→target and enables its proxy; returns the toxics removed."""
        name = proxy_name(source, target)
        proxy = self._request("GET", f"/proxies/{name}")
        removed = [toxic["name"] for toxic in proxy.get("toxics") or [] if self.remove_toxic(name, toxic["name"])]
        if not proxy.get("enabled", True):
            self._request("POST", f"/proxies/{name}", {"enabled": True})
        return removed

    def heal_all(self) -> None:
        """POST /reset: every proxy of the server enabled, every toxic removed."""
        self._request("POST", "/reset")

    def toxics_active(self) -> list[dict[str, Any]]:
        """Everything chaos left behind on this cluster's proxies: each toxic, and each disabled proxy."""
        names = {proxy_name(source, target) for source, target in directed_links(self.topology)}
        left = []
        for name, proxy in sorted(self.proxies().items()):
            if name not in names:
                continue
            if not proxy.get("enabled", True):
                left.append({"proxy": name, "disabled": True})
            for toxic in proxy.get("toxics") or []:
                left.append({"proxy": name, "toxic": toxic["name"], "type": toxic["type"], "stream": toxic["stream"]})
        return left


def _loopback_address(listen: str) -> str:
    """Toxiproxy may report `[::]:port` or `:port` for a wildcard listen; the processes dial loopback."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"{host}:{port}"
