"""The access records: API tokens and the audit log, as the controller keeps them.

Kept apart from the farm's work records (controller/model.py): they change by other
calls, on another rhythm, and only the auth interceptor, the token verbs and the store
read them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from renderq.controller.model import timestamp
from renderq.v1 import resources_pb2 as pb


@dataclass(eq=False)
class ApiToken:
    """A FarmService token; only the SHA-256 of its secret is ever kept."""

    id: str
    name: str
    role: pb.Role
    digest: str
    created_by: str
    create_time: float = field(default_factory=time.time)
    revoke_time: float | None = None

    def to_proto(self) -> pb.Token:
        return pb.Token(
            id=self.id,
            name=self.name,
            role=self.role,
            create_time=timestamp(self.create_time),
            created_by=self.created_by,
            revoke_time=timestamp(self.revoke_time),
        )


@dataclass(eq=False)
class AuditRecord:
    """One state-changing call: who, what, when, and how it ended."""

    sequence: int
    time: float
    caller: str
    token_id: str
    role: pb.Role
    method: str
    target: str
    request: str
    peer: str
    outcome: str
    error: str = ""

    @property
    def id(self) -> int:
        return self.sequence

    def to_proto(self) -> pb.AuditRecord:
        return pb.AuditRecord(
            sequence=self.sequence,
            time=timestamp(self.time),
            caller=self.caller,
            token_id=self.token_id,
            role=self.role,
            method=self.method,
            target=self.target,
            request=self.request,
            peer=self.peer,
            outcome=self.outcome,
            error=self.error,
        )
