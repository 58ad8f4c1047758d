"""The agent's cache of blobs (file contents by xxh3-128 and size), shared by every job.

A job's files come from the controller over the link, once per agent and not once per
job: a blob is fetched into ``<cache>/<2 hex>/<hash>-<size>.part``, verified (size
and hash) and only then renamed into place, read-only; a name without ``.part`` is
therefore always a whole, verified blob, even after a crash or a full disk.

Fetching keeps a few chunk requests (``BlobWanted``) in flight per blob, so a link
with latency stays busy while the memory held for chunks that arrive out of order
stays bounded, and a few blobs are fetched at once. A broken link or an agent restart
loses nothing: the next link asks again from the ``.part``'s size. Tasks that need a
blob being fetched wait for that one fetch.

Every job's files land here and nothing else removes them, so blobs no task has used
for the retention (``--blob-retention``) are removed at start and daily (``collect``).
A blob's modification time is its last use: set when it is fetched, and again when a
task finds it here.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import re
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

import xxhash

from renderq.client.units import format_size
from renderq.direct_files import Appender
from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import resources_pb2 as pb

log = logging.getLogger(__name__)

CHUNK = 1 << 20
"""Bytes the agent expects per BlobChunk; a shorter one is followed by a request for the rest."""
WINDOW = 4
"""Chunk requests in flight per blob."""
PARALLEL = 4
"""Blobs fetched at once: at most PARALLEL x WINDOW chunks are held in memory."""
TRIES = 2
"""Fetches of a blob whose content does not match its hash before the task fails."""
READ_ONLY = 0o444
_HASH = re.compile(r"[0-9a-f]{32}")
_FILE = re.compile(r"([0-9a-f]{32}-[0-9]+)(\.part)?")
_FOLDER = re.compile(r"[0-9a-f]{2}")
DAY = 24 * 3600.0
USE_STEP = 3600.0
"""Seconds a blob's time of last use may lag: a blob is touched at most this often, as
a touch also changes the files hard-linked from it (``--run-as``), which their
workspaces' manifests then take for changed and place again."""
KEPT = 2 * USE_STEP
"""Seconds since its last use within which a blob is never removed, whatever the
retention: one found a moment ago is still being placed."""
_NO_SPACE = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))

Send = Callable[[apb.BlobWanted], None]


class BlobError(Exception):
    """A blob a task needs cannot be had. The message names the file (``{file}`` until
    ``naming`` fills it in: tasks that share a fetch name their own file)."""

    def naming(self, file: str) -> BlobError:
        return BlobError(str(self).replace("{file}", file))


def check_ref(ref: pb.BlobRef) -> str:
    """Why ``ref`` cannot name a blob (its hash becomes a file name), or ""."""
    if not _HASH.fullmatch(ref.xxh3_128):
        return f"its hash {ref.xxh3_128!r} is not 32 lowercase hex digits"
    if ref.size_bytes < 0:
        return f"its size {ref.size_bytes} is negative"
    return ""


