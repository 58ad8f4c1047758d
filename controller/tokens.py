"""The controller's API tokens: create, revoke, and tell who a secret belongs to.

All tokens stay in memory (a farm has tens, not millions) and every change goes to
DuckDB through the recorder, so the interceptor's lookup costs one hash and one dict
get. Only digests are kept (see renderq/tokens.py).
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from renderq import tokens
from renderq.controller.access_records import ApiToken
from renderq.controller.errors import InvalidField, NoSuchResource, NotPossibleNow
from renderq.controller.recorder import Recorder
from renderq.controller.validation import check_name
from renderq.private_files import write_private
from renderq.v1 import resources_pb2 as pb

log = logging.getLogger(__name__)

LOCAL_ADMIN = "local-admin"
"""The name of the token the controller writes to its data directory for its own user."""


@dataclass(frozen=True)
class Caller:
    """Who made a call, as its token says."""

    name: str
    token_id: str
    role: pb.Role


class TokenBook:
    def __init__(self, stored: list[ApiToken], recorder: Recorder) -> None:
        self._rec = recorder
        self._by_id = {t.id: t for t in stored}
        self._by_digest = {t.digest: t for t in stored if t.revoke_time is None}

    def caller(self, secret: str) -> Caller | None:
        """The caller ``secret`` identifies, or None for an unknown or revoked token."""
        digest = tokens.digest(secret)
        token = self._by_digest.get(digest)
        # The dict finds the candidate; the comparison that decides is constant-time.
        if token is None or not hmac.compare_digest(token.digest, digest):
            return None
        return Caller(token.name, token.id, token.role)

    def create(self, name: str, role: pb.Role, created_by: str) -> tuple[ApiToken, str]:
        """A new token and its secret (which is not kept)."""
        name = check_name(name)
        if not name:
            raise InvalidField("name", "a token needs a name saying who or what uses it")
        if role not in (pb.ROLE_VIEWER, pb.ROLE_OPERATOR, pb.ROLE_ADMIN):
            raise InvalidField("role", "must be viewer, operator or admin")
        secret = tokens.new_token()
        token_id = secrets.token_hex(4)
        while token_id in self._by_id:  # revoked ones stay listed: an id is never issued twice
            token_id = secrets.token_hex(4)
        token = ApiToken(
            id=token_id, name=name, role=role, digest=tokens.digest(secret), created_by=created_by
        )
        self._by_id[token.id] = token
        self._by_digest[token.digest] = token
        self._rec.changed(token)
        return token, secret

    def revoke(self, token_id: str) -> ApiToken:
        token = self._by_id.get(token_id)
        if token is None:
            raise NoSuchResource(f"there is no token {token_id!r}; `renderq token list` shows them")
        if token.revoke_time is not None:
            raise NotPossibleNow(f"token {token_id} ({token.name}) is already revoked")
        token.revoke_time = time.time()
        self._by_digest.pop(token.digest, None)
        self._rec.changed(token)
        return token

    def all(self) -> list[ApiToken]:
        return list(self._by_id.values())

    def ensure_local_admin(self, data_dir: Path) -> None:
        """Make sure ``data_dir`` holds a working admin token for the controller's own user:
        the one already there, else a new one (any earlier local token is revoked)."""
        secret = tokens.read_local(data_dir)
        if secret is not None and self.caller(secret) is not None:
            return
        for token in self.all():
            if token.name == LOCAL_ADMIN and token.revoke_time is None:
                self.revoke(token.id)
        token, secret = self.create(LOCAL_ADMIN, pb.ROLE_ADMIN, created_by="controller")
        write_private(data_dir / tokens.LOCAL_FILE, f"{secret}\n".encode())
        log.info("wrote the local admin token path=%s id=%s", data_dir / tokens.LOCAL_FILE, token.id)
