"""/docs (Swagger UI) and /redoc in headless Chromium against a real ``devstack serve``:
every request the pages make goes to the host itself, and both render the API.

Chromium is Debian's package (``scripts/install-chromium.sh``); the pages' requests are
read from the Chrome DevTools Protocol (``Network.requestWillBeSent``)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from production_support import server_env
from websockets.sync.client import ClientConnection, connect

from devstack.runtime.docs_pages import DOC_ASSETS_DIR
from devstack.testing import ServerProcess, free_port

pytestmark = pytest.mark.slow

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Schemes that never leave the page (inline data, in-memory blobs, the blank start page).
LOCAL_SCHEMES = {"data", "blob", "about"}
# How long the network must stay quiet after the page rendered: the ReDoc side menu's
# logo is requested once the menu is mounted.
SETTLE_SECONDS = 1.5
# every image the rendered page holds (ReDoc's footer logo among them, once the side menu is mounted)
IMAGES = "JSON.stringify(Array.from(document.images, (image) => image.src))"
REDOC_LOGO = re.compile(r'alt:"redocly logo",[^}]*?src:"([^"]*)"')
SWAGGER_RENDERED = "document.querySelectorAll('.opblock-summary-path[data-path=\"/health/all\"]').length"
REDOC_RENDERED = "document.querySelectorAll('.api-content [id^=\"operation/\"]').length"


class Page:
    """One Chromium tab over the DevTools Protocol, recording the URLs it requests."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.next_id = 0
        self.requested: list[str] = []
        self.last_request = time.monotonic()

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = self.receive(timeout=10)
            if message is not None and message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))

    def receive(self, timeout: float) -> dict[str, Any] | None:
        try:
            message: dict[str, Any] = json.loads(self.socket.recv(timeout=timeout))
        except TimeoutError:
            return None
        if message.get("method") == "Network.requestWillBeSent":
            self.requested.append(message["params"]["request"]["url"])
            self.last_request = time.monotonic()
        return message

    def images(self) -> list[str]:
        found = self.call("Runtime.evaluate", expression=IMAGES, returnByValue=True)["result"]["value"]
        return list(json.loads(found))

    def count(self, expression: str) -> int:
        return int(self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"]["value"])

    def open(self, url: str, rendered: str, timeout: float = 20.0) -> int:
        """Loads ``url``, waits until ``rendered`` counts more than 0 elements and the
        network is quiet; returns the count."""
        self.requested.clear()
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        found = 0
        while time.monotonic() < deadline:
            found = self.count(rendered)
            if found and time.monotonic() - self.last_request > SETTLE_SECONDS:
                return found
            self.receive(timeout=0.2)
        raise AssertionError(f"{url} did not render ({rendered} = {found}) within {timeout}s: {self.requested}")


def devtools_page_url(port: int, timeout: float = 15.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=1) as answer:
                targets = json.load(answer)
            pages = [t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page"]
            if pages:
                return str(pages[0])
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"Chromium's DevTools did not answer on 127.0.0.1:{port} within {timeout}s")


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with ServerProcess(env=server_env()) as process:
        yield process


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    chromium = shutil.which("chromium")
    assert chromium, "chromium is not installed: run scripts/install-chromium.sh (as root)"
    port = free_port()
    # Chromium's helper processes may still write to the profile after the browser exits
    with tempfile.TemporaryDirectory(prefix="devstack-chromium-", ignore_cleanup_errors=True) as profile:
        command = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--remote-debugging-port={port}"]
        browser = subprocess.Popen(
            [*command, "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            with connect(devtools_page_url(port), max_size=None) as socket:
                tab = Page(socket)
                tab.call("Network.enable")
                tab.call("Page.enable")
                yield tab
        finally:
            browser.terminate()
            browser.wait(10)


def off_host(requested: list[str], server: ServerProcess) -> list[str]:
    host = urlsplit(server.url).netloc
    return [url for url in requested if urlsplit(url).scheme not in LOCAL_SCHEMES and urlsplit(url).netloc != host]


def test_swagger_ui_renders_the_operations_from_the_host_alone(server: ServerProcess, page: Page) -> None:
    assert page.open(f"{server.url}/docs", SWAGGER_RENDERED) >= 1
    assert f"{server.url}/openapi.json" in page.requested
    assert f"{server.url}/docs/assets/swagger-ui-bundle.js" in page.requested
    assert off_host(page.requested, server) == []


def test_redoc_renders_the_operations_from_the_host_alone(server: ServerProcess, page: Page) -> None:
    assert page.open(f"{server.url}/redoc", REDOC_RENDERED) >= 3
    assert f"{server.url}/openapi.json" in page.requested
    assert f"{server.url}/docs/assets/redoc.standalone.js" in page.requested
    assert off_host(page.requested, server) == []
    assert off_host(page.images(), server) == []  # the footer logo included


def test_the_vendored_redoc_has_no_logo_from_a_cdn() -> None:
    """The one off-machine request ReDoc makes by itself is its footer logo (from Redocly's
    CDN): the vendored bundle's logo is ``data:,`` (an empty inline image)."""
    bundle = (DOC_ASSETS_DIR / "redoc.standalone.js").read_text(encoding="utf-8")
    assert REDOC_LOGO.findall(bundle) == ["data:,"]
    assert "cdn.redoc.ly" not in bundle
