"""TLS on a real farm: certificates from `renderq certs`, a controller and an agent as
their own processes, and the command line with and without the farm's CA."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from renderq import tls

from .conftest import Farm
from .harness import DEADLINE, renderq_argv

pytestmark = pytest.mark.system


def certs(*args: str) -> None:
    """`renderq certs ARGS` as an operator runs it."""
    result = subprocess.run(renderq_argv("certs", *args), capture_output=True, text=True, timeout=DEADLINE)
    assert result.returncode == 0, result.stderr


@dataclass
class TlsFarm:
    farm: Farm
    client_dir: Path
    """Only the farm's ca.pem: all a client needs."""
    root: Path


@pytest.fixture
def tls_farm(farm_factory: Callable[[], Farm], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TlsFarm:
    # The services read it as their --tls default: each process here gets its own flag.
    monkeypatch.delenv("RENDERQ_TLS", raising=False)
    controller_dir, agent_dir, client_dir = tmp_path / "ctl-tls", tmp_path / "a1-tls", tmp_path / "client"
    certs("--dir", str(controller_dir))
    certs("--dir", str(controller_dir), "--node-dir", str(agent_dir))
    client_dir.mkdir()
    shutil.copy(controller_dir / tls.CA_CERT, client_dir / tls.CA_CERT)

    farm: Farm = farm_factory()
    farm.add_agent("a1")
    agent = farm.start_agent("a1", "--tls", str(agent_dir))
    agent.wait_for_line(r"link tls=on")
    controller = farm.start_controller("--tls", str(controller_dir))
    controller.wait_for_line(r"renderq controller listening on \S+ .*tls=on")
    controller.wait_for_line(r"agent online")
    return TlsFarm(farm, client_dir, tmp_path)


def test_a_job_runs_with_every_link_over_tls(tls_farm: TlsFarm) -> None:
    cli, tls_dir = tls_farm.farm.cli, str(tls_farm.client_dir)
    job = cli.json("submit", "--tls", tls_dir, "command", "--frames", "1-4", "--", "true")
    assert cli.run("wait", "--tls", tls_dir, str(job["id"]), "--timeout", "60").returncode == 0
    frames = cli.json("frames", "--tls", tls_dir, str(job["id"]))
    assert [f["state"] for f in frames] == ["completed"] * 4


def test_a_client_without_tls_is_told_to_pass_it(tls_farm: TlsFarm) -> None:
    result = tls_farm.farm.cli.run("jobs", check=False)
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    sentence = result.stderr.strip().splitlines()[-1]
    assert sentence.startswith("renderq: cannot reach the controller"), result.stderr
    assert "TLS" in sentence
    assert "--tls DIR" in sentence


def test_a_client_trusting_another_farms_ca_is_refused(tls_farm: TlsFarm) -> None:
    other = tls_farm.root / "other-farm"
    certs("--dir", str(other))
    result = tls_farm.farm.cli.run("jobs", "--tls", str(other), check=False)
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    sentence = result.stderr.strip().splitlines()[-1]
    assert sentence.startswith("renderq: the TLS handshake with the controller at"), result.stderr
    assert "not signed by this farm's CA" in sentence
    assert "ca.pem" in sentence


def test_the_controller_says_why_an_agent_from_another_farm_cannot_link(tls_farm: TlsFarm) -> None:
    farm = tls_farm.farm
    other = tls_farm.root / "other-farm"
    certs("--dir", str(other))
    port = farm.add_agent("intruder")
    farm.start_agent("intruder", "--tls", str(other))
    # The controller dials the agents it was told about at start: restart it with both.
    assert farm.controller is not None
    farm.controller.stop()
    controller = farm.start_controller("--tls", str(tls_farm.root / "ctl-tls"))
    warning = controller.wait_for_line(rf"cannot link to agent address=127\.0\.0\.1:{port} tls=UNTRUSTED")
    assert "not signed by this farm's CA" in warning.string
    controller.wait_for_line(r"agent online")
