"""The controller's content-addressed blob store: project files named by what they hold.

A blob is a file's bytes named by its xxh3-128 and size (``pb.BlobRef``). A project is
uploaded once and each of its files is stored once, however many jobs use it; an agent
fetches only what its cache lacks. Stored blobs live at ``<root>/<first 2 hex>/<hash>-<size>``
(read-only); an upload grows ``<root>/incoming/<hash>-<size>.part`` until it holds the
whole size, is hashed, and only then is renamed into place, so a truncated or corrupt
upload is never served and a broken-off one resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import xxhash

from renderq.controller.errors import InvalidField, NoSuchResource, NotPossibleNow
from renderq.direct_files import Appender, read_ahead
from renderq.v1 import resources_pb2 as pb

MAX_BLOB_BYTES = 64 << 30
"""Largest blob stored: a project file beyond 64 GiB is a mistake (a cache, a disk image)
more often than a scene, and would fill the controller's disk for every farm user."""
MAX_REFS = 100_000
"""Most blobs one FindMissingBlobs may ask about (a project of that many files)."""
HASH_BLOCK = 1 << 20
READ_AHEAD = 8 << 20
"""Bytes past each read the disk is asked to bring in meanwhile: a blob is read in order
(to an agent, by a fetch), and, written past the page cache, is not in memory."""
INCOMING = "incoming"
PART = ".part"
_HEX32 = re.compile(r"[0-9a-f]{32}")
_NAME = re.compile(r"([0-9a-f]{32})-([0-9]+)")
_FULL_DISK = (errno.ENOSPC, errno.EDQUOT)

log = logging.getLogger(__name__)
T = TypeVar("T")
Key = tuple[str, int]
"""A blob as a set member: (xxh3-128, size)."""


def key_of(ref: pb.BlobRef) -> Key:
    return ref.xxh3_128, ref.size_bytes


def check_ref(ref: pb.BlobRef, field: str = "blob") -> None:
    """A well-formed ref, or InvalidField naming ``field``: its name becomes a path on the
    controller's disk, so only 32 lowercase hex digits and a sane size get that far."""
    if not _HEX32.fullmatch(ref.xxh3_128):
        raise InvalidField(f"{field}.xxh3_128", f"{ref.xxh3_128!r} is not 32 lowercase hex digits")
    if ref.size_bytes < 0:
        raise InvalidField(f"{field}.size_bytes", f"must not be negative, not {ref.size_bytes}")
    if ref.size_bytes > MAX_BLOB_BYTES:
        raise InvalidField(
            f"{field}.size_bytes", f"{ref.size_bytes:,} bytes; a blob holds at most {MAX_BLOB_BYTES:,}"
        )


