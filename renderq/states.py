"""Groups of the API's states that the controller, the CLI and the TUI all reason with,
defined once: which frames and tasks are active, which jobs and tasks have ended."""

from __future__ import annotations

from renderq.v1 import resources_pb2 as pb

# The proto's module constants: typed ints, read as fast as any global (never
# ``pb.JobState.JOB_STATE_X``, whose enum wrapper resolves names slowly).
FRAME_ACTIVE = frozenset({pb.FRAME_STATE_ASSIGNED, pb.FRAME_STATE_RENDERING})
TASK_ACTIVE = frozenset({pb.TASK_STATE_ASSIGNED, pb.TASK_STATE_RUNNING})
"""Dispatched to an agent and not yet ended: it holds a slot."""
TASK_FINAL = frozenset({pb.TASK_STATE_COMPLETED, pb.TASK_STATE_FAILED, pb.TASK_STATE_CANCELLED})
JOB_FINAL = frozenset({pb.JOB_STATE_COMPLETED, pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED})
