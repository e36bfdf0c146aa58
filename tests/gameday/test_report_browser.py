"""report.html in a real browser: headless Chromium (Debian's ``chromium``) opens a game day's report,
the test fails on any console error, checks the plots are laid out and drawn, and leaves a screenshot
``report.png`` in the run directory.

Chromium is driven over the DevTools protocol with a small WebSocket client of the standard library
(no new dependency): its ``Runtime``, ``Log`` and ``Page`` events catch script errors, ``console.error``
and failed loads alike, which ``--enable-logging`` would mix with plain logs or miss.

Without Chromium the tests skip and say why; with ``REQUIRE_BROWSER=1`` (CI) they fail instead.
``GAMEDAY_REPORT_RUN_DIR=runs/...`` also checks the report of a real game day (run ``gameday run`` first).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import time
import urllib.request
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from gameday.report import render_report
from tests.gameday.test_gameday_report import build_canaries, build_history, build_summary

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
VIEWPORT_WIDTH_PX = 1280
VIEWPORT_HEIGHT_PX = 900
STARTUP_TIMEOUT_S = 30.0
CALL_TIMEOUT_S = 30.0
# Enough pixels of a series' colour inside the plot frame that a line, not a stray dot, was painted.
MIN_SERIES_PIXELS = 20
COLOUR_TOLERANCE = 48  # per channel: anti-aliasing blends the line into the white background
WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


# ---- a minimal WebSocket client (RFC 6455, text frames, client side) --------------------------------


class WebSocket:
    def __init__(self, url: str, timeout_s: float) -> None:
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        self._socket = socket.create_connection((host, port), timeout=timeout_s)
        self._buffer = b""
        key = base64.b64encode(os.urandom(16)).decode()
        self._socket.sendall(
            f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        while b"\r\n\r\n" not in self._buffer:
            self._receive_more()
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        expected = base64.b64encode(hashlib.sha1((key + WEBSOCKET_GUID).encode()).digest()).decode()
        if not head.startswith(b"HTTP/1.1 101") or expected.encode() not in head:
            raise ConnectionError(f"WebSocket handshake refused: {head.decode(errors='replace')[:300]}")

    def send_text(self, text: str) -> None:
        payload = text.encode()
        mask = os.urandom(4)
        header = bytes([0x81])  # FIN + text
        if len(payload) < 126:
            header += bytes([0x80 | len(payload)])
        elif len(payload) < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack(">H", len(payload))
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", len(payload))
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        self._socket.sendall(header + mask + masked)

    def receive_text(self) -> str:
        message = b""
        while True:
            first, second = self._read(2)
            length = second & 0x7F
            if length == 126:
                length = struct.unpack(">H", self._read(2))[0]
            elif length == 127:
                length = struct.unpack(">Q", self._read(8))[0]
            mask = self._read(4) if second & 0x80 else b""
            payload = self._read(length)
            if mask:
                payload = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
            opcode = first & 0x0F
            if opcode == 0x8:
                raise ConnectionError("the browser closed the DevTools connection")
            if opcode == 0x9:  # ping: answer, keep reading
                self._socket.sendall(bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
                continue
            message += payload
            if first & 0x80:
                return message.decode()

    def close(self) -> None:
        self._socket.close()

    def _read(self, count: int) -> bytes:
        while len(self._buffer) < count:
            self._receive_more()
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def _receive_more(self) -> None:
        chunk = self._socket.recv(1 << 16)
        if not chunk:
            raise ConnectionError("the browser closed the DevTools connection")
        self._buffer += chunk


# ---- DevTools protocol: one page ---------------------------------------------------------------------


@dataclass
class PageProblems:
    """What the page said was wrong, from the three channels Chromium reports on."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def collect(self, event: dict[str, Any]) -> None:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            description = details.get("exception", {}).get("description") or details.get("text", "exception")
            self.errors.append(f"uncaught: {description} ({details.get('url', '')}:{details.get('lineNumber', '?')})")
        elif method == "Runtime.consoleAPICalled":
            text = " ".join(str(arg.get("value", arg.get("description", ""))) for arg in params.get("args", []))
            if params.get("type") in ("error", "assert"):
                self.errors.append(f"console.{params['type']}: {text}")
            elif params.get("type") == "warning":
                self.warnings.append(f"console.warn: {text}")
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            line = f"{entry.get('source', 'log')}: {entry.get('text', '')} {entry.get('url', '')}".strip()
            if entry.get("level") == "error":
                self.errors.append(line)
            elif entry.get("level") == "warning":
                self.warnings.append(line)


