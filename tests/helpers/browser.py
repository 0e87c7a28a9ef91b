"""A headless Chromium driven over the DevTools protocol on a pipe: no download, no package.

``Browser`` starts the system ``chromium`` with ``--remote-debugging-pipe`` (commands on
file descriptor 3, events and replies on 4, NUL-terminated JSON), opens one tab with the
network emulated offline, and records what the tests assert on: console messages and
exceptions, and every request the page makes.

``find_chromium()`` returns the browser's path or ``None``; ``require_browser()`` is the
skip-or-fail rule of the browser tests (``HAMUX_REQUIRE_BROWSER=1`` turns a missing
browser into a failure: CI sets it).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

import pytest


CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL = "install the Debian package 'chromium' (apt-get install -y chromium)"


def find_chromium() -> str | None:
    """The Chromium executable: ``$HAMUX_CHROMIUM``, or the first of ``CANDIDATES`` on PATH."""
    given = os.environ.get("HAMUX_CHROMIUM")
    if given:
        return given if os.path.exists(given) else None
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def require_browser() -> str:
    """The browser's path; skips the test without one, fails with ``HAMUX_REQUIRE_BROWSER=1``."""
    path = find_chromium()
    if path is None:
        reason = f"no Chromium found: {INSTALL}, or set HAMUX_CHROMIUM to its path"
        if os.environ.get("HAMUX_REQUIRE_BROWSER") == "1":
            pytest.fail(f"HAMUX_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    return path


class BrowserError(RuntimeError):
    """The browser did not answer, or answered with an error."""


class Browser:
    """One headless Chromium with one tab (see the module docstring)."""

    def __init__(
        self, executable: str, *, width: int = 1200, height: int = 800, timeout: float = 30.0, loopback: bool = False
    ):
        """``loopback=True``: the tab may reach 127.0.0.1 (a test's own server); every other host
        still fails (its name does not resolve, and the proxy it is sent to is closed)."""
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="hamux-chromium-")
        to_child_r, self._w = os.pipe()
        self._r, from_child_w = os.pipe()
        # The child must find the pipes at fds 3 and 4. A small Python launcher moves them
        # there, so this process never forks itself (unsafe with JAX's threads running).
        a = fcntl.fcntl(to_child_r, fcntl.F_DUPFD, 10)
        b = fcntl.fcntl(from_child_w, fcntl.F_DUPFD, 10)
        os.close(to_child_r)
        os.close(from_child_w)
        args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--remote-debugging-pipe",
            f"--user-data-dir={self.profile}",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--mute-audio",
            "--host-resolver-rules=MAP * ~NOTFOUND" + (", EXCLUDE 127.0.0.1" if loopback else ""),
            "--proxy-server=127.0.0.1:9",
            "--proxy-bypass-list=" + ("127.0.0.1" if loopback else "<-loopback>"),
            f"--window-size={width},{height}",
            "about:blank",
        ]
        launch = (
            f"import os, sys; os.dup2({a}, 3); os.dup2({b}, 4); os.close({a}); os.close({b}); "
            "os.execv(sys.argv[1], sys.argv[1:])"
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", launch, executable, *args],
            pass_fds=(a, b),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(a)
        os.close(b)
        self._buf = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")
        self.call(
            "Network.emulateNetworkConditions",
            {"offline": not loopback, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    # ---- the protocol ----------------------------------------------------------------------

    def _message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._r], [], [], left)[0]:
                raise BrowserError("Chromium did not answer in time")
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise BrowserError("Chromium closed the pipe")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict[str, Any]:
        """Send one command and wait for its reply (events meanwhile are recorded)."""
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            m = self._message(deadline)
            if m.get("id") == self._id:
                if "error" in m:
                    raise BrowserError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def call(self, method: str, params: dict | None = None) -> dict[str, Any]:
        """A command to the tab."""
        return self.send(method, params, self.session)

    def wait_event(self, method: str, start: int = 0) -> dict[str, Any]:
        """Wait for an event (looking at events recorded from index ``start`` on)."""
        deadline = time.monotonic() + self.timeout
        while True:
            for e in self.events[start:]:
                if e.get("method") == method:
                    return e
            self.events.append(self._message(deadline))

    # ---- what the tests use -----------------------------------------------------------------

    def open(self, url: str) -> None:
        """Navigate and wait for the load event."""
        start = len(self.events)
        self.call("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired", start)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (exceptions raise ``BrowserError``)."""
        r = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in r:
            raise BrowserError(f"{expression!r}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def mouse(self, kind: str, x: float, y: float, **extra: Any) -> None:
        """A synthetic mouse event: ``mouseMoved``, ``mousePressed`` or ``mouseReleased``."""
        self.call("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, **extra})

    def click(self, x: float, y: float) -> None:
        self.mouse("mouseMoved", x, y)
        self.mouse("mousePressed", x, y, button="left", clickCount=1)
        self.mouse("mouseReleased", x, y, button="left", clickCount=1)

    def screenshot(self) -> bytes:
        """A PNG of the viewport."""
        return base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"})["data"])

    def evaluate_in_frame(self, expression: str, index: int = 0) -> Any:
        """The value of ``expression`` inside the page's ``index``-th child frame (sandboxed ones too).

        A frame of the page's own process is reached through an isolated world (its DOM, not its
        script's variables); a sandboxed frame that Chromium runs in a process of its own (an
        opaque origin) is a target of its own, attached to for the call.
        """
        frames = self.call("Page.getFrameTree")["frameTree"].get("childFrames", [])
        if index < len(frames):
            frame = frames[index]["frame"]["id"]
            context = self.call("Page.createIsolatedWorld", {"frameId": frame, "worldName": "hamux-test"})
            params = {"expression": expression, "returnByValue": True, "contextId": context["executionContextId"]}
            r = self.call("Runtime.evaluate", params)
        else:
            targets = [t for t in self.send("Target.getTargets")["targetInfos"] if t["type"] == "iframe"]
            if index >= len(frames) + len(targets):
                raise BrowserError(f"the page has {len(frames) + len(targets)} child frame(s), not {index + 1}")
            target = targets[index - len(frames)]["targetId"]
            session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            try:
                r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session)
            finally:
                self.send("Target.detachFromTarget", {"sessionId": session})
        if "exceptionDetails" in r:
            raise BrowserError(f"{expression!r}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def console_errors(self) -> list[str]:
        """Console errors, uncaught exceptions and error log entries so far."""
        out = []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append(" ".join(str(a.get("value", a.get("description"))) for a in p.get("args", [])))
            elif m == "Runtime.exceptionThrown":
                out.append(str(p.get("exceptionDetails", {}).get("exception", {}).get("description", p)))
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                out.append(p["entry"].get("text", ""))
        return out

    def requests(self) -> list[str]:
        """URLs of every request the tab made."""
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (BrowserError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._r, self._w):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)
