"""A disk that fills up, for the writers that go through renderq/direct_files.py."""

from __future__ import annotations

import errno

import pytest

from renderq import direct_files


def fill_disk(monkeypatch: pytest.MonkeyPatch, room: int) -> None:
    """From now on the disk takes ``room`` more bytes: the write that passes them writes
    what fits in whole blocks (as a direct write must), then fails as a full disk does
    (ENOSPC). ``monkeypatch.undo()`` frees it."""
    left = [room]
    write_all = direct_files._write_all

    def nearly_full(fd: int, view: memoryview, offset: int) -> None:
        if len(view) > left[0]:
            write_all(fd, view[: left[0] - left[0] % direct_files.ALIGN], offset)
            left[0] = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        left[0] -= len(view)
        write_all(fd, view, offset)

    monkeypatch.setattr(direct_files, "_write_all", nearly_full)
