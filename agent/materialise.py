"""A job's files placed in its workspace before a task runs.

Each ``FileEntry`` of an assignment lands at ``<workspace>/project/<path>``; an archive
lands at ``<workspace>/source/<path>`` and is unpacked into ``project/`` (a ``.gz``
beside where it would lie, without its suffix). The content comes from the agent's
blob cache, fetched over the link when it is missing there.

Nothing a task does may change the cache, which every job shares: each file is a
copy-on-write clone where the file system can (``FICLONE``), else a copy; a hard link
only for a read-only file whose task runs as another user (``--run-as``), who can
neither write nor chmod the agent's file; never a symlink. Paths are checked again here
and used without following links (``safe_tree``). A manifest in ``source/`` records
what was placed: files still as placed are neither fetched nor copied again, so
retrying a frame on this node fetches nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import stat
import sys
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from renderq.agent.archives import LIMITS, SUFFIXES, ArchiveError, Limits, archive_suffix, unpack
from renderq.agent.blob_cache import READ_ONLY, BlobCache, BlobError, check_ref
from renderq.agent.run_as import TaskUser
from renderq.agent.safe_tree import Folder, InTheWay, relative_parts
from renderq.agent.workspace import Workspace
from renderq.client.units import format_size
from renderq.direct_files import copy_into
from renderq.v1 import resources_pb2 as pb

if sys.platform == "linux":
    import fcntl

log = logging.getLogger(__name__)

MANIFEST = ".renderq-files.json"
"""In ``source/``: what was placed, so that a later task of the job skips it."""
DEFAULT_MODE = 0o644
"""For a file whose entry gives no mode."""
_FICLONE = 0x40049409
"""Linux's ioctl that makes a file share another's blocks, copy-on-write (btrfs, XFS)."""
_NO_SPACE = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
_NO_LINK = (errno.EXDEV, errno.EMLINK, errno.EPERM)
"""Why a hard link may fail where a copy still works."""
_T = TypeVar("_T")


class MaterialiseError(Exception):
    """A job's files cannot be placed; the message names the file, for the task's error."""


@dataclass(frozen=True)
class _Wanted:
    """One entry of the job's files, checked."""

    entry: pb.FileEntry
    parts: tuple[str, ...]
    mode: int

    @property
    def key(self) -> str:
        return "/".join(self.parts)

    @property
    def blob_key(self) -> str:
        return f"{self.entry.blob.xxh3_128}-{self.entry.blob.size_bytes}"

    def identity(self) -> dict[str, Any]:
        """What the manifest must record for a placed file to be this one."""
        blob = self.entry.blob
        return {
            "blob": blob.xxh3_128,
            "size": blob.size_bytes,
            "mode": self.mode,
            "unpack": self.entry.unpack,
        }


