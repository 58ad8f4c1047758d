"""Unpacking a job's archives (.zip, .tar, .tar.gz, .tgz, .gz) into its project folder.

An archive comes from the network, so nothing in it is trusted: every member's name
is checked to stay inside the folder (no absolute names, no ``..``, no drive letters,
backslashes read as separators), links are refused outright (a link member, even
one pointing inside, could be followed by a later member or by the task, so none is
made), and so are devices, pipes and encrypted members; permission bits are kept
without setuid, setgid and sticky. Against archive bombs the members are counted and
the bytes written are counted as they are written (sizes in headers can lie), and
unpacking stops at the first member past a limit. Files are written through
``safe_tree.Folder``, so a link that a task planted in the project is never followed.
"""

from __future__ import annotations

import gzip
import stat
import tarfile
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from io import BufferedIOBase
from pathlib import Path
from typing import IO

from renderq.agent.run_as import TaskUser
from renderq.agent.safe_tree import Folder, relative_parts
from renderq.client.units import format_size

BLOCK = 1 << 20
SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip", ".gz")
"""The archives unpacked, longest first (``.tar.gz`` before ``.gz``)."""
_READ_ERRORS = (OSError, EOFError, zlib.error, tarfile.TarError, zipfile.BadZipFile, NotImplementedError)
"""What a damaged archive raises while it is read (gzip says BadGzipFile, an OSError; zipfile
says NotImplementedError for a compression it does not know)."""


class ArchiveError(Exception):
    """An archive refused or damaged; the message names the archive and the member."""


class Stopped(Exception):
    """The task was cancelled while its archive was unpacked."""


@dataclass(frozen=True)
class Limits:
    """How much one archive may unpack to: ``ratio`` times its size, but at least
    ``floor`` and at most ``most`` bytes, in at most ``members`` members."""

    members: int = 100_000
    ratio: int = 50
    floor: int = 64 << 20
    most: int = 20 << 30

    def bytes_for(self, archive_size: int) -> int:
        return min(self.most, max(self.floor, self.ratio * archive_size))


LIMITS = Limits()


@dataclass(frozen=True)
class _Member:
    name: str
    is_folder: bool
    mode: int
    open: Callable[[], IO[bytes] | BufferedIOBase]


def archive_suffix(name: str) -> str | None:
    """The archive kind ``name`` ends with, or None when it is none that unpacks."""
    lower = name.lower()
    return next((suffix for suffix in SUFFIXES if lower.endswith(suffix)), None)


def unpack(
    archive: Path,
    name: str,
    into: Folder,
    owner: TaskUser | None,
    limits: Limits = LIMITS,
    stop: threading.Event | None = None,
) -> int:
    """Unpack ``archive`` (the job's file ``name``) into ``into``; return the members unpacked.

    Blocking: run it in a thread. Raises ArchiveError (refused or damaged), Stopped (``stop``
    was set), InTheWay (a link or file where a folder goes) or OSError (the disk).
    """
    suffix = archive_suffix(name)
    if suffix is None:
        raise ArchiveError(f"{name}: cannot unpack it: only {', '.join(SUFFIXES)} archives unpack")
    budget = _Budget(name, limits, archive.stat().st_size, stop)
    count = 0
    for member in _members(archive, name, suffix):
        budget.count(member.name)
        try:
            parts = relative_parts(member.name)
        except ValueError as exc:
            raise ArchiveError(f"{name}: member {member.name!r} refused: {exc}") from None
        if member.is_folder:
            into.folder(parts, owner).close()
        elif not parts:
            raise ArchiveError(f"{name}: member {member.name!r} refused: it has no name")
        else:
            with into.folder(parts[:-1], owner) as folder:
                blocks = _blocks(member, name, budget)
                folder.write(parts[-1], partial(_write_all, blocks), member.mode, owner)
        count += 1
    return count


