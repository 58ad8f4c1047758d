"""TLS for the operator API and the agent links (to be completed: certificates)."""

from __future__ import annotations

from pathlib import Path

import grpc

CA_CERT = "ca.pem"


def channel_credentials(directory: Path) -> grpc.ChannelCredentials:
    """Credentials that trust only the farm's CA in ``directory``."""
    return grpc.ssl_channel_credentials(root_certificates=(directory / CA_CERT).read_bytes())
