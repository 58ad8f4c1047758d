"""Typed errors for FarmService calls.

Callers (the CLI, the TUI, scripts) decide what to do from the kind of failure, not
from status codes: show the server's sentence, ask the user to fix the request, or
retry later. Status codes become exceptions here and nowhere else.
"""

from __future__ import annotations

import grpc

from renderq import tls
from renderq.client.credentials import TLS_ENV


class CallFailed(Exception):
    """A FarmService call failed; ``message`` is the server's sentence."""

    retryable = False
    """Whether the same call may succeed later without changing it."""

    def __init__(self, message: str, status: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        """The gRPC status name (``INVALID_ARGUMENT``), or None for client-side failures."""


class InvalidArgument(CallFailed):
    """The request is wrong; the message names the field."""


class NotFound(CallFailed):
    pass


class FailedPrecondition(CallFailed):
    """The request is valid but not now, such as cancelling a finished job."""


class AlreadyExists(CallFailed):
    pass


class PermissionDenied(CallFailed):
    pass


class Unauthenticated(CallFailed):
    pass


class Unimplemented(CallFailed):
    """The controller does not offer the call: it runs an older renderq than the caller."""


class Unavailable(CallFailed):
    """The controller could not be reached."""

    retryable = True


class TlsFailed(Unavailable):
    """The controller is there but the TLS handshake with it failed: trying again with
    the same --tls directory cannot help."""

    retryable = False


class ControllerNotFound(CallFailed):
    """No address was given and mDNS found no controller."""

    retryable = True


_BY_STATUS: dict[grpc.StatusCode, type[CallFailed]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.UNIMPLEMENTED: Unimplemented,
}

_TRANSIENT = frozenset(
    {grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.ABORTED}
)


def from_rpc_error(error: grpc.aio.AioRpcError, address: str) -> CallFailed:
    """The typed error for a failed call to the controller at ``address``."""
    code = error.code()
    details = error.details() or code.name.lower().replace("_", " ")
    kind = _BY_STATUS.get(code, CallFailed)
    if kind is Unavailable:
        failure = tls.handshake_failure(details)
        if failure is not None:
            return _tls_error(failure, details, address, code.name)
        details = f"cannot reach the controller at {address}: {details}"
    elif kind is Unimplemented:
        details = (
            f"the controller at {address} does not offer this call ({details}); "
            "it may run an older renderq than this command"
        )
    farm_error = kind(details, code.name)
    if code in _TRANSIENT:
        farm_error.retryable = True
    return farm_error


def _tls_error(failure: tls.HandshakeFailure, details: str, address: str, status: str) -> CallFailed:
    """A sentence that says what the handshake showed and what to change, instead of
    gRPC's list of connection attempts."""
    host = address.rsplit(":", 1)[0].strip("[]")
    reason = failure.value
    match failure:
        case tls.HandshakeFailure.UNTRUSTED:
            fix = f"pass --tls DIR (or set {TLS_ENV}) with the ca.pem of the farm this controller belongs to"
        case tls.HandshakeFailure.EXPIRED:
            fix = "renew it with `renderq certs` where the farm CA is, or check the clocks"
        case tls.HandshakeFailure.WRONG_NAME:
            fix = f"dial it by a name its certificate has, or reissue that with `renderq certs --host {host}`"
        case tls.HandshakeFailure.NOT_TLS:
            fix = f"drop --tls (and {TLS_ENV}), or start the controller with --tls DIR"
        case tls.HandshakeFailure.CLOSED:
            # Also what a controller that is shutting down does: worth another try.
            fix = f"if it serves TLS, pass --tls DIR with the farm's ca.pem (or set {TLS_ENV})"
            return Unavailable(f"cannot reach the controller at {address}: {reason}; {fix}", status)
        case _:
            reason = details
            fix = "check that --tls DIR holds this farm's ca.pem"
    return TlsFailed(f"the TLS handshake with the controller at {address} failed: {reason}; {fix}", status)
