"""Who the caller is and how to reach the controller safely: a token and a TLS directory.

Each comes from its flag, else the environment; the token finally from the local admin
token the controller wrote in the default data directory, so a user running the
controller on their own machine (``renderq up``) never has to pass one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from renderq import tokens
from renderq.xdg import data_home

TOKEN_ENV = "RENDERQ_TOKEN"
TLS_ENV = "RENDERQ_TLS"


@dataclass(frozen=True)
class Credentials:
    token: str | None = None
    """Sent with every call as ``authorization: Bearer TOKEN``."""
    tls_dir: Path | None = None
    """A directory holding the farm's ``ca.pem``: dial with TLS and check the controller's
    certificate against it (see renderq/tls.py). None: plain TCP."""


def resolve_credentials(
    token: str | None = None, tls_dir: Path | None = None, environ: Mapping[str, str] = os.environ
) -> Credentials:
    """The flags, else ``$RENDERQ_TOKEN`` / ``$RENDERQ_TLS``, else the local admin token."""
    token = token or environ.get(TOKEN_ENV) or tokens.read_local(data_home())
    if tls_dir is None and environ.get(TLS_ENV):
        tls_dir = Path(environ[TLS_ENV])
    return Credentials(token=token, tls_dir=tls_dir)