class DevToolsPage:
    def __init__(self, websocket_url: str, port: int, target_id: str) -> None:
        self._socket = WebSocket(websocket_url, CALL_TIMEOUT_S)
        self._port, self._target_id = port, target_id
        self._next_id = 1
        self._events: list[dict[str, Any]] = []
        self.problems = PageProblems()

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = self._next_id
        self._next_id += 1
        self._socket.send_text(json.dumps({"id": call_id, "method": method, "params": params}))
        deadline = time.monotonic() + CALL_TIMEOUT_S
        while time.monotonic() < deadline:
            message = json.loads(self._socket.receive_text())
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._take(message)
        raise TimeoutError(f"no answer to {method} in {CALL_TIMEOUT_S} s")

    def wait_for(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + CALL_TIMEOUT_S
        while time.monotonic() < deadline:
            for index, event in enumerate(self._events):
                if event.get("method") == method:
                    return self._events.pop(index)
            self._take(json.loads(self._socket.receive_text()))
        raise TimeoutError(f"no {method} in {CALL_TIMEOUT_S} s")

    def settle(self) -> None:
        """Let events already sent arrive: a round trip the browser answers after them."""
        self.call("Runtime.evaluate", expression="1", returnByValue=True)

    def close(self) -> None:
        self._socket.close()
        with urllib.request.urlopen(f"http://127.0.0.1:{self._port}/json/close/{self._target_id}", timeout=CALL_TIMEOUT_S):
            pass

    def _take(self, event: dict[str, Any]) -> None:
        self.problems.collect(event)
        self._events.append(event)


@dataclass
class Browser:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def open_page(self) -> DevToolsPage:
        """A new tab: a reused one would replay the console messages of the page it showed before."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/json/new?about:blank", method="PUT")
        with urllib.request.urlopen(request, timeout=CALL_TIMEOUT_S) as answer:
            target = json.loads(answer.read())
        return DevToolsPage(target["webSocketDebuggerUrl"], self.port, target["id"])


def chromium_path() -> str | None:
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    executable = chromium_path()
    if executable is None:
        reason = "Chromium is not installed (Debian package chromium; .ci/install-system-packages installs it)"
        if os.environ.get("REQUIRE_BROWSER", "").strip() in {"1", "true", "yes"}:
            pytest.fail(f"{reason}; REQUIRE_BROWSER is set, so this is a failure, not a skip")
        pytest.skip(reason)
    profile = tmp_path_factory.mktemp("chromium-profile")
    log = profile.parent / "chromium.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [
                executable,
                "--headless=new",
                "--no-sandbox",  # we run as root in CI containers
                "--disable-gpu",
                "--remote-debugging-port=0",  # Chromium picks a free port and writes it down
                f"--user-data-dir={profile}",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--hide-scrollbars",
                f"--window-size={VIEWPORT_WIDTH_PX},{VIEWPORT_HEIGHT_PX}",
                "about:blank",
            ],
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,  # its own process group: the zygote and renderers go with it
        )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not (port_file.exists() and port_file.read_text().strip()):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Chromium did not start (exit {process.poll()}):\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)
        yield Browser(process, int(port_file.read_text().splitlines()[0]), log)
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):  # renderers outliving the browser process
        os.killpg(process.pid, signal.SIGKILL)


# ---- looking at a page -------------------------------------------------------------------------------

PLOT_PROBE = """
(() => [...document.querySelectorAll('svg.plot')].map(svg => {
  const box = svg.getBoundingClientRect();
  const frame = svg.querySelector('rect.frame').getBoundingClientRect();
  const inside = r => r.left >= frame.left - 1 && r.right <= frame.right + 1
                   && r.top >= frame.top - 1 && r.bottom <= frame.bottom + 1;
  return {
    title: svg.querySelector('title').textContent,
    width: box.width, height: box.height,
    frame: {x: frame.left + scrollX, y: frame.top + scrollY, width: frame.width, height: frame.height},
    series: [...svg.querySelectorAll('polyline.series')].map(line => {
      const r = line.getBoundingClientRect(), style = getComputedStyle(line);
      return {label: line.dataset.series, length: line.getTotalLength(), inside: inside(r),
              stroke: style.stroke, shown: style.display !== 'none' && style.visibility === 'visible'};
    }),
    faults: [...svg.querySelectorAll('rect.fault')].map(r => r.getBoundingClientRect().width),
  };
}))()
"""


@dataclass
class PageLook:
    problems: PageProblems
    plots: list[dict[str, Any]]
    screenshot: bytes
    plot_images: list[bytes]  # PNG of each plot's frame (the drawing area, legend left out)


def look_at(browser: Browser, url: str) -> PageLook:
    page = browser.open_page()
    try:
        for domain in ("Runtime", "Log", "Page"):
            page.call(f"{domain}.enable")
        page.call("Emulation.setDeviceMetricsOverride", width=VIEWPORT_WIDTH_PX, height=VIEWPORT_HEIGHT_PX,
                  deviceScaleFactor=1, mobile=False)
        page.call("Page.navigate", url=url)
        page.wait_for("Page.loadEventFired")
        page.settle()
        plots = page.call("Runtime.evaluate", expression=PLOT_PROBE, returnByValue=True)["result"].get("value", [])
        size = page.call("Page.getLayoutMetrics")["cssContentSize"]
        full = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        screenshot = page.call("Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=full)
        plot_images = [
            base64.b64decode(
                page.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                          clip={**plot["frame"], "scale": 1})["data"]
            )
            for plot in plots
        ]
        page.settle()
        return PageLook(page.problems, plots, base64.b64decode(screenshot["data"]), plot_images)
    finally:
        page.close()


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def decode_png(data: bytes) -> tuple[int, int, list[tuple[int, int, int]]]:
    """(width, height, RGB pixels) of an 8-bit RGB or RGBA PNG, as Chromium writes them."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, idat, header = 8, b"", b""
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        chunk = data[position + 8:position + 8 + length]
        header = chunk if kind == b"IHDR" else header
        idat += chunk if kind == b"IDAT" else b""
        position += 12 + length
    width, height, depth, colour_type = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour_type in (2, 6), f"unexpected PNG format: depth {depth}, colour type {colour_type}"
    channels = 3 if colour_type == 2 else 4
    stride = width * channels
    raw = zlib.decompress(idat)
    rows: list[bytearray] = []
    previous = bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                upper_left = previous[i - channels] if i >= channels else 0
                estimate = left + up - upper_left
                distances = (abs(estimate - left), abs(estimate - up), abs(estimate - upper_left))
                line[i] = (line[i] + (left, up, upper_left)[distances.index(min(distances))]) & 0xFF
        rows.append(line)
        previous = line
    pixels = [(row[x], row[x + 1], row[x + 2]) for row in rows for x in range(0, stride, channels)]
    return width, height, pixels


def _rgb(css: str) -> tuple[int, int, int]:
    red, green, blue = (int(part) for part in css.removeprefix("rgb(").removesuffix(")").split(",")[:3])
    return red, green, blue


def pixels_near(pixels: list[tuple[int, int, int]], colour: tuple[int, int, int]) -> int:
    return sum(1 for pixel in pixels if all(abs(a - b) <= COLOUR_TOLERANCE for a, b in zip(pixel, colour, strict=True)))


# ---- the tests ---------------------------------------------------------------------------------------


def test_a_broken_page_is_caught(browser: Browser, tmp_path: Path) -> None:
    """The check can fail: a thrown error, console.error and a failed load each show up."""
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><body><p>broken</p><img src='missing.png'>"
        "<script>console.error('planted console error'); console.log('only a log');</script>"
        "<script>throw new Error('planted exception');</script></body></html>"
    )
    look = look_at(browser, page.as_uri())
    errors = "\n".join(look.problems.errors)
    assert "planted console error" in errors
    assert "planted exception" in errors
    assert "missing.png" in errors
    assert "only a log" not in errors
    assert look.plots == []


