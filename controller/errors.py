"""The errors a request can meet, each tied to its gRPC status in one place.

The farm raises these with a sentence a person understands; the API layer turns
them into statuses, so a user's mistake is never INTERNAL.
"""

from __future__ import annotations

import grpc


class FarmError(Exception):
    code = grpc.StatusCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(FarmError):
    """The request is wrong; ``field`` names the part to fix."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class NotFound(FarmError):
    code = grpc.StatusCode.NOT_FOUND


class FailedPrecondition(FarmError):
    """Valid, but not now (cancelling a finished job)."""

    code = grpc.StatusCode.FAILED_PRECONDITION
