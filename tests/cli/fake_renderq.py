"""Stands in for ``python -m renderq`` under ``renderq up``: logs the ready line real
services log, then serves until SIGTERM. ``FAKE_RENDERQ_FAIL=<verb>`` makes that verb
exit before it is ready, ``FAKE_RENDERQ_DIE=<verb>`` right after."""

import os
import signal
import sys

verb = sys.argv[1]
listen = sys.argv[sys.argv.index("--listen") + 1]
host, port = listen.rsplit(":", 1)
port = port if port != "0" else {"agent": "17421", "controller": "17420"}[verb]
print(f"argv {' '.join(sys.argv[1:])}", file=sys.stderr, flush=True)
if os.environ.get("FAKE_RENDERQ_FAIL") == verb:
    print(f"cannot listen on {listen}: address in use", file=sys.stderr, flush=True)
    sys.exit(3)
name = "agent node-1" if verb == "agent" else "controller"
print(
    f"2024-01-01 00:00:00,000 INFO renderq.{verb} renderq {name} listening on {host}:{port}",
    file=sys.stderr,
    flush=True,
)
if os.environ.get("FAKE_RENDERQ_DIE") == verb:
    print("lost the database", file=sys.stderr, flush=True)
    sys.exit(5)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
while True:
    signal.pause()
