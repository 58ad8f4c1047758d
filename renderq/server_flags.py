"""Flags the controller and the agent share, defined once."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

TLS_ENV = "RENDERQ_TLS"


def add_tls_flag(parser: argparse.ArgumentParser, what: str) -> None:
    """``--tls DIR`` (default ``$RENDERQ_TLS``): serve ``what`` over TLS with DIR/node.pem and node.key."""
    parser.add_argument(
        "--tls",
        type=Path,
        metavar="DIR",
        default=os.environ.get(TLS_ENV),
        help=f"serve {what} over TLS with DIR/node.pem and DIR/node.key "
        f"(see `renderq certs`; default ${TLS_ENV})",
    )
