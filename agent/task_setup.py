"""What a task is given besides its program: the agent's tokens filled into its command
lines, and its environment (the agent's, the run-as user's, the job's, its GPUs, the
``RENDERQ_*`` variables, each overriding the ones before)."""

from __future__ import annotations

import os
from collections.abc import Mapping

_AGENT_ENVIRONMENT = dict(os.environ)
"""The agent's environment, read once: os.environ decodes every variable on each read."""


def task_environment(
    user: Mapping[str, str], job: Mapping[str, str], gpus: str, renderq: Mapping[str, str]
) -> dict[str, str]:
    """The environment of a task's processes. ``user``: the run-as user's HOME and the like
    (not root's: the task's programs would look for their settings there)."""
    return {**_AGENT_ENVIRONMENT, **user, **job, **gpu_environment(gpus), **renderq}


def fill_tokens(text: str, tokens: Mapping[str, str]) -> str:
    """Replace the agent's tokens (keys such as ``{renders}``) with plain ``str.replace``;
    any other braces (``{frame:04d}``) stay as they are."""
    for token, value in tokens.items():
        text = text.replace(token, value)
    return text


def gpu_environment(gpus: str) -> dict[str, str]:
    """The variables that keep a task to the GPUs it was given (``gpus``: ``0,2``).

    They override the agent's and the job's own: the controller hands each GPU to one
    task at a time. The indices are those ``nvidia-smi`` lists (see ``hardware``), in PCI
    bus order, so CUDA is told to count in that order too rather than fastest first.

    A task given no GPUs gets nothing here, and CUDA_VISIBLE_DEVICES stays as the agent's
    and the job's environment have it. Hiding every GPU from it (an empty value) would
    keep a CPU task off GPUs that other tasks were given, but it would also break every
    job that renders on the GPU without reserving any, as every job did before GPUs were
    reserved; a job (or an agent) that wants its tasks kept off the GPUs sets
    CUDA_VISIBLE_DEVICES="" in its own environment.
    """
    if not gpus:
        return {}
    return {"CUDA_VISIBLE_DEVICES": gpus, "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
