"""The audit log: every state-changing FarmService call, who made it, and how it ended.

Records go to DuckDB through the recorder like every other change (so an answered call's
record is as durable as the call's effect) and are read back page by page from the
database: the log only grows, so it is not kept in memory.
"""

from __future__ import annotations

import asyncio
import time

from google.protobuf import text_format
from google.protobuf.message import Message

from renderq.controller.access_records import AuditRecord
from renderq.controller.errors import clip
from renderq.controller.recorder import Recorder
from renderq.controller.store import Store
from renderq.controller.tokens import Caller

MAX_REQUEST_TEXT = 2000
"""Most characters of a request kept in a record (a job's parameters can be long)."""


def target_of(request: Message, response: Message | None) -> str:
    """What a call acted on, in words: ``job 12``, ``agent render-07``, ``token 3f2a``."""
    for message in (response, request):
        if message is None:
            continue
        fields = message.DESCRIPTOR.fields_by_name
        for noun in ("job", "agent", "token"):
            if noun in fields and message.HasField(noun) and getattr(message, noun).id:
                return f"{noun} {getattr(message, noun).id}"
            if f"{noun}_id" in fields:
                return f"{noun} {getattr(message, f'{noun}_id')}"
    return ""


class AuditLog:
    def __init__(self, recorder: Recorder, store: Store, last_sequence: int) -> None:
        self._rec = recorder
        self._store = store
        self._sequence = last_sequence

    def record(
        self,
        caller: Caller,
        method: str,
        request: Message,
        response: Message | None,
        peer: str,
        outcome: str,
        error: str = "",
    ) -> None:
        self._sequence += 1
        text = text_format.MessageToString(request, as_one_line=True)
        if len(text) > MAX_REQUEST_TEXT:
            text = text[:MAX_REQUEST_TEXT] + "…"
        self._rec.changed(
            AuditRecord(
                sequence=self._sequence,
                time=time.time(),
                caller=caller.name,
                token_id=caller.token_id,
                role=caller.role,
                method=method,
                target=target_of(request, response),
                request=text,
                peer=peer,
                outcome=outcome,
                error=clip(error),
            )
        )

    async def stored(self) -> None:
        """Wait until every record so far (and every change before it) is in DuckDB."""
        await self._rec.flush()

    async def page(self, before: int, limit: int) -> list[AuditRecord]:
        """Records older than sequence ``before`` (0: from the newest), newest first."""
        await self.stored()
        return await asyncio.to_thread(self._store.audit_records, before or self._sequence + 1, limit)
