"""POSTs to a router's admin paths (cluster/router/admin_routes.py), for the faults that act through them."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

REQUEST_TIMEOUT_S = 2.0


def post_admin(url: str, path: str, payload: dict[str, Any] | None = None, timeout_s: float = REQUEST_TIMEOUT_S) -> dict[str, Any]:
    """The router's JSON answer, or {"error": ...} when it could not answer."""
    data = json.dumps(payload).encode() if payload is not None else b""
    request = urllib.request.Request(url.rstrip("/") + path, data=data, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            answer = json.loads(response.read() or b"{}")
            return answer if isinstance(answer, dict) else {"error": f"unexpected answer {answer!r}"}
    except urllib.error.HTTPError as error:
        return {"error": f"HTTP {error.code}: {error.read()[:200].decode(errors='replace')}"}
    except (urllib.error.URLError, OSError, ValueError) as error:
        return {"error": str(error)}
