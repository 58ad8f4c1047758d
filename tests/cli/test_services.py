"""``renderq agent|controller install-service`` and ``uninstall-service``: the unit, the
plist and the sc.exe lines as text, and what is written and run as data.

No systemd runs here: a fake ``systemctl`` on PATH records its calls (or fails, or is
missing), and the system folders are moved under the test's own folder.
"""

from __future__ import annotations

import os
import plistlib
import shlex
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from renderq import farm_key
from renderq.cli import service_launchd, service_systemd, services
from renderq.cli.main import main
from renderq.cli.service_spec import Target, build, server_parser
from renderq.cli.service_steps import RemoveFile, Run, WriteFile

KEY = bytes(range(32))
TOKEN = farm_key.to_token(KEY)
FAKE_SYSTEMCTL = """#!/bin/sh
echo "$*" >> "$SYSTEMCTL_LOG"
if [ -n "$SYSTEMCTL_SAYS" ]; then echo "$SYSTEMCTL_SAYS" >&2; exit 1; fi
"""


@dataclass
class Result:
    code: int
    out: str
    err: str


@dataclass
class Machine:
    """This machine with its system folders under tmp_path and a fake systemctl on PATH."""

    root: Path
    data: Path
    capsys: pytest.CaptureFixture[str]

    def renderq(self, *argv: str) -> Result:
        self.capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            main(list(argv))
        captured = self.capsys.readouterr()
        assert isinstance(exit_info.value.code, int)
        return Result(exit_info.value.code, captured.out, captured.err)

    @property
    def unit(self) -> Path:
        return self.root / "etc/systemd/system/renderq-agent.service"

    @property
    def env_file(self) -> Path:
        return self.root / "etc/renderq/agent.env"

    def systemctl_calls(self) -> list[str]:
        log = self.root / "systemctl.log"
        return log.read_text().splitlines() if log.exists() else []


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Machine:
    monkeypatch.setattr(service_systemd, "SYSTEM_UNIT_DIR", tmp_path / "etc/systemd/system")
    monkeypatch.setattr(service_systemd, "SYSTEM_ENV_DIR", tmp_path / "etc/renderq")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "systemctl").write_text(FAKE_SYSTEMCTL)
    (bin_dir / "systemctl").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("SYSTEMCTL_LOG", str(tmp_path / "systemctl.log"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("SYSTEMCTL_SAYS", raising=False)
    for name in [n for n in os.environ if n.startswith("RENDERQ_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return Machine(tmp_path, tmp_path / "data", capsys)


def exec_start(unit: str) -> list[str]:
    """ExecStart= as systemd splits it: quotes and backslashes, then ``%%`` and ``$$``."""
    (line,) = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
    return [w.replace("%%", "%").replace("$$", "$") for w in shlex.split(line.removeprefix("ExecStart="))]


def settings(unit: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in unit.splitlines() if "=" in line and not line.startswith("#"))


def test_dry_run_prints_the_unit_with_the_flags_given_and_never_the_secret(machine: Machine) -> None:
    result = machine.renderq(
        "agent",
        "install-service",
        "--dry-run",
        "--join",
        TOKEN,
        "--slots",
        "2",
        "--data-dir",
        str(machine.data),
    )
    assert result.code == 0, result.err
    assert TOKEN not in result.out + result.err
    assert exec_start(result.out)[1:] == [
        "-m",
        "renderq",
        "agent",
        "--slots",
        "2",
        "--data-dir",
        str(machine.data),
    ]
    assert exec_start(result.out)[0] == os.path.abspath(sys.executable)
    unit = settings(result.out)
    assert unit["EnvironmentFile"] == f"-{machine.env_file}"
    assert unit["WorkingDirectory"] == str(machine.data)
    assert (unit["User"], unit["Group"], unit["Restart"], unit["KillMode"]) == (
        "root",
        "root",
        "on-failure",
        "mixed",
    )
    assert unit["TimeoutStopSec"] == "40s", "the default kill grace (10 s) and 30 s to say goodbye"
    assert unit["After"] == unit["Wants"] == "network-online.target"
    assert f"write {machine.env_file} (mode 0600) holding RENDERQ_JOIN_TOKEN" in result.err
    assert not machine.unit.exists() and not machine.data.exists() and machine.systemctl_calls() == []


def test_the_stop_timeout_outlasts_the_agents_kill_grace(machine: Machine) -> None:
    result = machine.renderq("agent", "install-service", "--dry-run", "--kill-grace", "100.5")
    assert settings(result.out)["TimeoutStopSec"] == "131s"


def test_odd_characters_reach_the_agent_as_typed(machine: Machine) -> None:
    tags = 'gpu,100%,$HOME,"quoted" \\ back'
    result = machine.renderq("agent", "install-service", "--dry-run", "--tags", tags, "--pool", "a b")
    assert exec_start(result.out)[4:8] == ["--tags", tags, "--pool", "a b"]


def test_a_typo_in_the_agent_flags_is_refused_before_anything_is_written(machine: Machine) -> None:
    for flags, said in [
        (["--slots", "many"], "argument --slots"),
        (["--slot", "2"], "unrecognized arguments: --slot 2"),
        (["--data", "/srv/x"], "unrecognized arguments: --data"),
        (["--join", "rqk_short"], "--join: the join token is damaged"),
    ]:
        result = machine.renderq("agent", "install-service", *flags)
        assert result.code == 2, flags
        assert said in result.err and "nothing was written" in result.err, result.err
        assert "Traceback" not in result.err
    assert not machine.unit.exists() and machine.systemctl_calls() == []


def test_relative_paths_are_made_absolute_from_where_it_was_typed(machine: Machine) -> None:
    result = machine.renderq(
        "controller", "install-service", "--dry-run", "--tls", "certs", "--data-dir", "state"
    )
    words = exec_start(result.out)
    assert words[words.index("--tls") + 1] == str(machine.root / "certs")
    assert words[words.index("--data-dir") + 1] == str(machine.root / "state")
    assert settings(result.out)["WorkingDirectory"] == str(machine.root / "state")


def test_a_settings_file_is_named_absolute_and_names_the_data_dir(machine: Machine) -> None:
    (machine.root / "agent.toml").write_text('data_dir = "/srv/farm/agent"\nslots = 2\n')
    result = machine.renderq("agent", "install-service", "--dry-run", "--config", "agent.toml")
    assert result.code == 0, result.err
    assert exec_start(result.out)[4:] == [
        "--config",
        str(machine.root / "agent.toml"),
        "--data-dir",
        "/srv/farm/agent",
    ]
    assert settings(result.out)["WorkingDirectory"] == "/srv/farm/agent"


def test_a_mistake_in_the_settings_file_is_refused_before_anything_is_written(machine: Machine) -> None:
    (machine.root / "agent.toml").write_text("slot = 2\n")
    result = machine.renderq("agent", "install-service", "--config", "agent.toml")
    assert result.code == 2 and "unknown key 'slot' (did you mean slots?)" in result.err
    assert "nothing was written" in result.err and not machine.unit.exists()


def test_without_data_dir_a_system_service_keeps_its_state_in_var_lib(machine: Machine) -> None:
    agent = machine.renderq("agent", "install-service", "--dry-run")
    controller = machine.renderq("controller", "install-service", "--dry-run")
    assert exec_start(agent.out)[-2:] == ["--data-dir", "/var/lib/renderq/agent"]
    assert exec_start(controller.out)[-2:] == ["--data-dir", "/var/lib/renderq"]
    assert settings(controller.out)["TimeoutStopSec"] == "30s"


def test_install_writes_the_unit_and_a_root_only_env_file_then_enables_and_starts(machine: Machine) -> None:
    result = machine.renderq("agent", "install-service", "--join", TOKEN, "--data-dir", str(machine.data))
    assert result.code == 0, result.err
    assert TOKEN not in machine.unit.read_text()
    assert stat.S_IMODE(machine.unit.stat().st_mode) == 0o644
    assert stat.S_IMODE(machine.env_file.stat().st_mode) == 0o600
    assert f"RENDERQ_JOIN_TOKEN={TOKEN}\n" in machine.env_file.read_text()
    assert machine.data.is_dir()
    assert machine.systemctl_calls() == [
        "daemon-reload",
        "enable renderq-agent.service",
        "restart renderq-agent.service",
    ]
    assert "follow its log with: journalctl -u renderq-agent.service -f" in result.out


def test_installing_again_replaces_the_secret_and_keeps_what_else_the_env_file_holds(
    machine: Machine,
) -> None:
    machine.env_file.parent.mkdir(parents=True)
    machine.env_file.write_text("# mine\nHTTPS_PROXY=http://proxy:3128\nRENDERQ_JOIN_TOKEN=rqk_old\n")
    assert (
        machine.renderq("agent", "install-service", "--join", TOKEN, "--data-dir", str(machine.data)).code
        == 0
    )
    assert (
        machine.env_file.read_text() == f"# mine\nHTTPS_PROXY=http://proxy:3128\nRENDERQ_JOIN_TOKEN={TOKEN}\n"
    )


def test_a_join_token_in_the_environment_goes_to_the_env_file_too(
    machine: Machine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RENDERQ_AGENT_JOIN", TOKEN)
    monkeypatch.setenv("RENDERQ_RUN_AS", "render")
    result = machine.renderq("agent", "install-service", "--data-dir", str(machine.data))
    assert result.code == 0, result.err
    assert f"RENDERQ_JOIN_TOKEN={TOKEN}" in machine.env_file.read_text()
    assert "will not see $RENDERQ_RUN_AS from this shell" in result.err


def test_a_user_unit_lives_in_the_users_config_and_uses_systemctl_user(machine: Machine) -> None:
    result = machine.renderq(
        "agent", "install-service", "--user", "--join", TOKEN, "--data-dir", str(machine.data)
    )
    assert result.code == 0, result.err
    unit = (machine.root / "config/systemd/user/renderq-agent.service").read_text()
    env_file = machine.root / "config/renderq/agent.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600 and TOKEN in env_file.read_text()
    assert "User=" not in unit and "network-online" not in unit
    assert settings(unit)["WantedBy"] == "default.target"
    assert machine.systemctl_calls()[0] == "--user daemon-reload"
    assert "journalctl --user -u renderq-agent.service -f" in result.out
    assert "loginctl enable-linger" in result.out


def test_a_missing_systemctl_is_said_in_a_sentence(machine: Machine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(machine.root / "nothing"))
    result = machine.renderq("agent", "install-service", "--data-dir", str(machine.data))
    assert result.code == 1
    assert "renderq: cannot run `systemctl daemon-reload`: there is no systemctl" in result.err
    assert "not done after it: run systemctl enable renderq-agent.service" in result.err
    assert "Traceback" not in result.err


def test_a_failing_systemctl_is_told_with_what_it_said(
    machine: Machine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYSTEMCTL_SAYS", "System has not been booted with systemd as init system (PID 1).")
    result = machine.renderq("agent", "install-service", "--data-dir", str(machine.data))
    assert result.code == 1
    assert "`systemctl daemon-reload` failed (exit status 1): System has not been booted" in result.err
    assert machine.unit.exists(), "what was written before the failure stays"


def test_uninstall_stops_disables_removes_and_keeps_the_data_dir(machine: Machine) -> None:
    machine.renderq("agent", "install-service", "--join", TOKEN, "--data-dir", str(machine.data))
    (machine.root / "systemctl.log").unlink()
    result = machine.renderq("agent", "uninstall-service")
    assert result.code == 0, result.err
    assert machine.systemctl_calls() == ["disable --now renderq-agent.service", "daemon-reload"]
    assert not machine.unit.exists() and not machine.env_file.exists() and machine.data.is_dir()
    assert f"Its data folder {machine.data} is kept" in result.out


def test_uninstall_of_nothing_says_so(machine: Machine) -> None:
    result = machine.renderq("controller", "uninstall-service")
    assert result.code == 0
    assert "renderq-controller.service is not installed" in result.err and "pass --user" in result.err
    assert machine.systemctl_calls() == []


def test_a_system_service_needs_root(machine: Machine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    result = machine.renderq("agent", "install-service", "--data-dir", str(machine.data))
    assert result.code == 2 and "needs root" in result.err and "--user" in result.err
    assert not machine.unit.exists()


def test_service_users_are_checked(machine: Machine) -> None:
    result = machine.renderq("agent", "install-service", "--service-user", "nobody", "--run-as", "nobody")
    assert result.code == 2 and "--run-as needs an agent running as root, not as nobody" in result.err
    result = machine.renderq("controller", "install-service", "--service-user", "no-such-user-here")
    assert result.code == 2 and "no such user on this machine" in result.err
    controller = machine.renderq("controller", "install-service", "--dry-run", "--service-user", "nobody")
    assert (settings(controller.out)["User"], settings(controller.out)["Group"]) == ("nobody", "nogroup")


def test_another_os_is_shown_never_installed(machine: Machine) -> None:
    result = machine.renderq("agent", "install-service", "--os", "macos", "--python", "/usr/bin/python3")
    assert result.code == 2 and "only --dry-run" in result.err
    result = machine.renderq("agent", "install-service", "--os", "macos", "--dry-run")
    assert result.code == 2 and "pass --python PATH" in result.err


def test_the_launchd_plist_restarts_on_failure_and_holds_no_secret(machine: Machine) -> None:
    result = machine.renderq(
        "agent", "install-service", "--os", "macos", "--dry-run", "--python", "/opt/rq/bin/python3",
        "--join", TOKEN, "--slots", "3", "--service-user", "render",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert TOKEN not in result.out + result.err
    job = plistlib.loads(result.out.encode())
    data_dir = "/Library/Application Support/renderq/agent"
    assert job["Label"] == "renderq-agent"
    assert job["ProgramArguments"] == [
        "/opt/rq/bin/python3", "-m", "renderq", "agent", "--slots", "3", "--data-dir", data_dir,
    ]  # fmt: skip
    assert (job["RunAtLoad"], job["KeepAlive"], job["UserName"]) == (
        True,
        {"SuccessfulExit": False},
        "render",
    )
    assert job["StandardOutPath"] == job["StandardErrorPath"] == "/Library/Logs/renderq/renderq-agent.log"
    assert job["EnvironmentVariables"] == {"PYTHONUNBUFFERED": "1"}
    assert job["WorkingDirectory"] == data_dir and job["ExitTimeOut"] == 40
    assert f"{data_dir}/farm.key (mode 0600)" in result.err


def test_the_launchd_install_keeps_the_key_then_loads_the_job_afresh(tmp_path: Path) -> None:
    words = ["--join", TOKEN, "--data-dir", "/srv/rq"]
    service = build("agent", words, Target("macos"), "/usr/bin/python3", "render")
    places = service_launchd.Places(tmp_path / "renderq-agent.plist", tmp_path / "log", "system")
    plan = service_launchd.install(service, places)
    (key,) = [s for s in plan.steps if isinstance(s, WriteFile) and s.path.name == "farm.key"]
    assert (key.data, key.mode, key.owner) == (KEY, 0o600, "render")
    assert [s.argv for s in plan.steps if isinstance(s, Run)] == [
        ("launchctl", "bootout", "system/renderq-agent"),
        ("launchctl", "enable", "system/renderq-agent"),
        ("launchctl", "bootstrap", "system", str(places.plist)),
    ]


def test_the_launchd_uninstall_unloads_removes_and_names_the_data_dir(tmp_path: Path) -> None:
    service = build("agent", ["--data-dir", "/srv/rq"], Target("macos"), "/usr/bin/python3", None)
    places = service_launchd.Places(tmp_path / "renderq-agent.plist", tmp_path / "log", "gui/501")
    places.plist.write_bytes(service_launchd.plist_bytes(service, places))
    plan, data_dir = service_launchd.uninstall("agent", True, places)
    assert data_dir == "/srv/rq"
    assert plan.steps == (
        Run(("launchctl", "bootout", "gui/501/renderq-agent"), may_fail=True),
        RemoveFile(places.plist),
    )


def test_windows_gets_the_exact_sc_exe_lines(machine: Machine) -> None:
    python = r"C:\Program Files\Python312\python.exe"
    result = machine.renderq(
        "agent", "install-service", "--os", "windows", "--python", python, "--slots", "2", "--pool", "a b"
    )
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        r'sc.exe create renderq-agent binPath= "\"C:\Program Files\Python312\python.exe\" -m renderq agent '
        r'--slots 2 --pool \"a b\" --data-dir C:\ProgramData\renderq\agent" start= auto',
        "sc.exe failure renderq-agent reset= 86400 actions= restart/5000/restart/30000/restart/60000",
        "sc.exe start renderq-agent",
    ]
    assert "error 1053" in result.err


def test_windows_keeps_the_join_token_off_the_command_line(machine: Machine) -> None:
    result = machine.renderq(
        "agent", "install-service", "--os", "windows", "--python", r"C:\Python312\python.exe", "--join", TOKEN
    )
    assert result.code == 0 and TOKEN not in result.out + result.err
    assert "set RENDERQ_JOIN_TOKEN" in result.err
    uninstall = machine.renderq("agent", "uninstall-service", "--os", "windows")
    assert uninstall.out == "sc.exe stop renderq-agent\nsc.exe delete renderq-agent\n"


def test_exec_start_words_read_back_as_written() -> None:
    for word in ["plain", "a b", "100%", "$HOME", 'say "hi"', "back\\slash", "", "semi;colon", "%h ${X}"]:
        line = "ExecStart=" + service_systemd.exec_word(word)
        assert exec_start(line) == [word], line


@pytest.mark.parametrize("kind", ["agent", "controller"])
def test_install_options_never_shadow_a_server_flag(kind: str) -> None:
    """install-service takes its own options out of the words first: a server flag of the
    same name would never reach the server."""
    ours = set(services._install_parser(kind)._option_string_actions) - {"-h", "--help"}
    assert ours.isdisjoint(server_parser(kind)._option_string_actions)


def test_the_servers_help_mentions_the_service_verbs(machine: Machine) -> None:
    for kind in ("agent", "controller"):
        result = machine.renderq(kind, "--help")
        assert f"`renderq {kind} install-service [FLAGS]`" in " ".join(result.out.split())


def test_a_settings_file_for_another_machine_is_named_not_read(machine: Machine) -> None:
    result = machine.renderq(
        "agent", "install-service", "--os", "windows", "--python", r"C:\Python312\python.exe",
        "--config", r"C:\renderq\agent.toml",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert r"--config C:\renderq\agent.toml" in result.out


def test_new_data_folders_are_open_to_the_users_tasks_run_as_whatever_the_umask(machine: Machine) -> None:
    previous = os.umask(0o077)
    try:
        data = machine.root / "var/lib/renderq/agent"
        assert machine.renderq("agent", "install-service", "--data-dir", str(data)).code == 0
    finally:
        os.umask(previous)
    for folder in (data, data.parent, data.parent.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o755, folder
