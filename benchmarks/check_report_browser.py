"""Open HTML reports in headless Chromium: console errors, outside requests, width and screenshots.

Usage (Debian: ``apt-get install chromium``)::

    python benchmarks/check_report_browser.py reports/index.html reports/credit/*.html reports/value.html
    python benchmarks/check_report_browser.py --width 1280 --screenshots /tmp/shots reports/index.html

Chromium runs headless with networking extras off and a throw-away profile; the script
drives it over the DevTools protocol (tornado's websocket client, already installed with
Jupyter) and, for each page, prints every console error, uncaught exception, failed
load and request to anything other than the file itself or ``data:`` URIs, then the
page's width at a ``--width`` px viewport (``document.documentElement.scrollWidth``) and
the elements wider than the viewport. It exits 1 when any page has a problem or
overflows, 0 when all are clean ("console errors: none", "overflow: none").
``--screenshots DIR`` saves ``<page>.png`` (the first screen) and ``<page>-full.png``
(the whole page) for each page. ``tests/test_report_browser.py`` uses ``Browser`` to
measure every report at 1280 px.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
]
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = (
    "apt-get install chromium (Debian's package; pip's playwright brings no browser offline)"
)

# What the page measures in itself: its width and the elements wider than the viewport (or
# reaching past its right edge) whose parent is not, as "tag.class#id (width px)".
MEASURE_JS = r"""
(() => {
  const view = document.documentElement.clientWidth;
  const wide = [];
  const marked = new Set();
  for (const el of document.body.querySelectorAll('*')) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    if (box.width > view + 0.5 || box.right > view + 0.5) {
      marked.add(el);
      if (el.parentElement && marked.has(el.parentElement)) continue;
      const cls = typeof el.className === 'string' && el.className ? '.' + el.className.split(' ')[0] : '';
      const head = el.tagName === 'TABLE' && el.tHead ? ' [' + el.tHead.innerText.replace(/\s+/g, ' ').slice(0, 90) + ']' : '';
      wide.push(`${el.tagName.toLowerCase()}${cls}${el.id ? '#' + el.id : ''} (${Math.round(box.width)} px)${head}`);
    }
  }
  const folded = [...document.querySelectorAll('details > :not(summary)')];
  return JSON.stringify({
    folded: folded.length,
    folded_hidden: folded.filter(e => !e.checkVisibility()).length,
    scroll_width: document.documentElement.scrollWidth,
    viewport: view,
    height: document.documentElement.scrollHeight,
    wide: wide.slice(0, 20),
    wide_count: wide.length,
  });
})()
"""


def find_chromium() -> str | None:
    """The first headless-capable Chromium on PATH (None when there is none)."""
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


def start_chromium(binary: str, profile: Path) -> tuple[subprocess.Popen, int]:
    """Start Chromium on about:blank and return the process and its DevTools port."""
    process = subprocess.Popen(
        [binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if port_file.exists() and port_file.read_text().strip():
            return process, int(port_file.read_text().split()[0])
        if process.poll() is not None:
            raise RuntimeError(
                f"{binary} exited with code {process.returncode} before DevTools was up"
            )
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("Chromium's DevTools did not come up within 30 s")


def page_socket(port: int) -> str:
    """The DevTools websocket URL of the first page target."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
        targets = json.load(response)
    return next(t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page")


@dataclass
class PageReport:
    """What loading one page found."""

    page: Path
    problems: list[str] = field(default_factory=list)
    scroll_width: int = 0
    viewport: int = 0
    height: int = 0
    wide: list[str] = field(default_factory=list)
    wide_count: int = 0
    folded: int = 0  # content of <details> elements
    folded_hidden: int = 0  # of which not laid out (closed); printing must show them all
    screenshots: list[Path] = field(default_factory=list)

    @property
    def overflow(self) -> int:
        """Pixels the page is wider than the viewport (0 when it fits)."""
        return max(0, self.scroll_width - self.viewport)


class _Session:
    """One DevTools websocket: commands with replies, events collected while waiting."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.counter = 0
        self.events: list[dict] = []

    async def call(self, method: str, timeout: float = 60, **params: Any) -> dict:
        self.counter += 1
        wanted = self.counter
        await self.connection.write_message(
            json.dumps({"id": wanted, "method": method, "params": params})
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = await asyncio.wait_for(self.connection.read_message(), timeout=timeout)
            if message is None:
                raise RuntimeError("the DevTools connection closed")
            event = json.loads(message)
            if event.get("id") == wanted:
                if "error" in event:
                    raise RuntimeError(f"{method}: {event['error']}")
                return event.get("result", {})
            self.events.append(event)
        raise TimeoutError(method)

    async def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                message = await asyncio.wait_for(self.connection.read_message(), timeout=0.25)
            except TimeoutError:
                continue
            if message is None:
                return
            self.events.append(json.loads(message))


def _problems(events: list[dict], url: str) -> list[str]:
    found = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            found.append(
                "console.error: "
                + " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
            )
        elif method == "Runtime.exceptionThrown":
            found.append("exception: " + params["exceptionDetails"].get("text", ""))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            found.append(f"log ({params['entry'].get('source')}): {params['entry'].get('text')}")
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            found.append(f"failed load: {params.get('errorText')}")
        elif method == "Network.requestWillBeSent":
            requested = params["request"]["url"]
            if not (requested == url or requested.startswith(("data:", url + "#"))):
                found.append(f"request outside the file: {requested}")
    return found


async def inspect_page(
    socket_url: str,
    page: Path,
    *,
    width: int = 1280,
    height: int = 900,
    screenshot_dir: Path | None = None,
    settle_s: float = 1.0,
    media: str = "",
) -> PageReport:
    """Load ``page`` at a ``width`` px viewport: problems, width, wide elements, screenshots.

    ``media="print"`` lays the page out with its print stylesheet.
    """
    from tornado.websocket import websocket_connect

    connection = await websocket_connect(socket_url, max_message_size=256 << 20)
    session = _Session(connection)
    report = PageReport(page=page)
    try:
        for domain in ("Runtime", "Log", "Network", "Page"):
            await session.call(f"{domain}.enable")
        await session.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        if media:
            await session.call("Emulation.setEmulatedMedia", media=media)
        url = page.resolve().as_uri()
        await session.call("Page.navigate", url=url)
        deadline = time.monotonic() + 60
        while not any(e.get("method") == "Page.loadEventFired" for e in session.events):
            if time.monotonic() > deadline:
                report.problems.append("the page did not finish loading within 60 s")
                break
            await session.drain(0.25)
        await session.drain(settle_s)
        measured = await session.call("Runtime.evaluate", expression=MEASURE_JS, returnByValue=True)
        figures = json.loads(measured["result"]["value"])
        report.scroll_width = int(figures["scroll_width"])
        report.viewport = int(figures["viewport"])
        report.height = int(figures["height"])
        report.wide = list(figures["wide"])
        report.wide_count = int(figures["wide_count"])
        report.folded = int(figures["folded"])
        report.folded_hidden = int(figures["folded_hidden"])
        if screenshot_dir is not None:
            screenshot_dir.mkdir(parents=True, exist_ok=True)
            stem = (
                page.stem
                if page.parent.name in ("reports", "")
                else f"{page.parent.name}-{page.stem}"
            )
            first = await session.call("Page.captureScreenshot", format="png")
            top = screenshot_dir / f"{stem}.png"
            top.write_bytes(base64.b64decode(first["data"]))
            whole = await session.call(
                "Page.captureScreenshot",
                format="png",
                captureBeyondViewport=True,
                clip={
                    "x": 0,
                    "y": 0,
                    "width": max(report.scroll_width, width),
                    "height": min(report.height, 16000),
                    "scale": 1,
                },
            )
            full = screenshot_dir / f"{stem}-full.png"
            full.write_bytes(base64.b64decode(whole["data"]))
            report.screenshots = [top, full]
        report.problems += _problems(session.events, url)
    finally:
        connection.close()
    return report


class Browser:
    """A headless Chromium for a few pages: ``with Browser() as b: b.inspect(path)``."""

    def __init__(self, binary: str | None = None) -> None:
        found = binary or find_chromium()
        if not found:
            raise FileNotFoundError(
                f"no Chromium on PATH ({', '.join(CANDIDATES)}): {INSTALL_HINT}"
            )
        self.binary = found
        self._profile: tempfile.TemporaryDirectory | None = None
        self._process: subprocess.Popen | None = None
        self.port = 0

    def __enter__(self) -> Browser:
        self._profile = tempfile.TemporaryDirectory()
        self._process, self.port = start_chromium(self.binary, Path(self._profile.name))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
        if self._profile is not None:
            self._profile.cleanup()

    def inspect(self, page: Path, **kwargs: Any) -> PageReport:
        """``inspect_page`` on the browser's page target."""
        return asyncio.run(inspect_page(page_socket(self.port), page, **kwargs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("pages", nargs="+", type=Path)
    parser.add_argument("--chromium", default=find_chromium() or "chromium")
    parser.add_argument("--width", type=int, default=1280, help="viewport width in px")
    parser.add_argument(
        "--screenshots", type=Path, default=None, metavar="DIR", help="save PNGs here"
    )
    args = parser.parse_args(argv)
    missing = [p for p in args.pages if not p.exists()]
    if missing:
        parser.error(f"no such file: {', '.join(map(str, missing))}")
    failures = 0
    with Browser(args.chromium) as browser:
        for page in args.pages:
            report = browser.inspect(page, width=args.width, screenshot_dir=args.screenshots)
            problems = report.problems
            print(f"{page}: console errors: {'none' if not problems else len(problems)}")
            for problem in problems:
                print(f"  {problem}")
            print(
                f"{page}: width {report.scroll_width} px at a {report.viewport} px viewport, "
                f"height {report.height} px; overflow: "
                + (f"{report.overflow} px" if report.overflow else "none")
            )
            for element in report.wide:
                print(f"  wider than the viewport: {element}")
            for shot in report.screenshots:
                print(f"  screenshot: {shot}")
            failures += bool(problems) or bool(report.overflow)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
