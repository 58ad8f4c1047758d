"""Writing below a workspace folder without ever following a link.

A task may run as another user than the agent (``--run-as``) and owns its workspace,
so it can plant links there, and swap a folder for a link between the agent's check and
its write. Names from the network (a job's file paths, archive members) are therefore
checked first (``relative_parts``), then used one component at a time relative to an
open folder (``openat`` with ``O_NOFOLLOW``): a link in the way is refused, never
followed, whatever it pointed at a moment earlier. Windows has no ``openat`` and runs
no task as another user, so there the same walk checks each component with ``lstat``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

from renderq.agent.run_as import TaskUser

_AT = sys.platform != "win32"
"""Folders are open descriptors and names are resolved relative to them."""
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW | _CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC | getattr(os, "O_BINARY", 0)
_READ_FILE = os.O_RDONLY | _NOFOLLOW | _CLOEXEC | getattr(os, "O_BINARY", 0)
_DRIVE = re.compile(r"^[A-Za-z]:")
TEMP_SUFFIX = ".renderq-part"
"""Names of files being written, renamed into place once whole."""


class InTheWay(Exception):
    """A component that must be a folder is a link or a file; the message names it."""


def relative_parts(text: str) -> tuple[str, ...]:
    """The components of a path from the network, checked to stay below its folder.

    Backslashes count as separators: Windows tools write them, and on a Windows agent
    ``..\\x`` climbs. Raises ValueError saying what is wrong with the path.
    """
    if "\0" in text:
        raise ValueError("it contains a NUL character")
    unified = text.replace("\\", "/")
    if unified.startswith("/"):
        raise ValueError("it is absolute")
    if _DRIVE.match(unified):
        raise ValueError("it starts with a drive letter")
    parts = tuple(part for part in unified.split("/") if part not in ("", "."))
    if ".." in parts:
        raise ValueError("it climbs out of its folder with '..'")
    return parts


class Folder:
    """One open folder; every name used through it is one component below it."""

    def __init__(self, path: Path, fd: int | None) -> None:
        self.path = path
        """For messages (and on Windows, for use)."""
        self._fd = fd

    @classmethod
    def open(cls, path: Path) -> Folder:
        """``path``, which must be a folder and not a link. Raises InTheWay or OSError."""
        return cls._enter(path, str(path), None)

    def __enter__(self) -> Folder:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def folder(self, parts: Sequence[str], owner: TaskUser | None) -> Folder:
        """The folder ``parts`` below this one, creating what is missing (given to
        ``owner``, so the task may write there). The caller closes it."""
        current = self._enter(self.path, self._name(""), self._fd)
        try:
            for part in parts:
                try:
                    os.mkdir(current._name(part), 0o755, dir_fd=current._fd)
                    created = True
                except FileExistsError:
                    created = False
                child = self._enter(current.path / part, current._name(part), current._fd)
                current.close()
                current = child
                if created and owner is not None and current._fd is not None:
                    os.fchown(current._fd, owner.uid, owner.gid)
        except BaseException:
            current.close()
            raise
        return current

    def write(
        self, name: str, fill: Callable[[int], None], mode: int, owner: TaskUser | None
    ) -> os.stat_result:
        """Make file ``name`` with ``fill(fd)``: written whole under a temporary name, then
        renamed over whatever ``name`` was (a link is replaced, not followed). Returns its stat."""
        temp = self._temp()
        try:
            fd = os.open(self._name(temp), _NEW_FILE, 0o600, dir_fd=self._fd)
            try:
                fill(fd)
                if _AT:
                    os.fchmod(fd, mode)
                if owner is not None:
                    os.fchown(fd, owner.uid, owner.gid)
                made = os.fstat(fd)
            finally:
                os.close(fd)
            self._replace(temp, name)
        except BaseException:
            self._remove(temp)
            raise
        return made

    def link(self, name: str, source: Path) -> os.stat_result:
        """Make ``name`` a hard link to ``source`` (the agent's own file), replacing what was there."""
        temp = self._temp()
        try:
            os.link(source, self._name(temp), dst_dir_fd=self._fd, follow_symlinks=False)
            self._replace(temp, name)
        except BaseException:
            self._remove(temp)
            raise
        return os.stat(source)

    def stat(self, name: str) -> os.stat_result | None:
        """``name``'s own stat (a link's, not its target's); None when there is none."""
        try:
            return os.stat(self._name(name), dir_fd=self._fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def read(self, name: str) -> bytes | None:
        """The content of file ``name``; None when it is missing or a link."""
        try:
            fd = os.open(self._name(name), _READ_FILE, dir_fd=self._fd)
        except OSError:
            return None
        with os.fdopen(fd, "rb") as file:
            return file.read()

    def _name(self, name: str) -> str:
        """How os functions get ``name``: relative to the descriptor, or (Windows) a whole path."""
        if self._fd is not None:
            return name or "."
        return str(self.path / name)

    @staticmethod
    def _temp() -> str:
        """A name of its own beside the file (not derived from it: a long name has no room to grow)."""
        return f".renderq-{secrets.token_hex(8)}{TEMP_SUFFIX}"

    def _replace(self, temp: str, name: str) -> None:
        os.replace(self._name(temp), self._name(name), src_dir_fd=self._fd, dst_dir_fd=self._fd)

    def _remove(self, temp: str) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self._name(temp), dir_fd=self._fd)

    @classmethod
    def _enter(cls, path: Path, name: str, parent: int | None) -> Folder:
        """Open folder ``name`` (relative to ``parent``) without following a link."""
        if not _AT:
            if not stat.S_ISDIR(os.lstat(name).st_mode):
                raise InTheWay(f"{path} is a link or a file, not a folder")
            return cls(path, None)
        try:
            return cls(path, os.open(name, _DIR_FLAGS, dir_fd=parent))
        except OSError as exc:
            if exc.errno in (errno.ENOTDIR, errno.ELOOP):
                raise InTheWay(
                    f"{path} is a link or a file, not a folder (links in a workspace are never followed)"
                ) from None
            raise
