"""API tokens: what a person or a script shows the controller to use FarmService.

A token is ``rqt_`` and 32 random bytes. The controller stores only its SHA-256 (a
token has full entropy, so a fast hash is enough and a stolen database reveals no
token). On its first start the controller writes an admin token to a file in its data
directory readable by its owner only: the CLI and the TUI on that machine read it, so
local use needs no setup, and everyone else needs a token an admin created.
"""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path

PREFIX = "rqt_"
LOCAL_FILE = "admin.token"
"""The controller's local admin token, in its data directory."""
METADATA_KEY = "authorization"
"""Calls carry ``authorization: Bearer TOKEN``."""


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    """What the controller stores and looks tokens up by."""
    return hashlib.sha256(token.encode()).hexdigest()


def read_local(data_dir: Path) -> str | None:
    """The local admin token in ``data_dir``, or None when there is none this user may read."""
    try:
        return (data_dir / LOCAL_FILE).read_text().strip() or None
    except (FileNotFoundError, PermissionError, NotADirectoryError):
        return None
