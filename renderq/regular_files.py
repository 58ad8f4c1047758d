"""Opening a file a task named, as the regular file it is and never through a link.

The agent (often root) hashes the outputs a task reports and the controller streams them
back: both open them here, so a task that made its output a link to /etc/shadow, or a
pipe that would block the reader, gets an error instead of the file.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

_FLAGS = os.O_RDONLY
for _name in ("O_NOFOLLOW", "O_NONBLOCK", "O_CLOEXEC"):  # POSIX; Windows has none of them
    _FLAGS |= getattr(os, _name, 0)


def open_regular(path: str | Path) -> BinaryIO:
    """``path`` opened for reading; OSError (with a sentence as its strerror) when it is a
    symbolic link or not a regular file, or cannot be opened."""
    try:
        fd = os.open(path, _FLAGS)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise OSError(errno.ELOOP, "it is a symbolic link; only a regular file is read") from None
        raise
    handle = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
        handle.close()
        raise OSError(errno.EINVAL, "it is not a regular file")
    return handle
