"""Tokens in command lines and output paths.

Two kinds of ``{token}`` appear in what a plugin builds. Frame tokens (``{frame}``,
``{start}``, ``{end}``) are filled per task or per frame, and may carry a Python
format spec (``{frame:04d}``). Agent tokens are known only on the agent, so they pass
through untouched and the agent fills them with plain ``str.replace``: ``{workspace}``,
``{source}``, ``{project}``, ``{renders}`` and ``{python}`` name places there, and
``{gpus}`` the GPUs given to the task, comma-joined indices such as ``0,2`` (also its
``CUDA_VISIBLE_DEVICES``), or nothing when it was given none.
Shell variables written ``${NAME}`` are not tokens.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from renderq.plugins.base import ParameterError

AGENT_PLACES = ("workspace", "source", "project", "renders", "python")
"""Tokens the agent replaces with its own paths for the job."""
AGENT_TOKENS = (*AGENT_PLACES, "gpus")
"""Every token the agent replaces: its places, and ``{gpus}``, the task's GPU indices."""

_TOKEN = re.compile(r"(?<!\$)\{([A-Za-z_]\w*)(?::([^{}]*))?\}")
_LONG_NUMBER = re.compile(r"\d{4}")
"""A width or precision of 1000 or more in a format spec."""


def token_names(text: str) -> list[str]:
    """The token names in ``text``, in order, repeats included."""
    return [m.group(1) for m in _TOKEN.finditer(text)]


def uses_token(text: str, name: str) -> bool:
    return name in token_names(text)


def uses_agent_token(text: str) -> bool:
    """True when ``text`` names a place on the agent, so the controller cannot look at it."""
    return any(name in AGENT_PLACES for name in token_names(text))


def check_template(field: str, text: str, frame_tokens: Collection[str]) -> None:
    """Refuse tokens the plugin would leave unreplaced and format specs that cannot format a frame.

    A mistyped ``{fram}`` would otherwise reach the renderer verbatim and fail on every node.
    """
    allowed = [*frame_tokens, *AGENT_TOKENS]
    for match in _TOKEN.finditer(text):
        name, spec = match.group(1), match.group(2)
        if name not in allowed:
            known = ", ".join("{" + t + "}" for t in allowed)
            raise ParameterError(field, f"{field!r} uses an unknown token {{{name}}}; the tokens are {known}")
        if spec is None:
            continue
        if name in AGENT_TOKENS:
            raise ParameterError(
                field, f"{field!r}: the token {{{name}}} takes no format spec, write {{{name}}}"
            )
        if _LONG_NUMBER.search(spec):
            # Formatting would build the string to check it: {frame:999999999d} is a gigabyte.
            raise ParameterError(field, f"{field!r}: {match.group(0)} asks for a frame number too wide")
        try:
            format(1, spec)
        except ValueError:
            raise ParameterError(
                field, f"{field!r}: {match.group(0)} has a format spec that cannot format a frame number"
            ) from None


def fill_frame_tokens(text: str, values: Mapping[str, int]) -> str:
    """Replace the tokens named in ``values`` (with their format specs); leave the others as written."""

    def replace(match: re.Match[str]) -> str:
        name, spec = match.group(1), match.group(2)
        if name not in values:
            return match.group(0)
        return format(values[name], spec or "")

    return _TOKEN.sub(replace, text)
