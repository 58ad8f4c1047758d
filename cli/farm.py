"""How a verb reaches the controller: the shared flags, the dial, error mapping, paging.

Verbs are written as ``async def verb(args, farm) -> exit code`` and never see a
status code: every failed call leaves here as a typed ``FarmError``.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

import grpc

from renderq.client.address import ENV_VAR, resolve_controller
from renderq.client.channel import connect
from renderq.client.credentials import TLS_ENV, TOKEN_ENV, Credentials, resolve_credentials
from renderq.client.errors import from_rpc_error

if TYPE_CHECKING:
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub

    ClientVerb = Callable[[argparse.Namespace, FarmServiceAsyncStub], Awaitable[int]]
    Verbs = argparse._SubParsersAction[argparse.ArgumentParser]
    """Where each verb module adds its subcommands."""

T = TypeVar("T")


class _Page(Protocol):
    @property
    def next_page_token(self) -> str: ...


P = TypeVar("P", bound=_Page)


def client_options() -> argparse.ArgumentParser:
    """The flags every verb that talks to the controller takes (an argparse parent)."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--json", action="store_true", help="print JSON for scripts instead of text")
    options.add_argument(
        "--controller",
        metavar="HOST:PORT",
        help=f"the controller to talk to (default: ${ENV_VAR}, else the first one found over mDNS)",
    )
    options.add_argument(
        "--token",
        help=f"API token (default: ${TOKEN_ENV}, else the local admin token of your own controller)",
    )
    options.add_argument(
        "--tls",
        type=Path,
        metavar="DIR",
        help=f"use TLS, trusting the farm CA in DIR/ca.pem (default: ${TLS_ENV}; see `renderq certs`)",
    )
    return options


def client_verb(verb: ClientVerb) -> Callable[[argparse.Namespace], int]:
    """Run ``verb`` in its own event loop against the controller the flags name."""

    def run(args: argparse.Namespace) -> int:
        return asyncio.run(_call(verb, args))

    return run


async def _call(verb: ClientVerb, args: argparse.Namespace) -> int:
    credentials = resolve_credentials(args.token, args.tls)
    async with dial(await resolve_controller(args.controller), credentials) as farm:
        return await verb(args, farm)


@asynccontextmanager
async def dial(address: str, credentials: Credentials) -> AsyncIterator[FarmServiceAsyncStub]:
    """A stub for the controller at ``address``; a failed call inside leaves as a ``FarmError``."""
    async with connect(address, credentials) as farm:
        try:
            yield farm
        except grpc.aio.AioRpcError as error:
            raise from_rpc_error(error, address) from None


async def collect_pages(call: Callable[[str], Awaitable[P]], items: Callable[[P], Iterable[T]]) -> list[T]:
    """Everything a List call returns, following ``next_page_token`` to the end."""
    collected: list[T] = []
    token = ""
    while True:
        page = await call(token)
        collected.extend(items(page))
        token = page.next_page_token
        if not token:
            return collected
