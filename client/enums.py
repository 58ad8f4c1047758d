"""The words people and scripts read for the API's enum values: ``running`` for
``JOB_STATE_RUNNING``, in the CLI's text and JSON and in the TUI alike."""

from __future__ import annotations

from typing import Any

from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper


def _prefix(enum: Any) -> str:
    """``enum``: an EnumDescriptor (pure Python or upb)."""
    # Every renderq enum starts with NAME_UNSPECIFIED = 0 (buf STANDARD), so its
    # value names share that prefix: JOB_STATE_RUNNING -> "running".
    return str(enum.values_by_number[0].name.removesuffix("UNSPECIFIED"))


def word(enum: Any, number: int) -> str | int:
    """``running`` for ``JOB_STATE_RUNNING`` (``enum``: an EnumDescriptor); the number
    itself when this renderq does not know the value (a newer controller's)."""
    value = enum.values_by_number.get(number)
    return str(value.name.removeprefix(_prefix(enum)).lower()) if value is not None else number


def label(enum: EnumTypeWrapper, value: int) -> str:
    """The word for an enum value, as in JSON, but ``-`` for the unspecified one."""
    return "-" if value == 0 else str(word(enum.DESCRIPTOR, value))


def labels(enum: EnumTypeWrapper) -> list[str]:
    """Every label but the unspecified one (argparse ``choices``, filter words)."""
    return [label(enum, number) for number in enum.values() if number]


def from_label(enum: EnumTypeWrapper, text: str) -> str:
    """``running`` -> ``JOB_STATE_RUNNING``: the value's name, which request fields take
    as well as its number. Raises ValueError for a label the enum does not have."""
    name = _prefix(enum.DESCRIPTOR) + text.upper()
    enum.Value(name)
    return name
