"""Dialling the controller: the one place that creates FarmService channels.

The channel must be created inside the running event loop (``grpc.aio`` binds it to
the loop), so this is an async context manager, entered from ``asyncio.run`` or a
Textual ``on_mount``, never at import time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, cast

import grpc

from renderq import tls, tokens
from renderq.client.credentials import Credentials
from renderq.client.errors import InvalidArgument
from renderq.grpc_limits import MESSAGE_SIZE_OPTIONS
from renderq.v1 import farm_service_pb2_grpc

if TYPE_CHECKING:
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub

"""Large listings (a page of 10,000 frames) and log chunks fit with room to spare."""

CHANNEL_OPTIONS: list[tuple[str, int]] = [
    *MESSAGE_SIZE_OPTIONS,
    # A dead controller shows up within a minute on a long `wait` or `logs -f`. A server
    # left at gRPC's defaults counts pings closer than 5 minutes on a quiet stream as
    # strikes and sends GOAWAY after the third; stopping after two pings without data
    # (until the server sends something) keeps every stream under that limit.
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 0),
    ("grpc.http2.max_pings_without_data", 2),
]


def _with_token(details: grpc.aio.ClientCallDetails, header: tuple[str, str]) -> grpc.aio.ClientCallDetails:
    metadata = grpc.aio.Metadata(*(details.metadata or ()), header)
    return grpc.aio.ClientCallDetails(
        details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
    )


class _UnaryToken(grpc.aio.UnaryUnaryClientInterceptor):
    """Adds ``authorization: Bearer TOKEN`` to every unary call."""

    def __init__(self, header: tuple[str, str]) -> None:
        self._header = header

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(_with_token(details, self._header), request)


class _StreamToken(grpc.aio.UnaryStreamClientInterceptor):
    """The same for the server streams (a channel takes one interceptor object per kind of call)."""

    def __init__(self, header: tuple[str, str]) -> None:
        self._header = header

    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(_with_token(details, self._header), request)


class _ClientStreamToken(grpc.aio.StreamUnaryClientInterceptor):
    """The same for the client streams (UploadBlob)."""

    def __init__(self, header: tuple[str, str]) -> None:
        self._header = header

    async def intercept_stream_unary(self, continuation: Any, details: Any, request_iterator: Any) -> Any:
        return await continuation(_with_token(details, self._header), request_iterator)


def open_channel(address: str, credentials: Credentials) -> grpc.aio.Channel:
    """A channel to the controller at ``address`` that carries ``credentials``.

    Raises InvalidArgument when the TLS directory has no usable farm CA certificate.
    """
    interceptors: list[grpc.aio.ClientInterceptor] | None = None
    if credentials.token:
        header = (tokens.METADATA_KEY, f"Bearer {credentials.token}")
        interceptors = [_UnaryToken(header), _StreamToken(header), _ClientStreamToken(header)]
    if credentials.tls_dir is None:
        return grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS, interceptors=interceptors)
    try:
        trust = tls.channel_credentials(credentials.tls_dir)
    except tls.TlsError as error:
        raise InvalidArgument(str(error)) from None
    return grpc.aio.secure_channel(address, trust, options=CHANNEL_OPTIONS, interceptors=interceptors)


@asynccontextmanager
async def connect(address: str, credentials: Credentials) -> AsyncIterator[FarmServiceAsyncStub]:
    """A FarmService stub on a channel to ``address``, closed on exit."""
    async with open_channel(address, credentials) as channel:
        yield cast("FarmServiceAsyncStub", farm_service_pb2_grpc.FarmServiceStub(channel))
