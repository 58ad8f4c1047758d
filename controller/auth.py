"""The one door every FarmService call passes through.

Tokens and roles (viewer, operator, admin) will be checked here and nowhere else; for
now every caller may do everything, and each call is logged at debug level with its
peer so an operator can see who drives the farm.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import grpc

log = logging.getLogger(__name__)


class AuthInterceptor(grpc.aio.ServerInterceptor):
    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        log.debug("call method=%s", handler_call_details.method)  # type: ignore[attr-defined]
        return await continuation(handler_call_details)
