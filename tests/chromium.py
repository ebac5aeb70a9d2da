"""Debian's headless Chromium (/usr/bin/chromium), driven over the DevTools protocol on a pipe
(--remote-debugging-pipe: no websocket, no extra package), for the site's browser tests; and axe-core, the
accessibility checker, from the npm registry (`npm install --no-save axe-core@AXE_VERSION` in the
checkout, as .ci/run does). Tests that need either skip with the reason when it is absent."""

from __future__ import annotations

import base64
import fcntl
import io
import json
import os
import select
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
AXE_VERSION = "4.14.1"  # .ci/run installs this version
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_MISSING = f"{CHROMIUM} not installed (apt-get install -y --no-install-recommends chromium; .ci/run does)"
AXE_MISSING = (f"{AXE.relative_to(REPO)} not installed (npm install --no-save axe-core@{AXE_VERSION} in the "
               f"checkout; .ci/run does)")


class Browser:
    """Headless Chromium driven over the DevTools protocol on a pipe: the browser reads JSON commands
    ending in NUL from fd 3 and writes replies and events to fd 4."""

    def __init__(self, profile: Path, width: int = 1280, height: int = 900):
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # out of the way of 3 and 4, which the child's dup2s below overwrite
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_browser_r, from_browser_w)]
        for fd in (to_browser_r, from_browser_w):
            os.close(fd)

        def child() -> None:
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        self._log = profile / "stderr.log"
        log = open(self._log, "wb")
        self.process = subprocess.Popen(
            [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-extensions", "--hide-scrollbars", "--remote-debugging-pipe", f"--user-data-dir={profile}",
             f"--window-size={width},{height}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
            preexec_fn=child, close_fds=False)
        log.close()
        for fd in high:
            os.close(fd)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []
        try:
            target = self.call("Target.createTarget", url="about:blank")["targetId"]
            self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            self.call("Page.enable", session=True)
            self.call("Emulation.setDeviceMetricsOverride", session=True, width=width, height=height,
                      deviceScaleFactor=1, mobile=False)
        except BaseException:
            self.close()
            raise

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise TimeoutError(f"Chromium did not answer in time; its stderr ends: {self._stderr_tail()}")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium closed its DevTools pipe; its stderr ends: {self._stderr_tail()}")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def _stderr_tail(self) -> str:
        try:
            return self._log.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def call(self, method: str, session: bool = False, timeout: float = 15.0, **params) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str, timeout: float = 15.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for i, event in enumerate(self.events):
                if event.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._read(deadline))

    def open(self, path: Path) -> None:
        self.events.clear()
        self.call("Page.navigate", session=True, url=path.resolve().as_uri())
        self.wait_event("Page.loadEventFired")

    def resize(self, width: int, height: int = 900) -> None:
        """The viewport a page is laid out in, as a window of that size would give it."""
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=width, height=height,
                  deviceScaleFactor=1, mobile=False)

    def js(self, expression: str):
        result = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def click(self, selector: str) -> None:
        """A real mouse click (pressed and released) at the centre of the element."""
        box = self.js(f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
                      f" e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect();"
                      f" return [r.x + r.width / 2, r.y + r.height / 2]; }})()")
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", session=True, type=kind, x=box[0], y=box[1], button="left",
                      clickCount=1)

    def screenshot(self, clip: dict | None = None):
        from PIL import Image

        params = {"format": "png", "captureBeyondViewport": True}
        if clip:
            params["clip"] = {**clip, "scale": 1}
        data = self.call("Page.captureScreenshot", session=True, **params)["data"]
        return Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=5)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._to_browser, self._from_browser):
            os.close(fd)


def axe_violations(browser: Browser, impacts: tuple[str, ...] = ("serious", "critical")) -> list[str]:
    """axe-core's WCAG 2.1 A and AA checks on the open page: each violation of the given impact as
    "rule (impact): first offending element"."""
    if not browser.js("typeof axe !== 'undefined'"):
        browser.js(AXE.read_text() + "\n;true")
    found = browser.js(
        "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
        ".then(r => r.violations.map(v => [v.id, v.impact, v.nodes.length ? v.nodes[0].target.join(' ') : '',"
        " v.help]))")
    return [f"{rule} ({impact}): {target}: {help_}" for rule, impact, target, help_ in found if impact in impacts]
