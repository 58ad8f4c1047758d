"""Who is at the keyboard: the default owner of the jobs a person submits."""

from __future__ import annotations

import getpass


def login_name() -> str:
    """$USER, or its equivalent where that is not set (Windows, services); empty when unknown."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return ""
