"""The systemd unit that ``install-service`` writes: systemd's own checker accepts it, and
its ExecStart, run the way systemd runs it, starts an agent that joins a real farm.

No systemd runs in the test container, so systemd's part is played here: the unit's
Environment=, EnvironmentFile= and WorkingDirectory= are applied to an otherwise empty
environment (``env -i -C``), and a fake ``systemctl`` records what it was asked.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import Farm
from .harness import Process, renderq_argv, require

pytestmark = pytest.mark.system

SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
"""The PATH systemd gives a service."""
FAKE_SYSTEMCTL = '#!/bin/sh\necho "$*" >> "$SYSTEMCTL_LOG"\n'


def systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    require(path is not None, "systemd-analyze (Debian package systemd)")
    assert path is not None
    return path


def settings(unit: str) -> dict[str, list[str]]:
    """Each setting's values, in order (a setting may be given more than once)."""
    found: dict[str, list[str]] = {}
    for line in unit.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key, []).append(value)
    return found


def exec_start(unit: str) -> list[str]:
    """ExecStart= as systemd splits it: quotes and backslashes, then ``%%`` and ``$$``."""
    (line,) = settings(unit)["ExecStart"]
    return [word.replace("%%", "%").replace("$$", "$") for word in shlex.split(line)]


def environment(unit: str) -> dict[str, str]:
    """Environment= and the EnvironmentFile= (``-``: if it exists), as systemd reads them."""
    found = dict(value.split("=", 1) for value in settings(unit).get("Environment", []))
    for path in settings(unit).get("EnvironmentFile", []):
        file = Path(path.removeprefix("-"))
        if path.startswith("-") and not file.exists():
            continue
        for line in file.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                key, value = line.split("=", 1)
                found[key] = value
    return found


def dry_run(tmp_path: Path, kind: str, *flags: str) -> str:
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    argv = renderq_argv(kind, "install-service", "--dry-run", *flags)
    result = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize(
    ("kind", "flags"),
    [
        ("agent", ["--join", "rqk_" + "A" * 43, "--slots", "2", "--tags", "gpu,100%", "--run-as", "nobody"]),
        ("controller", ["--listen", "0.0.0.0:7420", "--agent", "10.0.0.7:7421", "--tls", "certs"]),
        ("agent", ["--user", "--pool", "night shift"]),
    ],
    ids=["agent", "controller", "user-agent"],
)
def test_systemd_analyze_verify_accepts_what_dry_run_prints(
    tmp_path: Path, kind: str, flags: list[str]
) -> None:
    checker = systemd_analyze()
    unit = tmp_path / f"renderq-{kind}.service"
    unit.write_text(dry_run(tmp_path, kind, *flags))
    per_user = "--user" in flags
    # A user manager needs a runtime folder of its own; a system one does not.
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path)}
    argv = [checker, *(["--user"] if per_user else []), "verify", str(unit)]
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    said = [line for line in (result.stdout + result.stderr).splitlines() if unit.name in line]
    assert result.returncode == 0 and not said, f"{' '.join(argv)}:\n{result.stdout}{result.stderr}"
    assert "rqk_" not in unit.read_text()


def test_the_units_exec_start_runs_an_agent_that_joins_the_farm(
    farm_factory: Callable[[], Farm], tmp_path: Path
) -> None:
    farm = farm_factory()
    port = farm.add_agent("service")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "systemctl").write_text(FAKE_SYSTEMCTL)
    (bin_dir / "systemctl").chmod(0o755)
    config = tmp_path / "config"
    installed = subprocess.run(
        renderq_argv(
            "agent", "install-service", "--user", "--join", farm.token, "--listen", f"127.0.0.1:{port}",
            "--no-mdns", "--heartbeat-interval", "0.5", "--data-dir", "service-data",
        ),
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
        env={
            **os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "XDG_CONFIG_HOME": str(config),
            "SYSTEMCTL_LOG": str(tmp_path / "systemctl.log"),
        },
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    assert (tmp_path / "systemctl.log").read_text().splitlines() == [
        "--user daemon-reload",
        "--user enable renderq-agent.service",
        "--user restart renderq-agent.service",
    ]
    unit = (config / "systemd/user/renderq-agent.service").read_text()
    env_file = config / "renderq/agent.env"
    assert farm.token not in unit
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600

    (workdir,) = settings(unit)["WorkingDirectory"]
    assert workdir == str(tmp_path / "service-data")
    variables = {"PATH": SYSTEMD_PATH, "HOME": str(tmp_path), **environment(unit)}
    assert variables["RENDERQ_JOIN_TOKEN"] == farm.token
    argv = ["env", "-i", "-C", workdir, *(f"{k}={v}" for k, v in variables.items()), *exec_start(unit)]
    agent = Process(argv, "service", tmp_path)
    farm.agents["service"] = agent  # stopped with the farm
    agent.wait_for_line(rf"renderq agent \S+ listening on 127\.0\.0\.1:{port}")
    controller = farm.start_controller()
    controller.wait_for_line(rf"agent online agent=\S+ address=127\.0\.0\.1:{port}")
    assert (tmp_path / "service-data" / "farm.key").exists(), (
        "the token from the env file was kept as the key"
    )
