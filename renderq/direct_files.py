"""Appending to large files past the page cache where the OS allows it (``O_DIRECT``).

Blobs and outputs are written once and read rarely, yet a buffered write costs the
kernel more CPU than receiving the same bytes over gRPC: on the farm's small machines
about 2.5 ms per MiB (page cache pages found, filled and written back), against about
0.1 ms for an ``O_DIRECT`` write of whole aligned blocks (bench/README.md, files.py).
The ``Appender`` gathers what it is given into an aligned buffer and writes whole
blocks directly; only the unaligned tail is written through the page cache when it
flushes, so after ``flush`` the file is exactly the bytes appended. Where ``O_DIRECT``
does not exist (macOS, Windows) or the file system refuses it (tmpfs), every write is
an ordinary one.
"""

from __future__ import annotations

import contextlib
import errno
import io
import mmap
import os
import shutil
import sys
from pathlib import Path

if sys.platform != "win32":
    import fcntl

ALIGN = 4096
"""Offsets and lengths of direct writes: a multiple of every common logical block size."""
BUFFER = 4 << 20
"""Bytes gathered before a direct write."""
_DIRECT = getattr(os, "O_DIRECT", 0)
_NO_LINK = getattr(os, "O_NOFOLLOW", 0)
"""A link where the file should be is refused (ELOOP), never written through."""
_REFUSED = (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP)


class Appender:
    """Appends to ``path`` (created if missing, never through a link) from its current end.
    Not thread-safe: one writer at a time, in any one thread. ``size`` counts every byte appended, written or
    still in the buffer; ``flush`` puts them all in the file."""

    def __init__(self, path: Path, direct: bool = True) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | _NO_LINK | getattr(os, "O_BINARY", 0), 0o644)
        self.size = os.fstat(self._fd).st_size
        self._direct = _open_direct(path) if direct else None
        self._buffer = mmap.mmap(-1, BUFFER) if self._direct is not None else None
        self._base = self.size - self.size % ALIGN
        """Where the buffer's first byte goes in the file (aligned)."""
        self._pending = 0
        if self._buffer is not None and self.size > self._base:  # resume inside a block
            self._pending = self.size - self._base
            self._buffer[: self._pending] = _read(self._fd, self._pending, self._base)

    def stat(self) -> os.stat_result:
        return os.fstat(self._fd)

    @property
    def is_direct(self) -> bool:
        return self._direct is not None

    def append(self, data: bytes | memoryview) -> None:
        if self._buffer is None:
            _write_all(self._fd, memoryview(data), self.size)
            self.size += len(data)
            return
        view = memoryview(data)
        while view:
            room = min(len(view), BUFFER - self._pending)
            self._buffer[self._pending : self._pending + room] = view[:room]
            self._pending += room
            view = view[room:]
            if self._pending == BUFFER:
                self._write_direct(BUFFER)
        self.size += len(data)

    def flush(self) -> None:
        """Every byte appended into the file: whole blocks directly, the tail buffered (it
        stays in the buffer too, so the next append completes its block directly)."""
        if self._buffer is None:
            return
        self._write_direct(self._pending - self._pending % ALIGN)
        if self._pending:
            _write_all(self._fd, memoryview(self._buffer)[: self._pending], self._base)

    def sync(self) -> None:
        """``flush``, then make it durable."""
        self.flush()
        os.fsync(self._fd)

    def cut(self, size: int) -> None:
        """Forget what was appended beyond ``size`` (a write that failed half way): the file
        and the buffer end there."""
        os.ftruncate(self._fd, size)
        self.size = size
        if self._buffer is not None:
            self._base = size - size % ALIGN
            self._pending = size - self._base
            self._buffer[: self._pending] = _read(self._fd, self._pending, self._base)

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def close(self) -> None:
        """Close without flushing: call ``flush`` or ``sync`` first to keep the tail. Idempotent."""
        if self._fd < 0:
            return
        os.close(self._fd)
        self._fd = -1
        if self._direct is not None:
            os.close(self._direct)
            self._direct = None
        if self._buffer is not None:
            with contextlib.suppress(BufferError):  # a view in a failed write's traceback: freed with it
                self._buffer.close()
            self._buffer = None

    def _write_direct(self, length: int) -> None:
        """The buffer's first ``length`` bytes (a multiple of ALIGN) to the file; the rest
        moves to the buffer's start."""
        if not length:
            return
        assert self._buffer is not None and self._direct is not None
        _write_all(self._direct, memoryview(self._buffer)[:length], self._base)
        rest = self._pending - length
        self._buffer.move(0, length, rest)
        self._base += length
        self._pending = rest


