"""What installing or removing a service does, as data: files to write or remove, folders
to make, commands to run.

Each OS's module (service_systemd.py, service_launchd.py, service_windows.py) builds a
``Plan``; this module carries it out, or only says what it would do (``--dry-run``).
Keeping the commands as data is what lets the tests check every ``systemctl`` and
``launchctl`` call on a machine where neither can run.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from renderq.cli.failures import UserError
from renderq.private_files import write_private

COMMAND_TIMEOUT = 180.0
"""Seconds a service manager command may take: ``disable --now`` waits for the service to
stop, which may take its whole stop timeout."""

FAILED = 1
"""The exit code when a service manager command fails: nothing the command line can fix."""


@dataclass(frozen=True)
class WriteFile:
    path: Path
    data: bytes
    mode: int = 0o644
    owner: str | None = None
    """Who owns the file (its group: that user's primary group); None: whoever runs this."""
    holds: str = ""
    """For a file of secrets: the names it holds, said instead of its content."""

    def describe(self) -> str:
        secret = f" holding {self.holds}" if self.holds else ""
        return f"write {self.path} (mode {self.mode:04o}{_owned_by(self.owner)}){secret}"


@dataclass(frozen=True)
class MakeDir:
    path: Path
    owner: str | None = None

    def describe(self) -> str:
        owner = f" owned by {self.owner}" if self.owner else ""
        return f"make the folder {self.path}{owner}"


@dataclass(frozen=True)
class RemoveFile:
    path: Path

    def describe(self) -> str:
        return f"remove {self.path}"


@dataclass(frozen=True)
class Run:
    argv: tuple[str, ...]
    may_fail: bool = False
    """True for a command whose failure means there was nothing to do (stop a job that is
    not loaded)."""

    def describe(self) -> str:
        return f"run {shlex.join(self.argv)}"


Step = WriteFile | MakeDir | RemoveFile | Run


@dataclass(frozen=True)
class Plan:
    """One install or uninstall: its steps in order, the text ``--dry-run`` prints (the
    unit or plist, exactly as it would be written), and what to tell once it is done."""

    steps: tuple[Step, ...]
    preview: str = ""
    done: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    """Said before anything is done, also under ``--dry-run`` (on stderr)."""


Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def run_command(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """The real runner: output captured, so that a failure can be told in one sentence."""
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=COMMAND_TIMEOUT)


def preview(plan: Plan) -> None:
    """``--dry-run``: the file on stdout (so it can be piped to a checker), what would be
    done on stderr."""
    for note in plan.notes:
        print(note, file=sys.stderr)
    if plan.steps:
        print("--dry-run: nothing is changed; without it this would:", file=sys.stderr)
    for step in plan.steps:
        print(f"  {step.describe()}", file=sys.stderr)
    sys.stderr.flush()
    print(plan.preview, end="")


def carry_out(plan: Plan, run: Runner = run_command) -> None:
    """Do every step in order, saying each; stop at the first failure with a sentence that
    names the command, what it printed and what is left to do."""
    for note in plan.notes:
        print(note, file=sys.stderr)
    for index, step in enumerate(plan.steps):
        try:
            _do(step, run)
        except UserError as error:
            left = [s.describe() for s in plan.steps[index + 1 :]]
            rest = f"; not done after it: {'; '.join(left)}" if left else ""
            raise UserError(f"{error.message}{rest}", error.exit_code) from None
        print(_done(step))
    for line in plan.done:
        print(line)


def _do(step: Step, run: Runner) -> None:
    match step:
        case WriteFile():
            _write(step)
        case MakeDir():
            _make_dir(step)
        case RemoveFile():
            _remove(step)
        case Run():
            _run(step, run)


def _done(step: Step) -> str:
    """The past tense of ``describe``: what the operator reads as it happens."""
    text = step.describe()
    for verb, past in (("write", "wrote"), ("make", "made"), ("remove", "removed"), ("run", "ran")):
        if text.startswith(verb + " "):
            return past + text[len(verb) :]
    return text


def _write(step: WriteFile) -> None:
    try:
        if step.mode & 0o077 == 0:
            write_private(step.path, step.data)
        else:
            step.path.parent.mkdir(parents=True, exist_ok=True)
            partial = step.path.with_name(f"{step.path.name}.{os.getpid()}.tmp")
            partial.write_bytes(step.data)
            partial.chmod(step.mode)
            partial.replace(step.path)
        if step.owner:
            _chown(step.path, step.owner)
    except OSError as exc:
        raise UserError(f"cannot write {step.path}: {exc.strerror or exc}", FAILED) from None


def _make_dir(step: MakeDir) -> None:
    try:
        missing = [p for p in (step.path, *step.path.parents) if not p.exists()]
        for folder in reversed(missing):
            folder.mkdir()
            # Open to all, whatever the umask: an agent's tasks may run as another user
            # (--run-as) and must reach the workspaces inside.
            folder.chmod(0o755)
        if step.owner:
            _chown(step.path, step.owner)
    except OSError as exc:
        raise UserError(f"cannot make the folder {step.path}: {exc.strerror or exc}", FAILED) from None


def _remove(step: RemoveFile) -> None:
    try:
        step.path.unlink(missing_ok=True)
    except OSError as exc:
        raise UserError(f"cannot remove {step.path}: {exc.strerror or exc}", FAILED) from None


def _chown(path: Path, user: str) -> None:
    import pwd

    try:
        group = pwd.getpwnam(user).pw_gid
    except KeyError:
        raise UserError(f"cannot give {path} to {user}: there is no such user here", FAILED) from None
    shutil.chown(path, user, group)


def _run(step: Run, run: Runner) -> None:
    line = shlex.join(step.argv)
    try:
        result = run(step.argv)
    except FileNotFoundError:
        if step.may_fail:
            return
        raise UserError(f"cannot run `{line}`: there is no {step.argv[0]} on this machine", FAILED) from None
    except OSError as exc:
        raise UserError(f"cannot run `{line}`: {exc.strerror or exc}", FAILED) from None
    except subprocess.TimeoutExpired:
        raise UserError(f"`{line}` did not finish within {COMMAND_TIMEOUT:.0f} s", FAILED) from None
    if result.returncode != 0 and not step.may_fail:
        said = (result.stderr or result.stdout).strip() or "it printed nothing"
        raise UserError(f"`{line}` failed (exit status {result.returncode}): {said}", FAILED)


def _owned_by(owner: str | None) -> str:
    return f", owned by {owner}" if owner else ""
