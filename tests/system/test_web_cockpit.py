"""The cockpit in a real browser: `renderq tui --web` opened in headless Chromium.

Chromium is driven over the Chrome DevTools protocol with the small client below (one
websocket, aiohttp's, which textual-serve brings): no driver to download at run time.
textual-serve draws the terminal with xterm.js on a canvas, so the page has no text to
read in its DOM; a script added before the page's own catches the xterm ``Terminal``
when the page assigns it (``this.terminal = new Terminal(...)``) and reads its screen
buffer, the very cells the canvas shows. Screenshots of each step are saved in the
test's folder.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import shutil
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from renderq import tokens
from renderq.client.channel import connect
from renderq.client.credentials import Credentials
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

from .conftest import Farm, free_port
from .harness import DEADLINE, Process, renderq_argv, require

pytestmark = pytest.mark.system

CATCH_TERMINAL = """
(() => {
  Object.defineProperty(Object.prototype, "terminal", {
    configurable: true,
    set(value) {
      Object.defineProperty(this, "terminal", {value, writable: true, configurable: true, enumerable: true});
      if (value && value.buffer && this.websocket_url !== undefined) window.__rqTerminal = value;
    },
  });
  window.__rqScreen = () => {
    const terminal = window.__rqTerminal;
    if (!terminal) return "";
    const buffer = terminal.buffer.active, lines = [];
    for (let row = 0; row < terminal.rows; row++) {
      const line = buffer.getLine(buffer.viewportY + row);
      lines.push(line ? line.translateToString(true) : "");
    }
    return lines.join("\\n");
  };
})();
"""
"""Runs in the page before its own scripts: ``window.__rqScreen()`` is the terminal's text."""


class Page:
    """One Chromium tab over the DevTools protocol: commands and their answers by id."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self._socket = socket
        self._ids = itertools.count(1)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        number = next(self._ids)
        await self._socket.send_json({"id": number, "method": method, "params": params})
        async for message in self._socket:
            answer = json.loads(message.data)
            if answer.get("id") != number:
                continue  # an event, or the answer to an earlier command
            if "error" in answer:
                raise AssertionError(f"{method}: {answer['error']}")
            return dict(answer["result"])
        raise AssertionError(f"Chromium closed the DevTools socket during {method}")

    async def screen(self) -> str:
        result = await self.send("Runtime.evaluate", expression="window.__rqScreen()", returnByValue=True)
        return str(result["result"].get("value", ""))

    async def screenshot(self, path: Path) -> Path:
        shot = await self.send("Page.captureScreenshot", format="png")
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))
        return path

    async def type_text(self, text: str) -> None:
        await self.send("Runtime.evaluate", expression="window.__rqTerminal.focus()")
        await self.send("Input.insertText", text=text)

    async def press_enter(self) -> None:
        for kind in ("keyDown", "keyUp"):
            await self.send(
                "Input.dispatchKeyEvent",
                type=kind,
                key="Enter",
                code="Enter",
                windowsVirtualKeyCode=13,
                **({"text": "\r"} if kind == "keyDown" else {}),
            )

    async def until_shown(self, what: str, *words: str) -> str:
        """The terminal's text once it shows every one of ``words`` (polled, with a deadline)."""
        end = time.monotonic() + DEADLINE
        while True:
            text = await self.screen()
            if all(word in text for word in words):
                return text
            if time.monotonic() > end:
                raise AssertionError(f"timed out waiting for {what}; the page shows:\n{text}")
            await asyncio.sleep(0.2)


@asynccontextmanager
async def chromium(profile: Path, log_dir: Path) -> AsyncIterator[Page]:
    """Headless Chromium with one blank tab, driven over DevTools."""
    browser = Process(
        [
            "chromium",
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--window-size=1280,800",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "about:blank",
        ],
        "chromium",
        log_dir,
    )
    try:
        devtools = browser.wait_for_line(r"DevTools listening on (ws://127\.0\.0\.1:(\d+)/\S+)")
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{devtools.group(2)}/json/list") as listing:
                targets = await listing.json()
            tab = next(target for target in targets if target["type"] == "page")
            async with session.ws_connect(tab["webSocketDebuggerUrl"], max_msg_size=0) as socket:
                yield Page(socket)
    finally:
        browser.stop()


async def viewer_token(farm: Farm, address: str) -> str:
    """A viewer token, made with the admin token as an admin would."""
    admin = tokens.read_local(farm.root / "controller")
    async with connect(address, Credentials(token=admin)) as stub:
        await stub.CreateJob(fpb.CreateJobRequest(job=pb.Job(plugin="demo", name="web-shot", frames="1")))
        made = await stub.CreateToken(fpb.CreateTokenRequest(name="browser-viewer", role=pb.ROLE_VIEWER))
    return made.secret


async def test_web_cockpit_in_chromium_asks_for_a_token_then_shows_the_jobs(
    farm_factory: Any, tmp_path: Path
) -> None:
    require(shutil.which("chromium") is not None, "chromium (Debian package chromium)")
    farm: Farm = farm_factory()
    farm.start_controller()
    address = f"127.0.0.1:{farm.port}"
    token = await viewer_token(farm, address)
    port = free_port()
    server = Process(
        renderq_argv("tui", "--web", f"127.0.0.1:{port}", "--controller", address), "web", tmp_path
    )
    try:
        server.wait_for_line(r"Serving")
        async with chromium(tmp_path / "profile", tmp_path) as page:
            await page.send("Page.enable")
            await page.send("Page.addScriptToEvaluateOnNewDocument", source=CATCH_TERMINAL)
            await page.send("Page.navigate", url=f"http://127.0.0.1:{port}/")
            prompt = await page.until_shown(
                "the token prompt", "API token (rqt_...)", "--role viewer|operator"
            )
            await page.screenshot(tmp_path / "1-token-prompt.png")
            assert "Jobs" not in prompt

            await page.type_text(token)
            await page.press_enter()
            jobs = await page.until_shown("the Jobs table", "Jobs", "web-shot", "browser-viewer (viewer)")
            await page.screenshot(tmp_path / "2-jobs.png")
            assert "API token (rqt_...)" not in jobs
    finally:
        server.stop()