class BlobCache:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._send: Send | None = None
        """The current link's way to ask for chunks; None while no controller is linked."""
        self._downloads: dict[str, _Download] = {}
        self._slots = asyncio.Semaphore(PARALLEL)
        self.guard = threading.Lock()
        """Held in worker threads to find a blob (and touch it), to open a .part and to
        remove either: nothing is removed between being found and being used."""

    def path(self, ref: pb.BlobRef) -> Path:
        """Where the blob lies once whole (``ref`` passed ``check_ref``)."""
        return self.root / ref.xxh3_128[:2] / f"{ref.xxh3_128}-{ref.size_bytes}"

    async def fetch(self, ref: pb.BlobRef, file: str) -> Path:
        """The blob's path in the cache, fetched first if it is not there yet.

        ``file`` is a path of the job that needs it, for messages. Raises BlobError."""
        if problem := check_ref(ref):
            raise BlobError(f"{file}: {problem}")
        key = _key(ref)
        download = self._downloads.get(key)
        if download is None or download.task.done():
            download = self._downloads[key] = _Download(self, ref)
            download.task.add_done_callback(lambda _: self._forget(key, download))
        download.waiters += 1
        try:
            return await asyncio.shield(download.task)
        except BlobError as exc:
            raise exc.naming(file) from None
        finally:
            download.waiters -= 1
            if download.waiters == 0 and not download.task.done():
                # Nobody needs it any more (its tasks were cancelled); the .part stays for later.
                download.task.cancel()

    def _forget(self, key: str, download: _Download) -> None:
        if self._downloads.get(key) is download:
            del self._downloads[key]

    def attach(self, send: Send) -> None:
        """A controller linked: fetches under way ask it again from where they are."""
        self._send = send
        for download in self._downloads.values():
            download.arrived.put_nowait(None)

    def detach(self) -> None:
        """The link ended: fetches wait for the next one."""
        self._send = None

    def receive(self, chunk: apb.BlobChunk) -> None:
        """A chunk from the link, for the fetch that asked for it."""
        download = self._downloads.get(_key(chunk.blob))
        if download is None:
            log.debug("blob chunk for no fetch ignored blob=%s offset=%d", chunk.blob.xxh3_128, chunk.offset)
            return
        download.arrived.put_nowait(chunk)

    def ask(self, ref: pb.BlobRef, offset: int) -> None:
        if self._send is not None:
            self._send(apb.BlobWanted(blob=ref, offset=offset))

    @property
    def slots(self) -> asyncio.Semaphore:
        return self._slots

    async def collect_daily(self, retention_days: float) -> None:
        """At start, then daily: remove the blobs no task used for ``retention_days``, so
        the projects of jobs long gone do not fill the node's disk; 0 keeps them all."""
        if not retention_days:
            return
        while True:
            try:
                removed, freed = await self.collect(retention_days * DAY)
            except OSError as exc:
                log.warning("cannot look for unused blobs in %s: %s", self.root, exc.strerror or exc)
            else:
                if removed:
                    log.info(
                        "cached blobs unused for %g days removed files=%d bytes_freed=%d (%s)",
                        retention_days, removed, freed, format_size(freed),
                    )  # fmt: skip
            await asyncio.sleep(DAY)

    async def collect(self, older_than: float) -> tuple[int, int]:
        """Remove the blobs not used for ``older_than`` seconds (never fewer than KEPT) and
        the .part files no fetch added to for as long, except those being fetched; no link
        is followed or removed. (Files removed, bytes freed.)"""
        return await asyncio.to_thread(self._collect, time.time() - max(older_than, KEPT))

    def _collect(self, cutoff: float) -> tuple[int, int]:
        removed = freed = 0
        for folder in _entries(self.root):
            if _FOLDER.fullmatch(folder.name) and folder.is_dir(follow_symlinks=False):
                for entry in _entries(Path(folder.path)):
                    size = self._remove_if_unused(entry, folder.name, cutoff)
                    if size is not None:
                        removed += 1
                        freed += size
        return removed, freed

    def _remove_if_unused(self, entry: os.DirEntry[str], folder: str, cutoff: float) -> int | None:
        """Blocking. The bytes freed by removing ``entry``; None when it stays: not a regular
        file named as a blob of this folder, used since ``cutoff``, or being fetched."""
        match = _FILE.fullmatch(entry.name)
        if match is None or not entry.name.startswith(folder):
            return None
        with self.guard:
            if match[1] in self._downloads:
                return None
            try:
                found = os.lstat(entry.path)
                if not stat.S_ISREG(found.st_mode) or found.st_mtime >= cutoff:
                    return None
                if os.name == "nt":
                    os.chmod(entry.path, 0o644)  # Windows refuses to delete a read-only file
                os.unlink(entry.path)
            except FileNotFoundError:
                return None
            except OSError as exc:
                log.warning("cannot remove unused blob path=%s error=%s", entry.path, exc.strerror or exc)
                return None
        return found.st_size


