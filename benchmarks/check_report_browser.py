"""Open HTML reports in headless Chromium and print their console errors and outside requests.

Usage (Debian: ``apt-get install chromium``)::

    python benchmarks/check_report_browser.py reports/credit/shap.html [more.html ...]

Chromium runs headless with networking extras off and a throw-away profile; the script
drives it over the DevTools protocol (tornado's websocket client, already installed with
Jupyter) and, for each page, prints every console error, uncaught exception, failed
load and request to anything other than the file itself or ``data:`` URIs. It exits 1
when any page has one, 0 when all are clean ("console errors: none"). Not part of the
test suite (which checks the same self-containment statically).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--remote-debugging-port=0",
]


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


async def problems_of(socket_url: str, page: Path, settle_s: float = 1.5) -> list[str]:
    """Load ``page`` and collect console errors, exceptions, failed loads and outside requests."""
    from tornado.websocket import websocket_connect

    connection = await websocket_connect(socket_url, max_message_size=64 << 20)
    counter = 0

    async def send(method: str, **params) -> None:
        nonlocal counter
        counter += 1
        await connection.write_message(
            json.dumps({"id": counter, "method": method, "params": params})
        )

    for domain in ("Runtime", "Log", "Network", "Page"):
        await send(f"{domain}.enable")
    url = page.resolve().as_uri()
    await send("Page.navigate", url=url)
    found: list[str] = []
    loaded_at = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if loaded_at is not None and time.monotonic() - loaded_at > settle_s:
            break
        try:
            message = await asyncio.wait_for(connection.read_message(), timeout=0.25)
        except TimeoutError:
            continue
        if message is None:
            break
        event = json.loads(message)
        method, params = event.get("method"), event.get("params", {})
        if method == "Page.loadEventFired":
            loaded_at = time.monotonic()
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
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
    if loaded_at is None:
        found.append("the page did not finish loading within 60 s")
    connection.close()
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("pages", nargs="+", type=Path)
    parser.add_argument(
        "--chromium",
        default=shutil.which("chromium") or shutil.which("chromium-browser") or "chromium",
    )
    args = parser.parse_args(argv)
    missing = [p for p in args.pages if not p.exists()]
    if missing:
        parser.error(f"no such file: {', '.join(map(str, missing))}")
    failures = 0
    with tempfile.TemporaryDirectory() as profile:
        process, port = start_chromium(args.chromium, Path(profile))
        try:
            for page in args.pages:
                socket_url = page_socket(port)
                problems = asyncio.run(problems_of(socket_url, page))
                print(f"{page}: console errors: {'none' if not problems else len(problems)}")
                for problem in problems:
                    print(f"  {problem}")
                failures += bool(problems)
        finally:
            process.terminate()
            process.wait(timeout=10)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
