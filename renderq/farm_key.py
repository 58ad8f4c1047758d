"""The farm key: the one secret that makes a controller and its agents one farm.

mDNS lets anyone advertise an agent or answer as a controller, so finding a peer grants
nothing. On every link each side proves it holds the key without revealing it: each
sends a fresh random nonce, and each answers with an HMAC-SHA256 over both nonces (and
the agent's id) under the key, with a different label per side so one answer can never
be replayed as the other. A peer without the key learns nothing it can reuse.

The key lives in a file readable only by its owner; operators move it to a new node as
a join token (``renderq join-token`` prints the whole command line).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from pathlib import Path

from renderq.private_files import write_private

KEY_BYTES = 32
NONCE_BYTES = 32
TOKEN_PREFIX = "rqk_"
FILE_NAME = "farm.key"

_AGENT_LABEL = b"renderq/v1 agent proof"
_CONTROLLER_LABEL = b"renderq/v1 controller proof"


class FarmKeyError(ValueError):
    """A token or key file that cannot be used; the message says why."""


def new_nonce() -> bytes:
    return secrets.token_bytes(NONCE_BYTES)


def to_token(key: bytes) -> str:
    return TOKEN_PREFIX + base64.urlsafe_b64encode(key).decode().rstrip("=")


def from_token(token: str) -> bytes:
    text = token.strip()
    if not text.startswith(TOKEN_PREFIX):
        raise FarmKeyError(f"a join token starts with {TOKEN_PREFIX!r}; get one with `renderq join-token`")
    body = text[len(TOKEN_PREFIX) :]
    try:
        key = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (ValueError, TypeError):
        raise FarmKeyError("the join token is damaged; copy it again from `renderq join-token`") from None
    if len(key) != KEY_BYTES:
        raise FarmKeyError(
            "the join token is damaged (wrong length); copy it again from `renderq join-token`"
        )
    return key


def load(path: Path) -> bytes | None:
    """The key stored at ``path``, or None when there is none."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    if len(data) != KEY_BYTES:
        raise FarmKeyError(f"{path} is not a farm key ({len(data)} bytes, expected {KEY_BYTES})")
    return data


def load_or_create(path: Path) -> bytes:
    key = load(path)
    if key is None:
        key = secrets.token_bytes(KEY_BYTES)
        write_private(path, key)
    return key


def agent_proof(key: bytes, controller_nonce: bytes, agent_nonce: bytes, agent_id: str) -> bytes:
    message = _AGENT_LABEL + controller_nonce + agent_nonce + agent_id.encode()
    return hmac.new(key, message, hashlib.sha256).digest()


def controller_proof(key: bytes, controller_nonce: bytes, agent_nonce: bytes, agent_id: str) -> bytes:
    message = _CONTROLLER_LABEL + agent_nonce + controller_nonce + agent_id.encode()
    return hmac.new(key, message, hashlib.sha256).digest()


def matches(expected: bytes, given: bytes) -> bool:
    """Constant-time comparison of two proofs."""
    return hmac.compare_digest(expected, given)
