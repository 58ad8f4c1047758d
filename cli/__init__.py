"""The `renderq` command line."""

import os

# gRPC's C core logs a failed TLS handshake on stderr in its own words before the
# command prints its sentence; only errors of its own are worth showing a user. This
# must be set before grpc is first imported.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
