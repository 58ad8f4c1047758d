"""Bringing a job's stored outputs from the controller into a folder: named safely, verified, resumable.

``renderq fetch`` is how a studio with no shared storage gets its frames: the controller
holds each output in its store (hash checked on arrival), and this module streams them
back with ``ReadOutput``. The names come from the network (the path an agent reported),
so each is reduced to its base name and refused when it could not be a plain file name
here; two outputs that would land on one name are refused before anything is written,
rather than put in frame-numbered folders whose layout would change with the frames asked
for. Each file is written to ``NAME.part`` and renamed only once its size and xxh3-128
are what ListOutputs recorded; a ``.part`` an interrupted fetch left is resumed from its
size, and a file already there with the right content is skipped. Nothing already in the
folder is followed: a link where a file or ``.part`` would go is refused.
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import xxhash

from renderq.client.upload import Progress
from renderq.direct_files import Appender
from renderq.regular_files import open_regular
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

if TYPE_CHECKING:
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub

PART = ".part"
"""What a file being fetched is called until it is verified: ``NAME.part``."""
BLOCK = 4 << 20
"""Bytes read at a time when hashing what is already on disk."""
TRIES = 2
"""A file whose content does not match is fetched once more from its first byte."""
_DRIVE = re.compile(r"^[A-Za-z]:")


class DownloadRefused(Exception):
    """An output cannot be fetched as asked; ``message`` says which one and why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def local_name(path: str) -> str:
    """The file name an output recorded at ``path`` (on any agent's OS) gets here: its last
    component after ``/`` or ``\\``. DownloadRefused when that could name anything but a
    file in the folder: empty, ``.``, ``..``, a NUL, or a drive (``C:x`` is relative to
    drive C's current folder on Windows)."""
    name = re.split(r"[/\\]", path)[-1]
    if name in ("", ".", "..") or "\0" in name or _DRIVE.match(name):
        raise DownloadRefused(f"the output {path!r} has no usable file name ({name!r}); it is not fetched")
    return name


@dataclass(frozen=True)
class Wanted:
    """An output stored on the controller, and the name it gets in the folder."""

    frame: int
    output: pb.OutputFile
    name: str


@dataclass(frozen=True)
class Missing:
    """An output this fetch cannot bring: not (yet) on the controller."""

    frame: int
    agent_id: str
    output: pb.OutputFile


@dataclass(frozen=True)
class FetchPlan:
    wanted: list[Wanted]
    missing: list[Missing]


def plan_fetch(frames: Iterable[fpb.FrameOutputs]) -> FetchPlan:
    """What to fetch (the outputs stored on the controller) and what is missing; refuses,
    naming both frames, two outputs that would take one name (compared without case, as
    Windows and macOS do, ``NAME.part`` included). Identical content under one name is
    fetched once: a job that wrote the same file for several frames."""
    wanted: dict[str, Wanted] = {}
    missing: list[Missing] = []
    for frame in frames:
        for output in frame.outputs:
            if output.storage != pb.OUTPUT_STORAGE_CONTROLLER:
                missing.append(Missing(frame.frame, frame.agent_id, output))
                continue
            item = Wanted(frame.frame, output, local_name(output.path))
            key = item.name.casefold()
            for other in (key, key + PART, key.removesuffix(PART)):
                earlier = wanted.get(other)
                if earlier is not None and not _same(earlier, item):
                    raise DownloadRefused(_clash(earlier, item))
            wanted.setdefault(key, item)
    return FetchPlan(list(wanted.values()), missing)


def _same(first: Wanted, second: Wanted) -> bool:
    return first.name == second.name and _blob(first.output) == _blob(second.output)


def _blob(output: pb.OutputFile) -> tuple[str, int]:
    return output.xxh3_128, output.size_bytes


