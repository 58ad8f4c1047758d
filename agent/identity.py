"""The agent's stable id.

The controller keys its records (history, failures per node, cost) by agent id, so
the id must survive restarts and reinstalls of the software: it lives in the agent's
data folder and is created once, from the host name plus a random suffix so that two
machines cloned from one image still differ once each makes its own.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import socket
from pathlib import Path

log = logging.getLogger(__name__)

ID_FILE = "agent-id"
_NOT_IN_ID = re.compile(r"[^a-z0-9-]+")


def load_or_create_agent_id(data_dir: Path) -> str:
    """Read ``data_dir/agent-id``, or create it as ``<hostname>-<6 hex>``.

    Raises OSError when the folder cannot be read or written.
    """
    path = data_dir / ID_FILE
    if path.exists():
        agent_id = path.read_text(encoding="utf-8").strip()
        if agent_id:
            return agent_id
        log.warning("agent id file is empty, making a new id path=%s", path)
    agent_id = f"{_host_label()}-{secrets.token_hex(3)}"
    data_dir.mkdir(parents=True, exist_ok=True)
    # Write then rename, so a crash never leaves a half-written id behind.
    partial = path.with_name(f"{ID_FILE}.{os.getpid()}.tmp")
    partial.write_text(agent_id + "\n", encoding="utf-8")
    partial.replace(path)
    log.info("agent id created agent=%s path=%s", agent_id, path)
    return agent_id


def _host_label() -> str:
    """The host name as a DNS label: the id also names the agent's mDNS service."""
    name = socket.gethostname().split(".")[0].lower()
    return _NOT_IN_ID.sub("-", name).strip("-")[:40] or "agent"
