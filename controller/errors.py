"""The errors a request can meet, each tied to its gRPC status in one place.

The farm raises these with a sentence a person understands; the API layer turns
them into statuses, so a user's mistake is never INTERNAL.
"""

from __future__ import annotations

import grpc

MAX_DETAILS = 600
"""Most characters of a status message. gRPC sends it percent-encoded in a trailer of
at most 16 KiB, so a sentence quoting a megabyte of the request would turn the answer
into RESOURCE_EXHAUSTED with no sentence at all."""


def clip(message: str) -> str:
    """``message`` cut in the middle to MAX_DETAILS characters (its start names the field)."""
    if len(message) <= MAX_DETAILS:
        return message
    half = MAX_DETAILS // 2
    return f"{message[:half]}…{message[-half:]}"


class RequestRefused(Exception):
    code = grpc.StatusCode.INTERNAL

    def __init__(self, message: str) -> None:
        message = clip(message)
        super().__init__(message)
        self.message = message


class InvalidField(RequestRefused):
    """The request is wrong; ``field`` names the part to fix."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class NoSuchResource(RequestRefused):
    code = grpc.StatusCode.NOT_FOUND


class NotPossibleNow(RequestRefused):
    """Valid, but not now (cancelling a finished job)."""

    code = grpc.StatusCode.FAILED_PRECONDITION
