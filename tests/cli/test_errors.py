"""Status codes become typed errors that say whether trying again can help."""

from __future__ import annotations

import grpc
import pytest

from renderq.client import errors


def rpc_error(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, errors.InvalidArgument),
        (grpc.StatusCode.NOT_FOUND, errors.NotFound),
        (grpc.StatusCode.FAILED_PRECONDITION, errors.FailedPrecondition),
        (grpc.StatusCode.ALREADY_EXISTS, errors.AlreadyExists),
        (grpc.StatusCode.PERMISSION_DENIED, errors.PermissionDenied),
        (grpc.StatusCode.UNAUTHENTICATED, errors.Unauthenticated),
        (grpc.StatusCode.INTERNAL, errors.CallFailed),
    ],
)
def test_each_status_becomes_its_own_error_with_the_servers_sentence(
    code: grpc.StatusCode, kind: type[errors.CallFailed]
) -> None:
    error = errors.from_rpc_error(rpc_error(code, "frames: '1-abc' is not a frame range"), "10.0.0.1:7420")
    assert type(error) is kind
    assert error.message == "frames: '1-abc' is not a frame range"
    assert error.status == code.name
    assert not error.retryable


def test_an_unreachable_controller_is_named_and_worth_retrying() -> None:
    error = errors.from_rpc_error(
        rpc_error(grpc.StatusCode.UNAVAILABLE, "connection refused"), "10.0.0.1:7420"
    )
    assert isinstance(error, errors.Unavailable)
    assert error.message == "cannot reach the controller at 10.0.0.1:7420: connection refused"
    assert error.retryable


def test_a_deadline_is_worth_retrying() -> None:
    error = errors.from_rpc_error(rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED, ""), "h:1")
    assert error.retryable
    assert error.message == "deadline exceeded"
