"""How a failure reaches the user: one sentence on stderr and an exit code scripts can test.

Exit codes: 1 the job failed (``wait``) or an unexpected server error, 2 a request the
user can fix (also argparse's code for a bad command line), 3 the controller cannot be
reached, 4 not allowed, 124 ``wait --timeout`` ran out, 130 Ctrl-C.
"""

from __future__ import annotations

import sys

from renderq.client import errors

FIXABLE = 2
UNREACHABLE = 3
NOT_ALLOWED = 4
TIMED_OUT = 124
INTERRUPTED = 130


class UserError(Exception):
    """Something the user can act on that no server status describes, such as a child
    process of ``renderq up`` that would not start."""

    def __init__(self, message: str, exit_code: int = FIXABLE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def exit_code(error: errors.FarmError) -> int:
    match error:
        case (
            errors.InvalidArgument()
            | errors.NotFound()
            | errors.FailedPrecondition()
            | errors.AlreadyExists()
        ):
            return FIXABLE
        case errors.Unavailable() | errors.ControllerNotFound():
            return UNREACHABLE
        case errors.PermissionDenied() | errors.Unauthenticated():
            return NOT_ALLOWED
    return 1


def report(error: errors.FarmError | UserError) -> int:
    """Print the error's sentence (with the status name scripts can match) and return the exit code."""
    if isinstance(error, UserError):
        print(f"renderq: {error.message}", file=sys.stderr)
        return error.exit_code
    suffix = f" ({error.status})" if error.status else ""
    print(f"renderq: {error.message}{suffix}", file=sys.stderr)
    return exit_code(error)