def copy_into(source: io.BufferedIOBase, fd: int) -> None:
    """Copy ``source`` from where it stands into ``fd``, an empty file open for writing:
    whole blocks past the page cache where the OS lets ``fd`` turn direct (Linux), the tail
    through it; elsewhere an ordinary copy."""
    flags = _direct_flags(fd)
    if flags is None:
        with open(fd, "wb", closefd=False) as copy:
            shutil.copyfileobj(source, copy, 1 << 20)
        return
    buffer = mmap.mmap(-1, BUFFER)
    offset = 0
    try:
        while True:
            read_ahead(source.fileno(), source.tell(), 3 * BUFFER)  # a blob cached past memory
            filled = _fill(source, buffer)
            aligned = filled - filled % ALIGN
            with memoryview(buffer) as view:
                _write_all(fd, view[:aligned], offset)
                if aligned < filled:  # the tail: the last block, not whole
                    fcntl.fcntl(fd, fcntl.F_SETFL, flags)
                    _write_all(fd, view[aligned:filled], offset + aligned)
            offset += filled
            if filled < BUFFER:
                break
    finally:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags)
        with contextlib.suppress(BufferError):
            buffer.close()


def read_ahead(fd: int, offset: int, length: int) -> None:
    """Ask the OS to start reading ``length`` bytes of ``fd`` from ``offset`` into memory
    now, so the next read finds them (files written past the page cache are read from the
    disk); a hint, ignored where the OS has none."""
    if hasattr(os, "posix_fadvise"):
        with contextlib.suppress(OSError):
            os.posix_fadvise(fd, offset, length, os.POSIX_FADV_WILLNEED)


def _direct_flags(fd: int) -> int | None:
    """``fd``'s flags before it was made direct, or None where it cannot be."""
    if not _DIRECT or sys.platform != "linux":
        return None
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | _DIRECT)
    except OSError:
        return None
    return flags


def _fill(source: io.BufferedIOBase, buffer: mmap.mmap) -> int:
    """Read into ``buffer`` until it is full or ``source`` ends; the bytes read."""
    filled = 0
    with memoryview(buffer) as view:
        while filled < BUFFER and (count := source.readinto(view[filled:])):
            filled += count
    return filled


def _open_direct(path: Path) -> int | None:
    """A second descriptor of ``path`` for direct writes, or None where the OS or the file
    system has none (then every write goes through the page cache)."""
    if not _DIRECT:
        return None
    try:
        return os.open(path, os.O_WRONLY | _DIRECT | _NO_LINK)
    except OSError as e:
        if e.errno in _REFUSED:
            return None
        raise


def _write_all(fd: int, view: memoryview, offset: int) -> None:
    while view:
        if hasattr(os, "pwrite"):
            written = os.pwrite(fd, view, offset)
        else:  # Windows: no pwrite; one writer per file, so seek then write
            os.lseek(fd, offset, os.SEEK_SET)
            written = os.write(fd, view)
        view = view[written:]
        offset += written


def _read(fd: int, size: int, offset: int) -> bytes:
    """The last partial block, to finish it with direct writes (only where O_DIRECT exists:
    POSIX, which has pread)."""
    data = os.pread(fd, size, offset)
    if len(data) != size:
        raise OSError(errno.EIO, f"read {len(data)} of the {size} bytes of the last block")
    return data
