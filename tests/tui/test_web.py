"""The cockpit served to browsers (``renderq tui --web``): each session's token prompt, and
the server's own refusals and HTTPS.

A web session must never act as the user who serves the page: these tests give the app
the farm's admin token (and put it in the environment) and check that nothing reaches
the controller before the visitor typed a token, and that the token in use is theirs.
"""

from __future__ import annotations

import ssl
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from textual.widgets import Input, Static

from renderq import tokens
from renderq.cli.tui import web_session_credentials
from renderq.client.credentials import DATA_DIR_ENV, TOKEN_ENV, Credentials
from renderq.tui.jobs_table import JobsTable
from renderq.tui.token_screen import TokenScreen
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

from ..system.conftest import free_port
from ..system.harness import Process, renderq_argv
from .conftest import DEADLINE, TuiFarm, running, submit, until

if TYPE_CHECKING:
    from renderq.tui.app import RenderqApp
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub


async def viewer_token(stub: FarmServiceAsyncStub, name: str = "web-viewer") -> str:
    made = await stub.CreateToken(fpb.CreateTokenRequest(name=name, role=pb.ROLE_VIEWER))
    return made.secret


def web_app(farm: TuiFarm, asked: list[str]) -> RenderqApp:
    """The app as a browser session runs it, handed the admin token all the same; ``asked``
    gets one entry each time the app looks up the controller (before any call)."""
    from renderq.tui.app import RenderqApp

    async def resolve() -> str:
        asked.append(farm.address)
        return farm.address

    return RenderqApp(resolve, farm.credentials(), ask_token=True)


def problem_text(app: RenderqApp) -> str:
    return str(app.screen.query_one("#token-problem", Static).render())


@pytest.mark.system
async def test_web_session_asks_for_a_token_refuses_a_bad_one_in_place_then_shows_jobs(
    tui_farm: TuiFarm, farm_api: FarmServiceAsyncStub
) -> None:
    job = await submit(farm_api, "web-shot", ["true"])
    token = await viewer_token(farm_api)
    asked: list[str] = []
    app = web_app(tui_farm, asked)
    async with running(app) as pilot:
        await until("the token prompt", lambda: isinstance(app.screen, TokenScreen), pilot)
        box = app.screen.query_one("#token", Input)
        assert box.password and box.placeholder == "API token (rqt_...)"
        assert "renderq token create NAME --role viewer|operator" in str(
            app.screen.query_one("#token-help", Static).render()
        )
        assert asked == [], "the app looked for the controller before it had a token"
        assert not app.status.connected

        box.value = "rqt_not-a-token"
        await pilot.press("enter")
        await until("the refusal", lambda: "does not know this token" in problem_text(app), pilot)
        assert isinstance(app.screen, TokenScreen), "a bad token must leave the prompt up"
        assert not app.status.connected

        box.value = token
        await pilot.press("enter")
        await until("the main screen", lambda: app.screen is app.screen_stack[0], pilot)
        await until("the job's row", lambda: str(job.id) in app.query_one(JobsTable).rows, pilot)
        await until("the status", lambda: app.status.connected, pilot)
        assert app.status.caller == "web-viewer (viewer)", app.status.caller


def test_web_session_credentials_ignore_the_token_flag_environment_and_admin_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / tokens.LOCAL_FILE).write_text("rqt_admin\n")
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    monkeypatch.setenv(TOKEN_ENV, "rqt_from-the-environment")
    assert web_session_credentials(None) == Credentials(token=None)
    assert web_session_credentials(tmp_path / "tls") == Credentials(tls_dir=tmp_path / "tls")


def test_web_beyond_loopback_without_tls_is_refused() -> None:
    done = subprocess.run(
        renderq_argv("tui", "--web", "0.0.0.0:8420", "--controller", "127.0.0.1:1"),
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert done.returncode == 2, done
    assert "--tls DIR" in done.stderr, done.stderr


def answers(url: str, context: ssl.SSLContext) -> str | None:
    try:
        with urllib.request.urlopen(url, context=context, timeout=5) as response:
            return str(response.read().decode())
    except (OSError, ssl.SSLError):
        return None


@pytest.mark.system
def test_web_with_tls_answers_https_and_its_page_dials_wss(tmp_path: Path) -> None:
    tls = tmp_path / "tls"
    certs = subprocess.run(
        renderq_argv("certs", "--dir", str(tls), "--host", "127.0.0.1"), capture_output=True, timeout=DEADLINE
    )
    assert certs.returncode == 0, certs
    port = free_port()
    server = Process(
        renderq_argv("tui", "--web", f"127.0.0.1:{port}", "--tls", str(tls), "--controller", "127.0.0.1:1"),
        "web",
        tmp_path,
    )
    try:
        context = ssl.create_default_context(cafile=str(tls / "ca.pem"))
        end = time.monotonic() + DEADLINE
        page = None
        while page is None:
            assert server.popen.poll() is None, server.tail()
            assert time.monotonic() < end, f"no HTTPS answer on port {port}: {server.tail()}"
            page = answers(f"https://127.0.0.1:{port}/", context)
            if page is None:
                time.sleep(0.1)  # a poll interval: the server is starting
        assert f"wss://127.0.0.1:{port}/ws" in page
    finally:
        server.stop()
