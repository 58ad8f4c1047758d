"""Who the caller is and how to reach the controller safely: a token and a TLS directory.

Each comes from its flag, else the environment; the token finally from the local admin
token the controller wrote in its data directory (``--data-dir``, else
``$RENDERQ_DATA_DIR``, else the default one), so a user running the controller on their
own machine (``renderq up``) never has to pass one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from renderq import tokens
from renderq.tls import TLS_ENV
from renderq.xdg import data_home

TOKEN_ENV = "RENDERQ_TOKEN"
DATA_DIR_ENV = "RENDERQ_DATA_DIR"


@dataclass(frozen=True)
class Credentials:
    token: str | None = None
    """Sent with every call as ``authorization: Bearer TOKEN``."""
    tls_dir: Path | None = None
    """A directory holding the farm's ``ca.pem``: dial with TLS and check the controller's
    certificate against it (see renderq/tls.py). None: plain TCP."""
    token_file: Path | None = None
    """The local admin token file the token was read from, or looked for in vain; None when
    the token came from a flag or the environment. Only the client knows where it looked,
    so only it can say so when the controller refuses the call."""


def local_data_dir(data_dir: Path | None = None, environ: Mapping[str, str] = os.environ) -> Path:
    """The controller's data directory as a client on its machine sees it: ``data_dir``,
    else ``$RENDERQ_DATA_DIR``, else the default one."""
    if data_dir is not None:
        return data_dir
    return Path(environ[DATA_DIR_ENV]) if environ.get(DATA_DIR_ENV) else data_home()


def resolve_credentials(
    token: str | None = None,
    tls_dir: Path | None = None,
    environ: Mapping[str, str] = os.environ,
    data_dir: Path | None = None,
) -> Credentials:
    """The flags, else ``$RENDERQ_TOKEN`` / ``$RENDERQ_TLS``, else the local admin token
    in the controller's data directory (see ``local_data_dir``)."""
    if tls_dir is None and environ.get(TLS_ENV):
        tls_dir = Path(environ[TLS_ENV])
    token = token or environ.get(TOKEN_ENV)
    if token:
        return Credentials(token=token, tls_dir=tls_dir)
    directory = local_data_dir(data_dir, environ)
    return Credentials(
        token=tokens.read_local(directory), tls_dir=tls_dir, token_file=directory / tokens.LOCAL_FILE
    )


def explain_unauthenticated(credentials: Credentials, message: str) -> str:
    """The controller's UNAUTHENTICATED sentence told from the caller's side: the
    controller cannot know where the client looked for a token, nor which file it used."""
    if credentials.token_file is None:
        return message
    if credentials.token is None:
        return (
            f"no API token: none given by --token or ${TOKEN_ENV}, and no admin token at "
            f"{credentials.token_file} (the controller's --data-dir; pass --data-dir DIR or "
            f"${DATA_DIR_ENV} if it uses another); anyone else gets a token from an admin "
            "(`renderq token create NAME --role viewer|operator|admin`)"
        )
    return f"{message} (the token came from {credentials.token_file}: is that this controller's --data-dir?)"
