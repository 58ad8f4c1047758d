"""A renderq server that cannot bind its port names the renderq process holding it."""

from __future__ import annotations

import socket
import subprocess
import sys

from renderq.port_holder import holder_of
from tests.waiting import eventually


def test_a_port_held_by_a_renderq_process_names_it() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # A stand-in whose command line says renderq controller, listening on the port.
    code = f"import socket,time; s=socket.socket(); s.bind(('127.0.0.1',{port})); s.listen(); time.sleep(60)"
    holder = subprocess.Popen([sys.executable, "-c", code, "renderq", "controller"])
    try:
        eventually("the stand-in listens", lambda: bool(holder_of(f"127.0.0.1:{port}")))
        said = holder_of(f"0.0.0.0:{port}")
        assert (
            said == f" (held by renderq controller, pid {holder.pid}: stop it first, e.g. kill {holder.pid})"
        )
    finally:
        holder.kill()
        holder.wait()
    assert holder_of(f"127.0.0.1:{port}") == ""
    assert holder_of("127.0.0.1:0") == ""