class _Budget:
    """The members and bytes one archive may still unpack, checked as they are written."""

    def __init__(self, archive: str, limits: Limits, size: int, stop: threading.Event | None) -> None:
        self._archive = archive
        self._members = limits.members
        self._members_left = limits.members
        self._limit = limits.bytes_for(size)
        self._bytes_left = self._limit
        self._stop = stop

    def count(self, member: str) -> None:
        self._check_stop()
        self._members_left -= 1
        if self._members_left < 0:
            raise ArchiveError(
                f"{self._archive}: refused at member {member!r}: it has more than the "
                f"{self._members} members allowed (an archive bomb?)"
            )

    def take(self, member: str, size: int) -> None:
        self._check_stop()
        self._bytes_left -= size
        if self._bytes_left < 0:
            raise ArchiveError(
                f"{self._archive}: refused at member {member!r}: it unpacks to more than "
                f"{format_size(self._limit)} (an archive bomb?)"
            )

    def _check_stop(self) -> None:
        if self._stop is not None and self._stop.is_set():
            raise Stopped(f"{self._archive}: unpacking stopped")


def _blocks(member: _Member, archive: str, budget: _Budget) -> Iterator[bytes]:
    """The member's content, charged to ``budget``; a read that fails is the archive's fault."""
    try:
        with member.open() as stream:
            while block := stream.read(BLOCK):
                budget.take(member.name, len(block))
                yield block
    except _READ_ERRORS as exc:
        raise ArchiveError(f"{archive}: member {member.name!r} cannot be read: {exc}") from None


def _write_all(blocks: Iterator[bytes], fd: int) -> None:
    with open(fd, "wb", closefd=False) as file:
        for block in blocks:
            file.write(block)


def _members(archive: Path, name: str, suffix: str) -> Iterator[_Member]:
    """The archive's members in order; ArchiveError for one refused or an archive damaged."""
    try:
        if suffix == ".zip":
            yield from _zip_members(archive, name)
        elif suffix == ".gz":
            yield _gz_member(archive, name)
        else:
            yield from _tar_members(archive, name, compressed=suffix != ".tar")
    except _READ_ERRORS as exc:
        raise ArchiveError(f"{name}: cannot read it as a {suffix} archive: {exc}") from None


def _tar_members(archive: Path, name: str, compressed: bool) -> Iterator[_Member]:
    with tarfile.open(archive, "r:gz" if compressed else "r:") as tar:
        for info in tar:
            if not (info.isreg() or info.isdir()):
                raise ArchiveError(f"{name}: member {info.name!r} refused: {_tar_kind(info)}")
            yield _Member(info.name, info.isdir(), _mode(info.mode), partial(_tar_file, tar, info))


def _tar_file(tar: tarfile.TarFile, info: tarfile.TarInfo) -> IO[bytes]:
    stream = tar.extractfile(info)
    assert stream is not None, "only regular members are opened"
    return stream


def _tar_kind(info: tarfile.TarInfo) -> str:
    if info.issym() or info.islnk():
        return f"it is a link (to {info.linkname!r}); links in archives are refused"
    if info.ischr() or info.isblk() or info.isfifo():
        return "it is a device or a pipe"
    return "it is neither a file nor a folder"


def _zip_members(archive: Path, name: str) -> Iterator[_Member]:
    with zipfile.ZipFile(archive) as zipped:
        for info in zipped.infolist():
            kind = stat.S_IFMT(info.external_attr >> 16)
            if kind == stat.S_IFLNK:
                raise ArchiveError(f"{name}: member {info.filename!r} refused: links in archives are refused")
            if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
                raise ArchiveError(f"{name}: member {info.filename!r} refused: it is a device or a pipe")
            if info.flag_bits & 0x1:
                raise ArchiveError(f"{name}: member {info.filename!r} refused: it is encrypted")
            yield _Member(
                info.filename,
                info.is_dir(),
                _mode((info.external_attr >> 16) & 0o777 or 0o644),
                partial(zipped.open, info),
            )


def _gz_member(archive: Path, name: str) -> _Member:
    """A .gz holds one file, named as the archive without its suffix, beside where it lies."""
    return _Member(name[: -len(".gz")], False, 0o644, lambda: gzip.open(archive, "rb"))


def _mode(bits: int) -> int:
    """Permission bits only (no setuid, setgid or sticky), and the owner may read and write."""
    return (bits & 0o777) | 0o600
