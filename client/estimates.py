"""A job's estimate in words, as the CLI and the TUI show it: "est. 3 h 20 min render
time, 1 h 05 min left, $12.40".

The controller derives the estimate from the completed test frames' render times
(``controller/test_frames.py``); a job without one shows none.
"""

from __future__ import annotations

from renderq.v1 import resources_pb2 as pb


def span(seconds: float) -> str:
    """``12000`` -> ``3 h 20 min``, ``3900`` -> ``1 h 05 min``, ``300`` -> ``5 min``, ``42`` -> ``42 s``."""
    whole = round(seconds)
    hours, minutes = whole // 3600, whole % 3600 // 60
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min" if minutes else f"{whole} s"


def estimate_text(job: pb.Job) -> str:
    """The job's estimate in one line; "" before a test frame completed."""
    est = job.estimate
    if not est.frames_measured:
        return ""
    parts = [
        f"est. {span(est.total_render_time.ToTimedelta().total_seconds())} render time",
        f"{span(est.time_left.ToTimedelta().total_seconds())} left",
    ]
    if est.cost:
        parts.append(f"${est.cost:,.2f}")
    return ", ".join(parts)
