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
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

LARGE_JOB = 100_000
"""Frames from which a submitted job's records are frozen as they are made."""


@contextmanager
def collection_paused() -> Iterator[None]:
    """No collection while the block makes millions of objects at once.

    Every 700 new objects set off a young collection, and the old generation is walked
    whole each time it grew by a quarter: building a million frames and their tasks spent
    about as long in the collector as in building them (bench/recovery.py), to find no
    garbage (records hold no reference cycles). The first collection after the block walks
    them once. The collector is the process's: paused in the store's writer thread, it is
    paused on the event loop too, for as long."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def made_long_lived() -> Iterator[None]:
    """The objects made in this block live as long as the controller (the farm restored):
    none is collected while they are made, and they are frozen after. Left in the young
    generation, the first collection after would walk them all (two seconds for a million
    frames and their tasks). What is garbage before is collected first, not frozen with them."""
    gc.collect()
    with collection_paused():
        yield
        gc.freeze()


def settle_restored() -> None:
    """Collect what the restore left over, then freeze what remains."""
    gc.collect()
    gc.freeze()


def job_made(frames: int) -> AbstractContextManager[None]:
    """The block makes the records of a job of ``frames`` frames. A large one's are frozen as
    the restored ones are: they live until the job is deleted, and left to the collector, a
    million frames and their tasks were walked whole by each of its next three collections
    (young, middle, full), two seconds of the event loop. What was garbage before is collected
    first; an object alive then is never collected later if it ends in a reference cycle (a
    few, for each such submit). A smaller job's records are made with the collector paused."""
    return made_long_lived() if frames >= LARGE_JOB else collection_paused()
