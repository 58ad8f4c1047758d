"""The Appender writes exactly the bytes appended, whether it writes them past the page
cache or not: across flushes, a reopen inside a block, a cut after a failed write, and a
file system that refuses direct writes."""

from __future__ import annotations

import errno
import os
import random
from pathlib import Path
from typing import Any

import pytest

from renderq import direct_files
from renderq.direct_files import ALIGN, BUFFER, Appender, copy_into

SIZES = [1, 100, ALIGN - 1, ALIGN, ALIGN + 1, BUFFER - 3, BUFFER, 1 << 20, (1 << 20) + 3]


@pytest.mark.parametrize("direct", [True, False])
def test_appends_flushes_reopens_and_cuts_keep_the_file_exactly_the_bytes_given(
    tmp_path: Path, direct: bool
) -> None:
    path, rng, expected = tmp_path / "blob.part", random.Random(7), bytearray()
    appender = Appender(path, direct)
    assert appender.is_direct == (direct and hasattr(os, "O_DIRECT"))
    for step in range(60):
        data = rng.randbytes(rng.choice(SIZES))
        appender.append(data)
        expected += data
        assert appender.size == len(expected)
        if step % 7 == 3:
            appender.flush()
            assert path.read_bytes() == expected, f"after the flush at step {step}"
        if step == 20:  # an upload broken off inside a block, resumed by a new appender
            appender.sync()
            appender.close()
            appender = Appender(path, direct)
            assert appender.size == len(expected)
        if step == 40:  # a failed write cut back off
            appender.flush()
            appender.cut(len(expected) - 777)
            del expected[-777:]
    appender.flush()
    appender.close()
    assert path.read_bytes() == expected


def test_a_file_system_that_refuses_direct_writes_gets_ordinary_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = os.open

    def no_direct(path: Any, flags: int, *args: Any) -> int:
        if flags & getattr(os, "O_DIRECT", 0):
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(path, flags, *args)

    monkeypatch.setattr(direct_files.os, "open", no_direct)
    appender = Appender(tmp_path / "f")
    assert not appender.is_direct
    appender.append(b"x" * (BUFFER + 5))
    appender.flush()
    appender.close()
    assert (tmp_path / "f").read_bytes() == b"x" * (BUFFER + 5)


@pytest.mark.parametrize("size", [0, 1, ALIGN, ALIGN + 1, BUFFER, BUFFER + 5, 2 * BUFFER + ALIGN])
def test_a_copy_into_an_open_file_is_byte_exact_and_leaves_its_flags(tmp_path: Path, size: int) -> None:
    source, target = tmp_path / "blob", tmp_path / "copy"
    source.write_bytes(random.Random(size).randbytes(size))
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    flags = fcntl_flags(fd)
    try:
        with source.open("rb") as original:
            copy_into(original, fd)
        assert fcntl_flags(fd) == flags
    finally:
        os.close(fd)
    assert target.read_bytes() == source.read_bytes()


def fcntl_flags(fd: int) -> int:
    import fcntl

    return fcntl.fcntl(fd, fcntl.F_GETFL)