class Materialiser:
    """Places jobs' files from one blob cache, one workspace at a time."""

    def __init__(self, blobs: BlobCache, user: TaskUser | None, limits: Limits = LIMITS) -> None:
        self.blobs = blobs
        self._user = user
        """Who tasks run as: placed files and folders are theirs."""
        self._limits = limits
        self._locks: weakref.WeakValueDictionary[Path, asyncio.Lock] = weakref.WeakValueDictionary()
        """Per workspace: two tasks of a job starting together place its files once."""

    async def materialise(
        self, files: Sequence[pb.FileEntry], workspace: Workspace, stop: asyncio.Event, deadline: float | None
    ) -> bool:
        """Place ``files`` in ``workspace``; False when ``stop`` was set or the loop time
        ``deadline`` passed first. Raises MaterialiseError."""
        if not files:
            return True
        work = asyncio.ensure_future(self._place_all(files, workspace))
        stopped = asyncio.ensure_future(stop.wait())
        timeout = None if deadline is None else max(0.0, deadline - asyncio.get_running_loop().time())
        try:
            await asyncio.wait({work, stopped}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            if not work.done():
                work.cancel()
                # Its thread finishes the file in hand: the next task must not find two writers.
                await asyncio.wait({work})
        if work.cancelled():
            return False
        work.result()
        return True

    async def _place_all(self, files: Sequence[pb.FileEntry], workspace: Workspace) -> None:
        wanted = [_checked(entry) for entry in files]
        lock = self._locks.get(workspace.root)
        if lock is None:
            lock = self._locks[workspace.root] = asyncio.Lock()
        async with lock:
            manifest = await asyncio.to_thread(_Manifest.load, workspace)
            todo = await asyncio.to_thread(manifest.stale, wanted, workspace)
            if not todo:
                return
            fetches = self._fetch_all(todo)
            try:
                for item in todo:  # each placed once fetched, while the later ones still arrive
                    blob = await _fetched(fetches, item.blob_key)
                    made = await self._in_thread(self._place, item, blob, workspace)
                    manifest.placed(item, made)
            finally:
                for fetch in fetches.values():
                    fetch.cancel()
                await asyncio.gather(*fetches.values(), return_exceptions=True)
                await asyncio.to_thread(manifest.save, workspace)
            log.info(
                "job files placed workspace=%s placed=%d kept=%d",
                workspace.root,
                len(todo),
                len(wanted) - len(todo),
            )

    def _fetch_all(self, todo: list[_Wanted]) -> dict[str, asyncio.Future[Path]]:
        """Every blob ``todo`` needs, asked for at once (the cache bounds how many are fetched
        at a time, in this order)."""
        firsts: dict[str, _Wanted] = {}
        for item in todo:
            firsts.setdefault(item.blob_key, item)
        return {
            key: asyncio.ensure_future(self.blobs.fetch(item.entry.blob, item.entry.path))
            for key, item in firsts.items()
        }

    async def _in_thread(self, work: Callable[..., _T], *args: Any) -> _T:
        """``work(*args, halt)`` in a thread. Cancelled, it sets ``halt`` (an unpacking stops
        at its next block) and waits for the thread to end before it lets the workspace go."""
        halt = threading.Event()
        future = asyncio.ensure_future(asyncio.to_thread(work, *args, halt))
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            halt.set()
            with contextlib.suppress(Exception):
                await future
            raise

    def _place(
        self, item: _Wanted, blob: Path, workspace: Workspace, halt: threading.Event
    ) -> os.stat_result:
        """Blocking. Put one file in place (and unpack it); raises MaterialiseError."""
        path = item.entry.path
        try:
            top = workspace.source if item.entry.unpack else workspace.project
            with Folder.open(top) as place, place.folder(item.parts[:-1], self._user) as folder:
                made = self._put(folder, item.parts[-1], blob, item.mode)
            if item.entry.unpack:
                with Folder.open(workspace.project) as project:
                    members = unpack(blob, item.key, project, self._user, self._limits, halt)
                log.info("archive unpacked file=%s members=%d", path, members)
            return made
        except ArchiveError as exc:
            raise MaterialiseError(str(exc)) from None
        except InTheWay as exc:
            raise MaterialiseError(f"cannot place {path}: {exc}") from None
        except OSError as exc:
            if exc.errno in _NO_SPACE:
                size = format_size(item.entry.blob.size_bytes)
                raise MaterialiseError(f"no space left on this agent for {path} ({size})") from None
            raise MaterialiseError(
                f"cannot place {path} in the job's workspace: {exc.strerror or exc}"
            ) from None

    def _put(self, folder: Folder, name: str, blob: Path, mode: int) -> os.stat_result:
        """A hard link where nobody running the task can change it, else a clone or a copy."""
        if self._user is not None and mode == READ_ONLY:
            try:
                return folder.link(name, blob)
            except OSError as exc:
                if exc.errno not in _NO_LINK:
                    raise
        return folder.write(name, partial(_clone, blob), mode, self._user)


async def _fetched(fetches: dict[str, asyncio.Future[Path]], key: str) -> Path:
    """The blob ``key`` once fetched; the first fetch of them all that fails, as soon as it
    does, fails the placing (no waiting for the others to end)."""
    wanted = fetches[key]
    while True:
        for fetch in fetches.values():
            if fetch.done() and not fetch.cancelled() and isinstance(fetch.exception(), BlobError):
                raise MaterialiseError(str(fetch.exception()))
        if wanted.done():
            return wanted.result()
        running = [fetch for fetch in fetches.values() if not fetch.done()]
        await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)


