"""What this node agrees to run: the operator's allow-lists, checked on every assignment.

The controller already avoids offering a node plugins it refuses (the agent announces
them in its hello); the check here is the node's own word, so a controller with
different ideas still cannot make it run anything else.
"""

from __future__ import annotations

import shutil
import sys

from renderq.agent.config import AgentConfig
from renderq.v1 import agent_service_pb2 as apb


def refusal(config: AgentConfig, assignment: apb.AssignTask) -> str:
    """Why this node will not run ``assignment``, in words; empty when it will."""
    if config.allowed_plugins and assignment.plugin not in config.allowed_plugins:
        return (
            f"this agent does not run the {assignment.plugin!r} plugin "
            f"(it runs only {', '.join(config.allowed_plugins)})"
        )
    if config.allowed_executables:
        for command in assignment.commands:
            program = command.argv[0] if command.argv else ""
            if not executable_allowed(program, config.allowed_executables):
                return (
                    f"this agent does not start {program!r} "
                    f"(it starts only {', '.join(config.allowed_executables)})"
                )
    return ""


def executable_allowed(program: str, allowed: tuple[str, ...]) -> bool:
    """A bare name matches a bare name (found on PATH as usual); a path matches the
    absolute path the program resolves to. So `/tmp/x/blender` never passes as `blender`."""
    if program == "{python}":
        program = sys.executable
    if "/" not in program and program in allowed:
        return True
    resolved = shutil.which(program) if "/" not in program else program
    return resolved is not None and resolved in {a for a in allowed if "/" in a}