def _synthetic_run(run_dir: Path) -> Path:
    """A run directory as a game day records it, with one fault window (tests/gameday/test_gameday_report.py)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    build_history(run_dir)
    build_canaries(run_dir)
    build_summary(run_dir)
    render_report(run_dir)
    return run_dir


def _run_dirs(tmp_path: Path) -> list[Path]:
    runs = [_synthetic_run(tmp_path / "recorded-run")]
    real = os.environ.get("GAMEDAY_REPORT_RUN_DIR")
    if real:
        if not (Path(real) / "summary.json").exists():
            pytest.fail(f"GAMEDAY_REPORT_RUN_DIR={real}: no summary.json there")
        render_report(Path(real))
        runs.append(Path(real))
    return runs


def test_report_opens_without_console_errors_and_draws_its_plots(browser: Browser, tmp_path: Path) -> None:
    for run_dir in _run_dirs(tmp_path):
        look = look_at(browser, (run_dir / "report.html").resolve().as_uri())
        screenshot_path = run_dir / "report.png"
        screenshot_path.write_bytes(look.screenshot)

        assert look.problems.errors == [], f"{run_dir}/report.html: console errors:\n" + "\n".join(look.problems.errors)
        assert [plot["title"].split(" ")[0] for plot in look.plots] == ["Client", "Canary"], look.plots
        for plot, image in zip(look.plots, look.plot_images, strict=True):
            assert plot["width"] > 0 and plot["height"] > 0, plot
            assert plot["faults"] and all(width > 0 for width in plot["faults"]), f"no fault window shaded: {plot}"
            drawn = [series for series in plot["series"] if series["length"] > 0 and series["shown"]]
            assert len(drawn) >= 2, f"{plot['title']}: series drawn: {plot['series']}"
            assert all(series["inside"] for series in drawn), f"a series outside its frame: {plot}"
            # Painted, not only laid out. Only the last series is sure to be on top: equal series overlap
            # (p50 = p99 when every latency is the same).
            _, _, pixels = decode_png(image)
            painted = pixels_near(pixels, _rgb(drawn[-1]["stroke"]))
            assert painted >= MIN_SERIES_PIXELS, f"{plot['title']}: {drawn[-1]['label']} painted {painted} pixels"

        width, height = png_size(look.screenshot)
        assert width == VIEWPORT_WIDTH_PX and height > VIEWPORT_HEIGHT_PX // 2, (width, height)
        assert screenshot_path.stat().st_size > 20_000, "a near-empty screenshot"