def _clash(first: Wanted, second: Wanted) -> str:
    whose = (
        f"frame {first.frame}" if first.frame == second.frame else f"frames {first.frame} and {second.frame}"
    )
    if first.name == second.name:
        why = f"would both be {first.name!r} in the folder"
    elif first.name.casefold() == second.name.casefold():
        why = f"are named {first.name!r} and {second.name!r}, one file on Windows and macOS"
    else:
        why = f"are named {first.name!r} and {second.name!r}, one where the other is written while fetched"
    return (
        f"{whose} have outputs that {why} ({first.output.path} and {second.output.path}); "
        "fetch them into separate folders, a frame range each"
    )


@dataclass(frozen=True)
class FetchReport:
    """What one fetch did, for the summary."""

    files_fetched: int
    files_skipped: int
    """Already in the folder with the right size and hash."""
    bytes_fetched: int
    """Bytes the controller sent, counting again any a retried file took."""


class _Quiet:
    def begin(self, total: int) -> None:
        pass

    def advance(self, count: int) -> None:
        pass


async def fetch_outputs(
    stub: FarmServiceAsyncStub,
    job_id: int,
    wanted: Sequence[Wanted],
    folder: Path,
    progress: Progress | None = None,
) -> FetchReport:
    """Fetch each wanted output into ``folder`` (created), one file at a time; raises
    DownloadRefused (disk, links, content that does not match twice) or the call's error.
    Cancelled (Ctrl-C), the ``.part`` files stay for the next fetch to resume."""
    heard = progress or _Quiet()
    targets = await asyncio.to_thread(_inspect_all, folder, wanted)
    to_fetch = [t for t in targets if not t.present]
    heard.begin(sum(t.size - t.resume_at for t in to_fetch))
    sent = 0
    for target in to_fetch:
        sent += await target.fetch(stub, job_id, heard)
    return FetchReport(len(to_fetch), len(targets) - len(to_fetch), sent)