def _checked(entry: pb.FileEntry) -> _Wanted:
    """The entry, checked again on the agent (it came from the network)."""
    try:
        parts = relative_parts(entry.path)
    except ValueError as exc:
        raise MaterialiseError(f"the job's file {entry.path!r} is refused: {exc}") from None
    problem = check_ref(entry.blob)
    if not parts:
        problem = "it names no file"
    elif entry.unpack and archive_suffix(entry.path) is None:
        problem = f"only {', '.join(SUFFIXES)} archives unpack"
    if problem:
        raise MaterialiseError(f"the job's file {entry.path!r} is refused: {problem}")
    return _Wanted(entry, parts, (entry.mode & 0o777) or DEFAULT_MODE)


def _clone(source: Path, fd: int) -> None:
    """Fill ``fd`` with ``source``: sharing its blocks copy-on-write where the file system can."""
    with source.open("rb") as original:
        if sys.platform == "linux":
            try:
                fcntl.ioctl(fd, _FICLONE, original.fileno())
                return
            except OSError:
                pass  # no clones on this file system, or across two: copy
        copy_into(original, fd)


class _Manifest:
    """What was placed in one workspace: per path, the entry and the file's stat then."""

    def __init__(self, records: dict[str, dict[str, Any]]) -> None:
        self._records = records

    @classmethod
    def load(cls, workspace: Workspace) -> _Manifest:
        """Blocking. An unreadable manifest (a task may have touched it) only costs placing again."""
        try:
            with Folder.open(workspace.source) as source:
                text = source.read(MANIFEST)
            records = json.loads(text) if text is not None else {}
        except (OSError, InTheWay, ValueError):
            records = {}
        return cls(records if isinstance(records, dict) else {})

    def stale(self, wanted: list[_Wanted], workspace: Workspace) -> list[_Wanted]:
        """Blocking. Those of ``wanted`` not in place as the manifest recorded them."""
        return [item for item in wanted if not self._current(item, workspace)]

    def _current(self, item: _Wanted, workspace: Workspace) -> bool:
        record = self._records.get(item.key)
        if not isinstance(record, dict) or record.get("file") != item.identity():
            return False
        top = workspace.source if item.entry.unpack else workspace.project
        try:
            now = os.lstat(top.joinpath(*item.parts))
        except OSError:
            return False
        return stat.S_ISREG(now.st_mode) and record.get("stat") == _stat_record(now)

    def placed(self, item: _Wanted, made: os.stat_result) -> None:
        self._records[item.key] = {"file": item.identity(), "stat": _stat_record(made)}

    def save(self, workspace: Workspace) -> None:
        """Blocking. Written whole, then renamed into place."""
        text = json.dumps(self._records, indent=1).encode()
        try:
            with Folder.open(workspace.source) as source:
                source.write(MANIFEST, lambda fd: _write(fd, text), DEFAULT_MODE, None)
        except (OSError, InTheWay) as exc:
            log.warning("cannot record the job's files workspace=%s error=%s", workspace.root, exc)


def _stat_record(made: os.stat_result) -> list[int]:
    """What tells that a placed file is still the one placed (a task may change it)."""
    return [made.st_ino, made.st_size, made.st_mtime_ns, stat.S_IMODE(made.st_mode)]


def _write(fd: int, data: bytes) -> None:
    with open(fd, "wb", closefd=False) as file:
        file.write(data)
