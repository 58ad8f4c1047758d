"""How a verb reaches the controller: the shared flags, the dial, error mapping.

Verbs are written as ``async def verb(args, stub) -> exit code`` and never see a
status code: every failed call leaves here as a typed ``CallFailed``.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

import grpc

from renderq.client.address import ENV_VAR, resolve_controller
from renderq.client.channel import connect
from renderq.client.credentials import (
    DATA_DIR_ENV,
    TLS_ENV,
    TOKEN_ENV,
    Credentials,
    explain_unauthenticated,
    resolve_credentials,
)
from renderq.client.errors import Unauthenticated, from_rpc_error
from renderq.xdg import data_home

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


def connection_options() -> argparse.ArgumentParser:
    """The flags that say which controller to talk to and as whom (an argparse parent)."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--controller",
        metavar="HOST:PORT",
        help=f"the controller to talk to (default: ${ENV_VAR}, else the first one found over mDNS)",
    )
    options.add_argument(
        "--token",
        help=f"API token (default: ${TOKEN_ENV}, else the local admin token in the controller's --data-dir)",
    )
    options.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="on the controller's machine: its --data-dir, where its local admin token is "
        f"(default: ${DATA_DIR_ENV}, else {data_home()})",
    )
    options.add_argument(
        "--tls",
        type=Path,
        metavar="DIR",
        help=f"use TLS, trusting the farm CA in DIR/ca.pem (default: ${TLS_ENV}; see `renderq certs`)",
    )
    return options


def client_options(connection: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The flags of every verb that prints what the controller answered: ``connection``
    and ``--json``."""
    options = argparse.ArgumentParser(add_help=False, parents=[connection])
    options.add_argument(
        "--json", action="store_true", help="print JSON for scripts instead of text (see `renderq --help`)"
    )
    return options


def credentials_from(args: argparse.Namespace) -> Credentials:
    """The credentials the connection flags (and the environment) name."""
    return resolve_credentials(args.token, args.tls, data_dir=args.data_dir)


def client_verb(verb: ClientVerb) -> Callable[[argparse.Namespace], int]:
    """Run ``verb`` in its own event loop against the controller the flags name."""

    def run(args: argparse.Namespace) -> int:
        return asyncio.run(_call(verb, args))

    return run


async def _call(verb: ClientVerb, args: argparse.Namespace) -> int:
    async with dial(await resolve_controller(args.controller), credentials_from(args)) as stub:
        return await verb(args, stub)


@asynccontextmanager
async def dial(address: str, credentials: Credentials) -> AsyncIterator[FarmServiceAsyncStub]:
    """A stub for the controller at ``address``; a failed call inside leaves as a ``CallFailed``."""
    async with connect(address, credentials) as stub:
        try:
            yield stub
        except grpc.aio.AioRpcError as error:
            failure = from_rpc_error(error, address)
            if isinstance(failure, Unauthenticated):
                failure = Unauthenticated(
                    explain_unauthenticated(credentials, failure.message), failure.status
                )
            raise failure from None
