"""The signals that stop a renderq process cleanly, as Ctrl-C does: a service manager's
stop, and SIGHUP where the system has it (the SSH session or terminal the process ran in
went away; left to its default, it would die without stopping its tasks or its store)."""

from __future__ import annotations

import signal

STOP_SIGNALS: tuple[signal.Signals, ...] = (
    signal.SIGINT,
    signal.SIGTERM,
    *([signal.SIGHUP] if hasattr(signal, "SIGHUP") else []),
)
