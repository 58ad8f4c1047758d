"""Path parameters are judged where the user typed them, never on the controller's disk.

In a real farm the controller may not mount the studio's share at all, so the client
(the CLI or the TUI, run from the user's own directory) makes each path parameter
absolute and checks that it exists there. A path under an agent token (``{project}``)
names a place that exists only on the agent, and ``--paths-on-nodes`` says the paths are
valid only on the render nodes: both are passed through unchecked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, MutableMapping
from pathlib import Path
from typing import Any

_AGENT_TOKEN = re.compile(r"(?<!\$)\{(workspace|source|project|renders|python)\}")


class MissingPath(ValueError):
    """A path parameter names nothing on the submitting machine."""

    def __init__(self, name: str, path: str) -> None:
        super().__init__(
            f"the {name} {path!r} does not exist on this machine; check the path, or pass "
            "--paths-on-nodes when it is valid only on the render nodes"
        )
        self.name = name
        self.path = path


def localize_paths(
    parameters: MutableMapping[str, Any],
    path_names: Iterable[str],
    cwd: Path,
    *,
    check: bool = True,
) -> None:
    """Make each named path parameter absolute from ``cwd`` and require it to exist.

    Changes ``parameters`` in place; raises ``MissingPath`` for the first that is missing.
    Without ``check`` the paths are the render nodes' (perhaps ``P:\\shots`` on Windows
    nodes), so they pass as typed.
    """
    if not check:
        return
    for name in path_names:
        value = parameters.get(name)
        if not isinstance(value, str) or not value.strip() or _AGENT_TOKEN.search(value):
            continue
        path = (cwd / Path(value).expanduser()).resolve()
        if not path.exists():
            raise MissingPath(name, value)
        parameters[name] = str(path)
