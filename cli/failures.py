"""How a failure reaches the user: one sentence on stderr and an exit code scripts can test.

Exit codes, the same for every verb:

- 0: done (``wait``: the job completed);
- 1: ``wait``: the job failed or was cancelled; any verb: an unexpected server error;
- 2: a request the user can fix (a bad command line or value, an unknown id, an action
  the job's state does not allow now);
- 3: the controller cannot be reached;
- 4: not allowed: no valid API token, or a role too low for the call;
- 5: ``wait``: the job is blocked because a job it depends on failed or was cancelled
  (it runs by itself once that job is retried and completes);
- 6: ``fetch``: what the controller holds was fetched, but some outputs are not there
  (still on their way, failed, kept on a node) or the job still renders;
- 124: ``wait --timeout`` ran out before the job ended;
- 130: interrupted (Ctrl-C).

Under ``--json`` the sentence is a JSON object instead (see renderq/cli/output.py), so a
script reads stdout and stderr the same way.
"""

from __future__ import annotations

import json
import sys

from renderq.client import errors

FIXABLE = 2
UNREACHABLE = 3
NOT_ALLOWED = 4
BLOCKED = 5
INCOMPLETE = 6
TIMED_OUT = 124
INTERRUPTED = 130

EXIT_CODES = f"""\
exit codes:
  0    done (wait: the job completed)
  1    wait: the job failed or was cancelled; any verb: an unexpected server error
  {FIXABLE}    a request you can fix: a bad command line or value, an unknown id, not now
  {UNREACHABLE}    the controller cannot be reached
  {NOT_ALLOWED}    not allowed: no valid API token, or a role too low for the call
  {BLOCKED}    wait: the job is blocked by a dependency that failed or was cancelled
  {INCOMPLETE}    fetch: some outputs are not on the controller (yet), or the job still renders
  {TIMED_OUT}  wait --timeout ran out
  {INTERRUPTED}  interrupted (Ctrl-C)
"""
"""For ``--help``: the docstring above, as a table."""


class UserError(Exception):
    """A failure or an outcome the command tells in its own words, where no server status
    describes it: a child process of ``renderq up`` that would not start, a job ``wait``
    saw fail. ``exit_code`` is what the command ends with."""

    def __init__(self, message: str, exit_code: int = FIXABLE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def exit_code(error: errors.CallFailed | UserError) -> int:
    match error:
        case UserError():
            return error.exit_code
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


def report(error: errors.CallFailed | UserError, as_json: bool = False) -> int:
    """Print the error's sentence (with the status name scripts can match) and return the exit code.

    Under ``--json``: ``{"error": {"code": STATUS or null, "exit_code": N, "message": ...}}``.
    """
    code = exit_code(error)
    status = error.status if isinstance(error, errors.CallFailed) else None
    if as_json:
        document = {"error": {"code": status, "exit_code": code, "message": error.message}}
        print(json.dumps(document, sort_keys=True), file=sys.stderr)
    else:
        suffix = f" ({status})" if status else ""
        print(f"renderq: {error.message}{suffix}", file=sys.stderr)
    return code


def warn(message: str, as_json: bool = False) -> None:
    """A note that does not change the exit code; ``{"warning": {"message": ...}}`` under ``--json``."""
    if as_json:
        print(json.dumps({"warning": {"message": message}}, sort_keys=True), file=sys.stderr)
    else:
        print(f"renderq: {message}", file=sys.stderr)
