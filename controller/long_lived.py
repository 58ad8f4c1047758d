"""The records restored at start live as long as the controller: out of the garbage
collector's sight.

A full collection walks every tracked object; with a large farm restored (a million
records and their fields) that walk held the event loop for about a quarter of a second
(bench/scheduler.py), links, heartbeats and the API all waiting. ``gc.freeze`` moves the
restored objects into the permanent generation, which no collection walks; they are
still freed by reference counting when deleted (the records hold no reference cycles).
Objects made afterwards are collected as usual.
"""

from __future__ import annotations

import gc


def settle_restored() -> None:
    """Collect what the restore left over, then freeze what remains."""
    gc.collect()
    gc.freeze()