class BlobStore:
    """Blobs on the controller's disk. The blocking methods (all but ``receive``) are meant
    for ``asyncio.to_thread`` when they may touch many files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.incoming = root / INCOMING
        self._locks: dict[Key, tuple[asyncio.Lock, int]] = {}
        """The upload lock of each blob being received, with how many uploads hold or wait for it."""
        self._receiving: dict[Key, _Part] = {}
        """The partial uploads being added to now: their bytes so far, some still in memory."""

    check_ref = staticmethod(check_ref)

    def path(self, ref: pb.BlobRef) -> Path:
        return self.root / ref.xxh3_128[:2] / f"{ref.xxh3_128}-{ref.size_bytes}"

    def part_path(self, ref: pb.BlobRef) -> Path:
        return self.incoming / f"{ref.xxh3_128}-{ref.size_bytes}{PART}"

    def has(self, ref: pb.BlobRef) -> bool:
        """Whether the blob is stored; if so it counts as used now, so a collection that
        runs before the job naming it is stored keeps it (``collect`` goes by age)."""
        path = self.path(ref)
        try:
            os.utime(path)
        except FileNotFoundError:
            return False
        except OSError:
            return path.exists()  # stored, but not this process's to touch (a copied data dir)
        return True

    def missing(self, refs: Iterable[pb.BlobRef]) -> list[tuple[pb.BlobRef, int]]:
        """The blobs of ``refs`` not stored, each once, with the bytes of it already received
        (by an upload running now too: where it will end if it breaks off now)."""
        refs = list(refs)
        if len(refs) > MAX_REFS:
            raise InvalidField("blobs", f"{len(refs):,} blobs asked about; at most {MAX_REFS:,} per call")
        found: dict[Key, tuple[pb.BlobRef, int]] = {}
        for i, ref in enumerate(refs):
            check_ref(ref, f"blobs[{i}]")
            if key_of(ref) not in found and not self.has(ref):
                receiving = self._receiving.get(key_of(ref))
                held = receiving.file.size if receiving else _size(self.part_path(ref))
                found[key_of(ref)] = (ref, held)
        return list(found.values())

    async def receive(self, ref: pb.BlobRef, offset: int, chunks: AsyncIterator[bytes]) -> None:
        """Append ``chunks`` to the blob's partial upload from ``offset`` and store the blob
        once it is whole and its hash checks out. Uploads of one blob take turns: a second
        one waits, then finds it stored (and succeeds) or resumes what the first left."""
        check_ref(ref)
        if offset < 0:
            raise InvalidField("offset", f"must not be negative, not {offset}")
        async with self._turn(key_of(ref)):
            if await asyncio.to_thread(self.has, ref):
                return
            part = self._receiving[key_of(ref)] = await _settled(_Part, self.part_path(ref))
            try:
                received = await self._append(ref, offset, part, chunks)
                if received < ref.size_bytes:
                    raise NotPossibleNow(
                        f"the upload of blob {ref.xxh3_128} ended at byte {received:,} of "
                        f"{ref.size_bytes:,}; resume from byte {received}"
                    )
                await _settled(self._store, ref, part)
            finally:
                try:
                    await _settled(part.close)
                finally:
                    del self._receiving[key_of(ref)]

    @contextlib.asynccontextmanager
    async def _turn(self, key: Key) -> AsyncIterator[None]:
        """The blob's upload lock, dropped from ``_locks`` once no upload holds or waits for it."""
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    async def _append(self, ref: pb.BlobRef, offset: int, part: _Part, chunks: AsyncIterator[bytes]) -> int:
        """Add ``chunks`` at the end of the partial upload, which must be ``offset``; the size reached."""
        received = part.file.size
        if offset != received:
            raise NotPossibleNow(
                f"the controller holds {received:,} bytes of blob {ref.xxh3_128}: resume from byte {received}"
            )
        async for data in chunks:
            if received + len(data) > ref.size_bytes:
                raise InvalidField(
                    "data", f"the upload runs past the blob's {ref.size_bytes:,} bytes (at byte {received:,})"
                )
            await _settled(self._write, ref, part, data, received)
            received += len(data)
        return received

    def _write(self, ref: pb.BlobRef, part: _Part, data: bytes, received: int) -> None:
        """Append ``data`` whole or not at all: a failed write is cut back off, so the
        partial upload always ends where the next one resumes."""
        try:
            part.add(data)
        except OSError as e:
            with contextlib.suppress(OSError):
                part.cut(received)
            self._refuse_if_full(ref, e, part.file.size)
            raise

    def _store(self, ref: pb.BlobRef, part: _Part) -> None:
        """Check the whole partial upload against its name; then make it the stored blob,
        durably and in one rename (a crash leaves the partial upload or the blob, never half)."""
        path, final = self.part_path(ref), self.path(ref)
        try:
            actual = part.seal()  # Windows renames and deletes only closed files
            if actual != ref.xxh3_128:
                path.unlink(missing_ok=True)
                raise InvalidField(
                    "data",
                    f"the {ref.size_bytes:,} bytes uploaded hash to {actual}, not {ref.xxh3_128} as "
                    "named: the file changed while it was read or was damaged on the way; upload it again",
                )
            path.chmod(0o444)
            final.parent.mkdir(exist_ok=True)
            os.replace(path, final)
            _sync_dir(final.parent)
        except OSError as e:
            self._refuse_if_full(ref, e, _size(path))
            raise

    def _refuse_if_full(self, ref: pb.BlobRef, e: OSError, received: int) -> None:
        """A full disk is the farm's to fix, said in words; any other failure is a bug or a
        broken disk, left to propagate."""
        if e.errno in _FULL_DISK:
            raise NotPossibleNow(
                f"the controller's disk is full (blob store {self.root}): blob {ref.xxh3_128} stopped "
                f"at byte {received:,} of {ref.size_bytes:,}; free space (CollectBlobs removes the blobs "
                "no job uses), then resume"
            ) from e

    def read(self, ref: pb.BlobRef, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes of the stored blob from ``offset`` (fewer at its end)."""
        if not 0 <= offset <= ref.size_bytes:
            raise InvalidField(
                "offset", f"{offset:,} is outside blob {ref.xxh3_128} of {ref.size_bytes:,} bytes"
            )
        try:
            with open(self.path(ref), "rb") as f:
                read_ahead(f.fileno(), offset + size, READ_AHEAD)
                f.seek(offset)
                return f.read(min(size, ref.size_bytes - offset))
        except FileNotFoundError:
            raise NoSuchResource(
                f"the controller has no blob {ref.xxh3_128}: upload the project again"
            ) from None

    def collect(self, referenced: set[Key], older_than: float, dry_run: bool) -> tuple[int, int, int]:
        """Remove stored blobs no job references, and partial uploads no upload is adding
        to, each only when older than ``older_than`` seconds (by modification: stored,
        written, or last found by ``has``); with ``dry_run`` remove nothing.
        (removed, bytes freed, stored blobs kept)."""
        cutoff = time.time() - older_than
        removed = freed = kept = 0
        for path, key, stored in self._files():
            try:
                stat = path.stat()
                if key in (referenced if stored else self._locks) or stat.st_mtime > cutoff:
                    kept += stored
                    continue
                if not dry_run:
                    _remove(path)
            except FileNotFoundError:
                continue
            removed += 1
            freed += stat.st_size
        return removed, freed, kept

    def _files(self) -> Iterator[tuple[Path, Key, bool]]:
        """Every stored blob (True), then every partial upload (False), with its key;
        files of any other name are left alone."""
        for folder in sorted(self.root.glob("[0-9a-f][0-9a-f]")):
            for path in folder.iterdir():
                match = _NAME.fullmatch(path.name)
                if match and match[1].startswith(folder.name):
                    yield path, (match[1], int(match[2])), True
        for path in sorted(self.incoming.glob(f"*{PART}")):
            match = _NAME.fullmatch(path.name.removesuffix(PART))
            if match:
                yield path, (match[1], int(match[2])), False


async def _settled(work: Callable[..., T], *args: Any) -> T:
    """``work(*args)`` in a worker thread. Cancelled (the client went away), it still waits
    for the thread to return: the partial upload is never closed under a write, nor handed
    to the next upload of the blob while this one still writes it."""
    future = asyncio.ensure_future(asyncio.to_thread(work, *args))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait([future])
        raise


def _remove(path: Path) -> None:
    """Delete a stored blob: Windows refuses to delete a read-only file."""
    if os.name == "nt":
        path.chmod(0o644)
    path.unlink()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


class _Part:
    """A partial upload being added to: its file, appended past the page cache (see
    renderq/direct_files.py), and the hash of every byte in it, kept as they are added (the
    bytes an earlier upload left are read once, at the start), so a whole blob is checked
    without reading it again."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = Appender(path)
        self._closed = False
        try:
            self._digest = _digest_of(path)
        except BaseException:
            self.file.close()
            raise

    def add(self, data: bytes) -> None:
        self.file.append(data)
        self._digest.update(data)

    def cut(self, size: int) -> None:
        """Back to ``size`` bytes, or fewer if the disk took fewer (a failed write); hashed
        again from the start."""
        with contextlib.suppress(OSError):
            self.file.flush()
        self.file.cut(min(size, self.file.path.stat().st_size))
        self._digest = _digest_of(self.file.path)

    def seal(self) -> str:
        """Durable and closed; the hash of its content."""
        self.file.sync()
        self.close()
        return str(self._digest.hexdigest())

    def close(self) -> None:
        """Keep what was received for the next upload to resume from, as much as the disk
        takes (the next upload resumes from what is there); idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self.file.flush()
        except OSError as e:
            log.warning("partial upload %s kept short: %s", self.file.path, e)
        finally:
            self.file.close()


def _digest_of(path: Path) -> xxhash.xxh3_128:
    digest = xxhash.xxh3_128()
    with open(path, "rb") as f:
        while block := f.read(HASH_BLOCK):
            digest.update(block)
    return digest


def _sync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` survive a power cut (POSIX: fsync the folder; Windows
    cannot open one and its renames are journaled)."""
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
