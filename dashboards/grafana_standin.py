"""A stand-in for the part of Grafana's HTTP API that ``gameday dashboards push`` uses.

Grafana itself cannot be installed on our machines (DESIGN §6), so this small server speaks the same
endpoints, JSON shapes and status codes (Grafana 10/11's legacy ``/api``), and the tests drive it with
the real grafana-client:

- ``GET /api/health`` (no auth), ``GET /api/frontend/settings`` (``buildInfo``: grafana-client's health check)
- ``GET /api/folders``, ``GET /api/folders/{uid}``, ``POST /api/folders``
- ``POST /api/dashboards/db`` (create, or update by uid: 412 ``version-mismatch`` when the version sent is
  not the stored one and ``overwrite`` is false, 412 ``name-exists`` for a second title in a folder),
  ``GET`` and ``DELETE /api/dashboards/uid/{uid}``; a dashboard loaded with ``provision`` (as Grafana's
  file provisioning does) is refused with 400 ``Cannot save provisioned dashboard``
- ``POST /api/annotations``, ``GET /api/annotations`` (from, to, dashboardUID, dashboardId, panelId,
  tags (all must match), type, limit), ``DELETE /api/annotations/{id}``

Every endpoint but health wants ``Authorization: Bearer TOKEN`` with a token given at start: 401
otherwise. It is stricter than Grafana in one place: an annotation naming an unknown ``dashboardUID``
is refused (404) instead of stored unattached, so a push that misspells a uid fails a test.

The API logic (``GrafanaApiState.handle``) is separate from the HTTP shell (``GrafanaStandIn``).
Run one by hand: ``python -m dashboards.grafana_standin --port 3000 --token secret``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["STANDIN_VERSION", "GrafanaApiState", "GrafanaStandIn", "Reply"]

STANDIN_VERSION = "11.3.0"
STANDIN_COMMIT = "gameday-stand-in"
MAX_UID_LENGTH = 40  # Grafana's limit
DEFAULT_ANNOTATION_LIMIT = 100  # Grafana's default page of a find
MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_REMEMBERED_REQUESTS = 10_000


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any


def _message(http_status: int, message: str, **extra: Any) -> Reply:
    return Reply(http_status, {"message": message, **extra})


@dataclass
class _Dashboard:
    id: int
    uid: str
    title: str
    folder_uid: str
    version: int
    model: dict[str, Any]
    created: str
    updated: str
    provisioned: bool = False  # loaded from files: Grafana refuses to save it through the API


@dataclass
class _Folder:
    id: int
    uid: str
    title: str
    created: str


@dataclass
class GrafanaApiState:
    """Dashboards, folders and annotations of one organisation; every request goes through ``handle``."""

    tokens: frozenset[str]
    dashboards: dict[str, _Dashboard] = field(default_factory=dict)
    folders: dict[str, _Folder] = field(default_factory=dict)
    annotations: dict[int, dict[str, Any]] = field(default_factory=dict)
    # (method, path) as received, the latest only: a long-running stand-in must not grow without bound.
    requests: deque[tuple[str, str]] = field(default_factory=lambda: deque(maxlen=MAX_REMEMBERED_REQUESTS))
    _next_id: int = 1
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Reply:
        parts = urlsplit(target)
        path = parts.path.rstrip("/") or "/"
        query = parse_qs(parts.query, keep_blank_values=False)
        with self._lock:
            self.requests.append((method, target))
            if (method, path) == ("GET", "/api/health"):
                return Reply(200, {"commit": STANDIN_COMMIT, "database": "ok", "version": STANDIN_VERSION})
            refused = self._refuse_unauthorised(headers)
            if refused is not None:
                return refused
            payload: Any = None
            if method in ("POST", "PUT"):
                try:
                    payload = json.loads(body or b"null")
                except (json.JSONDecodeError, UnicodeDecodeError):
                    return _message(400, "bad request data")
            return self._route(method, path, query, payload)

    # ---- routing ---------------------------------------------------------------------------------

    def _route(self, method: str, path: str, query: dict[str, list[str]], payload: Any) -> Reply:
        if path == "/api/frontend/settings" and method == "GET":
            return Reply(200, {"appSubUrl": "", "buildInfo": self._build_info()})
        if path == "/api/folders":
            if method == "GET":
                return Reply(200, [{"id": f.id, "uid": f.uid, "title": f.title} for f in self.folders.values()])
            if method == "POST":
                return self._create_folder(payload)
        if match := re.fullmatch(r"/api/folders/([^/]+)", path):
            folder = self.folders.get(match.group(1))
            if method == "GET":
                return Reply(200, self._folder_body(folder)) if folder else _message(404, "folder not found")
        if path == "/api/dashboards/db" and method == "POST":
            return self._save_dashboard(payload)
        if match := re.fullmatch(r"/api/dashboards/uid/([^/]+)", path):
            if method == "GET":
                return self._get_dashboard(match.group(1))
            if method == "DELETE":
                return self._delete_dashboard(match.group(1))
        if path == "/api/annotations":
            if method == "POST":
                return self._add_annotation(payload)
            if method == "GET":
                return self._find_annotations(query)
        if (match := re.fullmatch(r"/api/annotations/(\d+)", path)) and method == "DELETE":
            if self.annotations.pop(int(match.group(1)), None) is None:
                return _message(404, "Annotation not found")
            return _message(200, "Annotation deleted")
        return _message(404, "Not found")

    def _refuse_unauthorised(self, headers: Mapping[str, str]) -> Reply | None:
        authorization = next((value for name, value in headers.items() if name.lower() == "authorization"), "")
        if not authorization:
            return _message(401, "Unauthorized")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or token.strip() not in self.tokens:
            return _message(401, "invalid API key")
        return None

    def _new_id(self) -> int:
        value = self._next_id
        self._next_id += 1
        return value

    @staticmethod
    def _build_info() -> dict[str, Any]:
        return {"version": STANDIN_VERSION, "commit": STANDIN_COMMIT, "edition": "Open Source", "env": "production"}

    # ---- folders ---------------------------------------------------------------------------------

    def _create_folder(self, payload: Any) -> Reply:
        if not isinstance(payload, dict):
            return _message(400, "bad request data")
        title = str(payload.get("title") or "").strip()
        if not title:
            return _message(400, "folder title cannot be empty")
        uid = str(payload.get("uid") or f"folder{self._next_id}")
        if len(uid) > MAX_UID_LENGTH:
            return _message(400, "uid too long, max 40 characters")
        if uid in self.folders:
            return _message(409, "a folder with the same uid already exists")
        if any(folder.title.lower() == title.lower() for folder in self.folders.values()):
            return _message(409, "a folder or dashboard in the general folder with the same name already exists")
        folder = _Folder(self._new_id(), uid, title, _now_iso())
        self.folders[uid] = folder
        return Reply(200, self._folder_body(folder))

    @staticmethod
    def _folder_body(folder: _Folder) -> dict[str, Any]:
        return {
            "id": folder.id,
            "uid": folder.uid,
            "title": folder.title,
            "url": f"/dashboards/f/{folder.uid}/{_slug(folder.title)}",
            "hasAcl": False,
            "canSave": True,
            "canEdit": True,
            "canAdmin": True,
            "created": folder.created,
            "updated": folder.created,
            "version": 1,
        }

    # ---- dashboards ------------------------------------------------------------------------------

    def _save_dashboard(self, payload: Any) -> Reply:
        """Grafana's save rules: find the stored dashboard by id or uid, refuse a stale version unless
        ``overwrite``, refuse a second dashboard of the same title in a folder unless ``overwrite``."""
        if not isinstance(payload, dict) or not isinstance(payload.get("dashboard"), dict):
            return _message(400, "bad request data")
        model = dict(payload["dashboard"])
        overwrite = payload.get("overwrite") is True
        title = str(model.get("title") or "").strip()
        if not title:
            return _message(400, "Dashboard title cannot be empty", status="empty-name")
        folder_uid = str(payload.get("folderUid") or "")
        if folder_uid and folder_uid not in self.folders:
            return _message(400, "folder not found", status="not-found")
        uid = str(model.get("uid") or "")
        if len(uid) > MAX_UID_LENGTH:
            return _message(400, "uid too long, max 40 characters", status="bad-uid")
        existing: _Dashboard | None = None
        if uid in self.dashboards and self.dashboards[uid].provisioned:
            return _message(400, "Cannot save provisioned dashboard")
        if model.get("id"):
            existing = next((d for d in self.dashboards.values() if d.id == model["id"]), None)
            if existing is None:
                return _message(404, "Dashboard not found", status="not-found")
            if uid and uid in self.dashboards and self.dashboards[uid] is not existing:
                return _message(400, "A dashboard with the same uid already exists", status="uid-exists")
        elif uid:
            existing = self.dashboards.get(uid)
        sent_version = model.get("version") or 0
        if existing is not None and sent_version != existing.version and not overwrite:
            return _message(412, "The dashboard has been changed by someone else", status="version-mismatch")
        namesake = next(
            (
                d for d in self.dashboards.values()
                if d is not existing and d.folder_uid == folder_uid and d.title.lower() == title.lower()
            ),
            None,
        )
        if namesake is not None:
            if not overwrite:
                return _message(412, "A dashboard with the same name in the folder already exists", status="name-exists")
            if existing is None:
                existing = namesake  # Grafana takes over the namesake's id and uid
            else:
                del self.dashboards[namesake.uid]
        now = _now_iso()
        if existing is None:
            uid = uid or f"standin{self._next_id}"
            dashboard = _Dashboard(self._new_id(), uid, title, folder_uid, 1, model, now, now)
        else:
            del self.dashboards[existing.uid]
            dashboard = _Dashboard(
                existing.id, existing.uid, title, folder_uid, existing.version + 1, model, existing.created, now
            )
        dashboard.model = {**model, "id": dashboard.id, "uid": dashboard.uid, "version": dashboard.version}
        self.dashboards[dashboard.uid] = dashboard
        return Reply(
            200,
            {
                "id": dashboard.id,
                "uid": dashboard.uid,
                "url": _dashboard_url(dashboard),
                "status": "success",
                "version": dashboard.version,
                "slug": _slug(dashboard.title),
                "folderUid": dashboard.folder_uid,
            },
        )

    def provision(self, model: Mapping[str, Any], folder_uid: str = "") -> None:
        """Load a dashboard as Grafana's file provisioning does (the compose file's Grafana)."""
        with self._lock:
            uid, now = str(model["uid"]), _now_iso()
            dashboard_id = self._new_id()
            version = int(model.get("version") or 1)
            stored = {**model, "id": dashboard_id, "version": version}
            self.dashboards[uid] = _Dashboard(
                dashboard_id, uid, str(model["title"]), folder_uid, version, stored, now, now, provisioned=True
            )

    def _get_dashboard(self, uid: str) -> Reply:
        dashboard = self.dashboards.get(uid)
        if dashboard is None:
            return _message(404, "Dashboard not found")
        folder = self.folders.get(dashboard.folder_uid)
        meta = {
            "type": "db",
            "canSave": True,
            "canEdit": True,
            "slug": _slug(dashboard.title),
            "url": _dashboard_url(dashboard),
            "created": dashboard.created,
            "updated": dashboard.updated,
            "version": dashboard.version,
            "folderId": folder.id if folder else 0,
            "folderUid": dashboard.folder_uid,
            "folderTitle": folder.title if folder else "General",
            "provisioned": dashboard.provisioned,
        }
        return Reply(200, {"dashboard": dashboard.model, "meta": meta})

    def _delete_dashboard(self, uid: str) -> Reply:
        dashboard = self.dashboards.pop(uid, None)
        if dashboard is None:
            return _message(404, "Dashboard not found")
        for annotation_id in [i for i, a in self.annotations.items() if a["dashboardUID"] == uid]:
            del self.annotations[annotation_id]
        return Reply(200, {"id": dashboard.id, "title": dashboard.title, "message": f"Dashboard {dashboard.title} deleted"})

    # ---- annotations -----------------------------------------------------------------------------

    def _add_annotation(self, payload: Any) -> Reply:
        if not isinstance(payload, dict):
            return _message(400, "bad request data")
        text = payload.get("text")
        if not isinstance(text, str) or not text:
            return _message(400, "Failed to save annotation: text is required")
        tags = payload.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            return _message(400, "bad request data: tags must be a list of strings")
        dashboard_uid = payload.get("dashboardUID") or ""
        dashboard_id = payload.get("dashboardId") or 0
        if dashboard_uid:
            dashboard = self.dashboards.get(str(dashboard_uid))
            if dashboard is None:
                return _message(404, "Dashboard not found")
            dashboard_id = dashboard.id
        now_ms = int(time.time() * 1000)
        start_ms = _int_or(payload.get("time"), now_ms) or now_ms
        end_ms = _int_or(payload.get("timeEnd"), start_ms) or start_ms
        annotation_id = self._new_id()
        self.annotations[annotation_id] = {
            "id": annotation_id,
            "alertId": 0,
            "alertName": "",
            "dashboardId": dashboard_id,
            "dashboardUID": str(dashboard_uid) if dashboard_uid else None,
            "panelId": _int_or(payload.get("panelId"), 0),
            "userId": 1,
            "newState": "",
            "prevState": "",
            "created": now_ms,
            "updated": now_ms,
            "time": start_ms,
            "timeEnd": end_ms,
            "text": text,
            "tags": tags,
            "login": "admin",
            "email": "admin@localhost",
            "avatarUrl": "",
            "data": {},
        }
        return Reply(200, {"message": "Annotation added", "id": annotation_id})

    def _find_annotations(self, query: dict[str, list[str]]) -> Reply:
        def first(name: str) -> str | None:
            values = query.get(name)
            return values[0] if values else None

        try:
            time_from = int(first("from")) if first("from") else None
            time_to = int(first("to")) if first("to") else None
            limit = int(first("limit")) if first("limit") else DEFAULT_ANNOTATION_LIMIT
            dashboard_id = int(first("dashboardId")) if first("dashboardId") else None
            panel_id = int(first("panelId")) if first("panelId") else None
        except ValueError:
            return _message(400, "bad request data")
        wanted_tags = set(query.get("tags", []))
        dashboard_uid = first("dashboardUID")
        kind = first("type")
        found = [
            annotation for annotation in self.annotations.values()
            if (time_to is None or annotation["time"] <= time_to)
            and (time_from is None or annotation["timeEnd"] >= time_from)
            and (dashboard_uid is None or annotation["dashboardUID"] == dashboard_uid)
            and (dashboard_id is None or annotation["dashboardId"] == dashboard_id)
            and (panel_id is None or annotation["panelId"] == panel_id)
            and wanted_tags <= set(annotation["tags"])
            and (kind != "alert" or annotation["alertId"] > 0)
            and (kind != "annotation" or annotation["alertId"] == 0)
        ]
        # Grafana's order: newest first.
        found.sort(key=lambda annotation: (annotation["time"], annotation["timeEnd"], annotation["id"]), reverse=True)
        return Reply(200, found[: max(limit, 0)])


def _int_or(value: Any, default: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return int(value)


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def _dashboard_url(dashboard: _Dashboard) -> str:
    return f"/d/{dashboard.uid}/{_slug(dashboard.title)}"


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# ---- the HTTP shell --------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as grafana-client's session expects
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._send(_message(413, "request too large"))
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        try:
            reply = self.server.state.handle(self.command, self.path, dict(self.headers.items()), body)
        except Exception as error:  # a stand-in bug must reach the client as Grafana's 500, not a hang
            traceback.print_exc()
            reply = _message(500, f"stand-in error: {type(error).__name__}: {error}")
        self._send(reply)

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def _send(self, reply: Reply) -> None:
        data = json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # requests are kept in state.requests; stderr stays for errors


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: GrafanaApiState


class GrafanaStandIn:
    """The server on a thread; ``with GrafanaStandIn(tokens=["t"]) as grafana: grafana.url``."""

    def __init__(self, tokens: Iterable[str], host: str = "127.0.0.1", port: int = 0) -> None:
        tokens = frozenset(tokens)
        if not tokens or not all(tokens):
            raise ValueError("the stand-in needs at least one non-empty token")
        self.state = GrafanaApiState(tokens)
        self._server = _Server((host, port), _Handler)
        self._server.state = self.state
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> GrafanaStandIn:
        self._thread = threading.Thread(target=self._server.serve_forever, name="grafana-stand-in", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._server.server_close()

    def serve_forever(self) -> None:
        """Serve on the calling thread until Ctrl-C; closes the socket either way."""
        try:
            self._server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self._server.server_close()

    def __enter__(self) -> GrafanaStandIn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A stand-in for Grafana's dashboard, folder and annotation API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--token", action="append", required=True, help="an accepted bearer token (repeatable)")
    args = parser.parse_args(argv)
    try:
        stand_in = GrafanaStandIn(args.token, args.host, args.port)
    except (OSError, ValueError) as error:
        print(f"grafana stand-in: {error}", file=sys.stderr)
        return 2
    print(f"Grafana API stand-in on {stand_in.url}", flush=True)
    stand_in.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
