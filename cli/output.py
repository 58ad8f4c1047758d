"""What the command line prints for scripts: JSON, by one convention for every verb.

The convention (also in README.md, "Operating the farm"):

- A resource is an object, a listing a list of objects, in the proto3 JSON mapping with
  the .proto field names (``frames_completed``); every field without presence is
  printed, even when it is 0 or empty, and ids and other 64-bit integers are numbers.
- Enum values are the short lowercase words the text output uses: ``"state":
  "completed"``, ``"mode": "draining"``, ``"type": "path"`` (``"unspecified"`` for none).
- Plugin parameters keep their schema's types: an ``integer`` parameter is an integer
  (``"width": 320``), a ``number`` a float, whatever Struct made of it on the wire.
- Durations are seconds, as a number (``"render_time": 65.2``); timestamps RFC 3339 text
  in UTC (``"2026-12-01T21:14:06Z"``); a time or duration never set is left out.
- Keys are sorted at every level.
- A verb whose answer is empty says what it did: ``{"agent_id": "node7", "forgotten": true}``.
- Streams (``logs --json``) are JSON Lines: one object per line of the log,
  ``{"attempt_id", "offset", "task_id", "text"}``, the text as text.
- A failure is an object on stderr, ``{"error": {"code": "INVALID_ARGUMENT", "exit_code": 2,
  "message": "..."}}`` (``code`` is null where no server status applies), and a note
  ``{"warning": {"message": "..."}}``; stdout then holds only the documents.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from google.protobuf import duration_pb2, json_format
from google.protobuf.message import Message

from renderq.client.enums import word
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

ParameterTypes = Mapping[str, Mapping[str, int]]
"""Per plugin, the ``ParameterType`` of each parameter (see cli/schema.py)."""

_KEPT_AS_MAPPED = frozenset({"google.protobuf.Timestamp", "google.protobuf.Struct"})
"""Messages whose proto3 JSON form already is the convention's (RFC 3339, plain JSON)."""


def to_dict(message: Message, parameter_types: ParameterTypes | None = None) -> dict[str, Any]:
    """``message`` by the convention above; job parameters typed by ``parameter_types``."""
    document = json_format.MessageToDict(
        message,
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
        use_integers_for_enums=True,
        unquote_int64_if_possible=True,
    )
    _conform(message, document, parameter_types or {})
    return document


def _conform(message: Message, document: dict[str, Any], types: ParameterTypes) -> None:
    """Rewrite in place what the proto3 mapping prints differently from the convention."""
    for field in message.DESCRIPTOR.fields:
        if field.name not in document or _is_map(field):
            continue
        value = getattr(message, field.name)
        if field.enum_type is not None:
            if field.is_repeated:
                document[field.name] = [word(field.enum_type, v) for v in value]
            else:
                document[field.name] = word(field.enum_type, value)
        elif field.message_type is not None and field.message_type.full_name not in _KEPT_AS_MAPPED:
            if field.is_repeated:
                document[field.name] = [
                    _conform_message(item, mapped, types)
                    for item, mapped in zip(value, document[field.name], strict=True)
                ]
            else:
                document[field.name] = _conform_message(value, document[field.name], types)
    if isinstance(message, pb.Job) and "parameters" in document:
        document["parameters"] = typed_parameters(message, types)


def _conform_message(message: Message, mapped: Any, types: ParameterTypes) -> Any:
    if isinstance(message, duration_pb2.Duration):
        return message.seconds + message.nanos / 1e9
    _conform(message, mapped, types)
    return mapped


def _is_map(field: Any) -> bool:
    """``field``: a FieldDescriptor (pure Python or upb, which the stubs type apart)."""
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def typed_parameters(job: pb.Job, types: ParameterTypes) -> dict[str, Any]:
    """The job's parameters in its plugin's schema types (as they are when unknown)."""
    plugin_types = types.get(job.plugin, {})
    return {
        name: _typed(value, plugin_types.get(name))
        for name, value in json_format.MessageToDict(job.parameters).items()
    }


def _typed(value: Any, parameter_type: int | None) -> Any:
    """Struct carries every number as a double: an integer parameter's comes back whole."""
    if parameter_type == fpb.PARAMETER_TYPE_INTEGER and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def rfc3339(moment: datetime) -> str:
    """A time as the convention writes it, like a Timestamp's: ``2026-12-01T21:14:06Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def print_document(document: Any) -> None:
    """Any JSON value, by the convention's layout (indented, keys sorted)."""
    print(json.dumps(document, indent=2, sort_keys=True))


def print_json(value: Message | Sequence[Message], parameter_types: ParameterTypes | None = None) -> None:
    """One JSON document: an object for a resource, a list for a listing."""
    if isinstance(value, Message):
        print_document(to_dict(value, parameter_types))
    else:
        print_document([to_dict(m, parameter_types) for m in value])


def print_json_line(document: Mapping[str, Any]) -> None:
    """One line of a JSON Lines stream, flushed so a reader sees it at once."""
    print(json.dumps(document, sort_keys=True), flush=True)
