"""The first screen of a browser session: ask for an API token, check it, then go on.

A cockpit served over the web (``renderq tui --web``) runs as the user who serves it, and
that user usually holds the controller's local admin token. Handing that token to
whoever opens the page would make every visitor an admin, so a web session starts with
no token at all and each visitor gives their own here. The token is checked with
``GetCaller`` before the app uses it: a bad one is said on this screen and the prompt
stays, so a typo costs one more try and never a reconnect loop on the main screen.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

import grpc
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Input, Static

from renderq.client.channel import connect
from renderq.client.credentials import Credentials
from renderq.client.enums import label
from renderq.client.errors import CallFailed, Unauthenticated, from_rpc_error
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

PROMPT = "API token (rqt_...)"
HOW_TO_GET_ONE = (
    "This cockpit needs your own API token. An admin makes one with "
    "`renderq token create NAME --role viewer|operator`."
)


class TokenScreen(Screen[Credentials]):
    """Dismissed with ``credentials`` carrying the token, once the controller accepted it."""

    DEFAULT_CSS = """
    TokenScreen { align: center middle; }
    TokenScreen > Vertical {
        width: 100%; max-width: 76; height: auto;
        background: $surface; border: tall $primary; padding: 0 1;
    }
    TokenScreen #token-title { text-style: bold; }
    TokenScreen #token-problem { color: $error; height: auto; }
    TokenScreen #token-problem.-empty { display: none; }
    TokenScreen #token-problem.-progress { color: $text-muted; }
    """
    BINDINGS = [Binding("ctrl+q", "app.quit", "Quit", id="token.quit")]

    def __init__(self, resolve: Callable[[], Awaitable[str]], credentials: Credentials) -> None:
        """``credentials``: the TLS folder to dial with; their token (if any) is never used."""
        super().__init__()
        self._resolve = resolve
        self._credentials = replace(credentials, token=None, token_file=None)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("renderq: who are you?", id="token-title", markup=False)
            yield Static(HOW_TO_GET_ONE, id="token-help", markup=False)
            yield Input(placeholder=PROMPT, password=True, id="token")
            yield Static("", id="token-problem", classes="-empty", markup=False)

    def on_mount(self) -> None:
        self.query_one("#token", Input).focus()

    @on(Input.Submitted, "#token")
    def _given(self, event: Input.Submitted) -> None:
        token = event.value.strip()
        if not token:
            self._say("type the token first, then press Enter")
            return
        self._say("checking the token...", problem=False)
        self._check(token)

    @work(exclusive=True, group="token-check")
    async def _check(self, token: str) -> None:
        """Ask the controller who this token is; dismiss only on a yes."""
        credentials = replace(self._credentials, token=token)
        address = ""
        try:
            address = await self._resolve()
            async with connect(address, credentials) as stub:
                caller = await stub.GetCaller(fpb.GetCallerRequest(), timeout=15)
        except grpc.aio.AioRpcError as error:
            self._say(_refusal(from_rpc_error(error, address)))
            return
        except CallFailed as failure:
            self._say(failure.message)
            return
        self.app.notify(f"signed in as {caller.name} ({label(pb.Role, caller.role)})")
        self.dismiss(credentials)

    def _say(self, text: str, problem: bool = True) -> None:
        line = self.query_one("#token-problem", Static)
        line.update(text)
        line.set_class(not text, "-empty")
        line.set_class(not problem, "-progress")


def _refusal(failure: CallFailed) -> str:
    if isinstance(failure, Unauthenticated):
        return "the controller does not know this token (mistyped, or revoked): try again"
    return failure.message
