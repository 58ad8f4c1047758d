"""Where renderq keeps its files when no flag says otherwise (XDG base directories)."""

from __future__ import annotations

import os
from pathlib import Path


def data_home() -> Path:
    """``$XDG_DATA_HOME/renderq``, else ``~/.local/share/renderq``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "renderq"
