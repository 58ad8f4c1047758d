"""A server that cannot bind its port says which renderq process holds it."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest

from .conftest import Farm
from .harness import renderq_argv

pytestmark = pytest.mark.system


def test_a_second_controller_on_a_taken_port_names_the_first(farm_factory: Callable[[], Farm]) -> None:
    farm = farm_factory()
    first = farm.start_controller()
    second = subprocess.run(
        renderq_argv(
            "controller", "--listen", f"127.0.0.1:{farm.port}",
            "--data-dir", str(farm.root / "other"), "--no-mdns",
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert second.returncode != 0
    assert f"held by renderq controller, pid {first.popen.pid}" in second.stderr, second.stderr