class _Download:
    """One blob being fetched: its .part file, its hash so far, its requests in flight."""

    def __init__(self, cache: BlobCache, ref: pb.BlobRef) -> None:
        self._cache = cache
        self._ref = ref
        self._size = ref.size_bytes
        self._final = cache.path(ref)
        self._part = self._final.with_name(self._final.name + ".part")
        self.arrived: asyncio.Queue[apb.BlobChunk | None] = asyncio.Queue()
        """Chunks as the link reads them; None: a new link, ask again."""
        self.waiters = 0
        self._file: Appender | None = None
        self._digest = xxhash.xxh3_128()
        self._written = 0
        self._asked: set[int] = set()
        self._ahead: dict[int, bytes] = {}
        """Chunks that arrived before those in front of them."""
        self._frontier = 0
        """The next offset to ask for, a chunk beyond every one asked."""
        self.task = asyncio.create_task(self._run(), name=f"blob-{ref.xxh3_128}")

    async def _run(self) -> Path:
        if await asyncio.to_thread(self._present):
            return self._final
        async with self._cache.slots:
            for _ in range(TRIES):
                try:
                    await asyncio.to_thread(self._open)
                    await self._pull()
                    if await asyncio.to_thread(self._seal):
                        log.info("blob fetched blob=%s size=%d", self._ref.xxh3_128, self._size)
                        return self._final
                except OSError as exc:
                    await asyncio.to_thread(self._discard)
                    raise self._disk_error(exc) from None
                finally:
                    await asyncio.to_thread(self._close)
                log.warning("blob does not match its hash, fetching it again blob=%s", self._ref.xxh3_128)
        raise BlobError(
            f"{{file}}: the content the controller sent, twice, does not match its hash "
            f"{self._ref.xxh3_128} ({format_size(self._size)}): its copy on the controller may be damaged"
        )

    async def _pull(self) -> None:
        """Ask for chunks and append them in order until the blob is whole."""
        while not self.arrived.empty():
            self.arrived.get_nowait()
        self._restart()
        while self._written < self._size:
            chunk = await self.arrived.get()
            if chunk is None:
                self._restart()
                continue
            if chunk.error:
                raise BlobError(
                    f"{{file}} (blob {self._ref.xxh3_128}): the controller cannot send it: {chunk.error}"
                )
            data = self._accept(chunk)
            if data:
                await asyncio.to_thread(self._append, data)
            self._ask_more()

    def _restart(self) -> None:
        """Forget the requests in flight (their link is gone) and ask again from the .part's end."""
        self._asked.clear()
        self._ahead.clear()
        self._frontier = self._written
        self._ask_more()

    def _ask(self, offset: int) -> None:
        self._asked.add(offset)
        self._cache.ask(self._ref, offset)

    def _ask_more(self) -> None:
        while len(self._asked) + len(self._ahead) < WINDOW and self._frontier < self._size:
            self._ask(self._frontier)
            self._frontier += CHUNK

    def _accept(self, chunk: apb.BlobChunk) -> bytes:
        """Keep a chunk that was asked for; return the bytes that now follow the .part's end."""
        offset = chunk.offset
        if offset not in self._asked:
            return b""  # asked on an older link and answered since, or never asked
        self._asked.discard(offset)
        data = chunk.data[: max(0, self._size - offset)]
        if not data:
            raise BlobError(f"{{file}} (blob {self._ref.xxh3_128}): the controller sent nothing at {offset}")
        end = offset + len(data)
        if end < min(offset + CHUNK, self._size):
            self._ask(end)  # a short chunk: the rest of it
        self._ahead[offset] = data
        position = self._written
        pieces = []
        while (start := self._covering(position)) is not None:
            piece = self._ahead.pop(start)[position - start :]
            pieces.append(piece)
            position += len(piece)
        for stale in [start for start, data in self._ahead.items() if start + len(data) <= position]:
            del self._ahead[stale]
        return b"".join(pieces)

    def _covering(self, position: int) -> int | None:
        """The offset of a chunk held ahead that holds the byte at ``position``."""
        return next(
            (start for start, data in self._ahead.items() if start <= position < start + len(data)), None
        )

    def _present(self) -> bool:
        """Whether the blob is cached already; if so, it counts as used now."""
        with self._cache.guard:
            try:
                found = self._final.stat()
            except FileNotFoundError:
                return False
            if found.st_size != self._size:
                return False
            if found.st_mtime < time.time() - USE_STEP:
                # A blob the agent cannot touch only looks older: collected, it is fetched again.
                with contextlib.suppress(OSError):
                    os.utime(self._final)
            return True

    def _open(self) -> None:
        """Open the .part to append to, and hash what an earlier fetch left in it."""
        with self._cache.guard:
            self._part.parent.mkdir(parents=True, exist_ok=True)
            self._file = Appender(self._part)
        self._digest = xxhash.xxh3_128()
        self._written = self._file.size
        if self._written > self._size:
            self._file.cut(0)
            self._written = 0
        if self._written:
            with self._part.open("rb") as earlier:
                left = self._written
                while left and (block := earlier.read(min(CHUNK, left))):
                    self._digest.update(block)
                    left -= len(block)
            log.info("blob fetch resumed blob=%s offset=%d", self._ref.xxh3_128, self._written)

    def _append(self, data: bytes) -> None:
        assert self._file is not None
        self._file.append(data)
        self._digest.update(data)
        self._written += len(data)

    def _seal(self) -> bool:
        """Verify the whole .part; rename it into place read-only, or delete it. True if it was good."""
        assert self._file is not None
        self._file.sync()
        self._close()
        if self._written == self._size and self._digest.hexdigest() == self._ref.xxh3_128:
            os.chmod(self._part, READ_ONLY)
            os.replace(self._part, self._final)
            return True
        self._discard()
        return False

    def _close(self) -> None:
        """Keep what arrived, for a later fetch to resume from; then close."""
        file, self._file = self._file, None
        if file is not None:
            try:
                file.flush()
            finally:
                file.close()

    def _discard(self) -> None:
        # Closing flushes what is buffered, which fails again on a full disk; the file closes anyway.
        with contextlib.suppress(OSError):
            self._close()
        self._part.unlink(missing_ok=True)
        self._written = 0

    def _disk_error(self, exc: OSError) -> BlobError:
        if exc.errno in _NO_SPACE:
            return BlobError(f"no space left on this agent for {{file}} ({format_size(self._size)})")
        return BlobError(f"cannot keep {{file}} in the blob cache {self._cache.root}: {exc.strerror or exc}")


def _key(ref: pb.BlobRef) -> str:
    return f"{ref.xxh3_128}-{ref.size_bytes}"


def _entries(folder: Path) -> list[os.DirEntry[str]]:
    """The entries of ``folder``; none when it is not there (nothing cached yet)."""
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except FileNotFoundError:
        return []