def _inspect_all(folder: Path, wanted: Sequence[Wanted]) -> list[_Target]:
    """Blocking (hashes what is already there): call it in a thread."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DownloadRefused(f"cannot create the folder {folder}: {e.strerror or e}") from None
    targets = [_Target(folder, item) for item in wanted]
    for target in targets:
        target.inspect()
    return targets


class _Target:
    """One output's place in the folder: the final file, its ``.part``, what is there."""

    def __init__(self, folder: Path, item: Wanted) -> None:
        self.item = item
        self.size = item.output.size_bytes
        self.final = folder / item.name
        self.part = folder / (item.name + PART)
        self.present = False
        """The final file is there with the right size and hash: nothing to fetch."""
        self.resume_at = 0
        """Bytes of a ``.part`` that can be kept (their hash is checked with the rest)."""

    def inspect(self) -> None:
        found = _lstat(self.final)
        if found is not None:
            _refuse_unless_file(self.final, found)
            self.present = found.st_size == self.size and _digest_of(self.final).hexdigest() == self.hash
        part = _lstat(self.part)
        if not self.present and part is not None:
            _refuse_unless_file(self.part, part)
            self.resume_at = part.st_size if part.st_size <= self.size else 0

    @property
    def hash(self) -> str:
        return self.item.output.xxh3_128

    async def fetch(self, stub: FarmServiceAsyncStub, job_id: int, progress: Progress) -> int:
        """Bytes the controller sent for this file; the verified file renamed into place."""
        sent = 0
        for attempt in range(TRIES):
            part, digest = await asyncio.to_thread(self._open_part, attempt == 0)
            try:
                start = part.size
                written = await self._receive(stub, job_id, part, digest, progress)
                sent += written - start
                if written == self.size and digest.hexdigest() == self.hash:
                    self._seal(part)
                    return sent
                progress.advance(start - written)  # this try's bytes: the next starts over
            finally:
                _close(self.part, part)
        self._discard()
        raise DownloadRefused(
            f"{self.item.name} (frame {self.item.frame}): the controller sent, twice, {written:,} bytes "
            f"with xxh3-128 {digest.hexdigest()} where ListOutputs recorded {self.size:,} bytes with "
            f"xxh3-128 {self.hash}; its copy on the controller may be damaged"
        )

    async def _receive(
        self,
        stub: FarmServiceAsyncStub,
        job_id: int,
        part: Appender,
        digest: xxhash.xxh3_128,
        progress: Progress,
    ) -> int:
        """Append what ReadOutput streams from the ``.part``'s end; the bytes now in it.
        Written on the event loop's thread, so a Ctrl-C never closes the file under a write."""
        written = part.size
        item = self.item
        call = stub.ReadOutput(
            fpb.ReadOutputRequest(job_id=job_id, frame=item.frame, path=item.output.path, offset=written)
        )
        try:
            async for message in call:
                if message.offset != written:
                    raise DownloadRefused(
                        f"{self.item.name} (frame {self.item.frame}) arrived out of order (at byte "
                        f"{message.offset:,}, expected {written:,}); fetch again to resume"
                    )
                data = message.data[: max(0, self.size - written)]
                _write(self.part, part, data)
                digest.update(data)
                written += len(data)
                progress.advance(len(data))
                if len(data) < len(message.data):
                    break  # longer than recorded: it cannot match
        finally:
            call.cancel()
        return written

    def _open_part(self, keep: bool) -> tuple[Appender, xxhash.xxh3_128]:
        """The ``.part`` opened without following a link, to append to, with the hash of
        what it holds (emptied unless ``keep``, or when longer than the file). Blocking (it
        hashes): call it in a thread."""
        try:
            part = Appender(self.part)
        except OSError as e:
            raise _disk_error(self.part, e) from None
        try:
            _refuse_unless_file(self.part, part.stat())
            if not keep or part.size > self.size:
                part.cut(0)
            digest = _digest_of(self.part)
        except BaseException:
            part.close()
            raise
        return part, digest

    def _seal(self, part: Appender) -> None:
        """Make the verified ``.part`` durable and give it its name (replacing an older file)."""
        try:
            part.sync()
            again = _lstat(self.final)
            if again is not None:
                _refuse_unless_file(self.final, again)
            part.close()  # Windows renames only closed files
            os.replace(self.part, self.final)
        except OSError as e:
            raise _disk_error(self.final, e) from None

    def _discard(self) -> None:
        try:
            self.part.unlink(missing_ok=True)
        except OSError as e:
            raise _disk_error(self.part, e) from None


def _write(path: Path, part: Appender, data: bytes) -> None:
    try:
        part.append(data)
    except OSError as e:
        raise _disk_error(path, e) from None


def _close(path: Path, part: Appender) -> None:
    """Keep what arrived for the next fetch to resume from (an interrupted one included)."""
    if part.closed:
        return
    try:
        part.flush()
    except OSError as e:
        raise _disk_error(path, e) from None
    finally:
        part.close()


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return path.lstat()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise _disk_error(path, e) from None


def _refuse_unless_file(path: Path, found: os.stat_result) -> None:
    """Refuse a link (never followed: it could lead anywhere) or anything not a plain file."""
    if stat.S_ISLNK(found.st_mode):
        raise DownloadRefused(f"{path} is a symbolic link; fetch writes no file through a link: remove it")
    if not stat.S_ISREG(found.st_mode):
        raise DownloadRefused(f"{path} is there and is not a file; move it away")


def _digest_of(path: Path) -> xxhash.xxh3_128:
    """The hash of the regular file at ``path`` (never read through a link)."""
    digest = xxhash.xxh3_128()
    try:
        with open_regular(path) as handle:
            while block := handle.read(BLOCK):
                digest.update(block)
    except OSError as e:
        raise _disk_error(path, e) from None
    return digest


def _disk_error(path: Path, error: OSError) -> DownloadRefused:
    if error.errno == errno.ELOOP:
        return DownloadRefused(f"{path} is a symbolic link; fetch writes no file through a link: remove it")
    return DownloadRefused(f"cannot write {path}: {error.strerror or error}")
