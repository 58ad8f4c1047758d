"""Anything a user can cause ends in one sentence and an exit code, never a traceback."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import grpc
import pytest

from renderq.cli.main import build_parser, main
from renderq.v1 import resources_pb2 as rs

from .conftest import DEADLINE, CliRunner, FakeFarm, renderq_process


def run(*argv: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    process = renderq_process(*argv, env=env, cwd=cwd)
    out, err = process.communicate(timeout=DEADLINE)
    return process.returncode, out.decode(), err.decode()


def test_an_invalid_argument_prints_the_servers_sentence_and_exits_2(farm: FakeFarm, tmp_path: Path) -> None:
    farm.errors["CreateJob"] = (grpc.StatusCode.INVALID_ARGUMENT, "frames: '1-abc' is not a frame range")
    code, out, err = run("submit", "demo", "--frames", "1-abc", "--controller", farm.address, cwd=tmp_path)
    assert code == 2
    assert err == "renderq: frames: '1-abc' is not a frame range (INVALID_ARGUMENT)\n"
    assert out == ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_controller_is_named_and_exits_3(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    code, _, err = run("jobs", "--controller", address, cwd=tmp_path)
    assert code == 3
    assert err.startswith(f"renderq: cannot reach the controller at {address}: ")
    assert err.rstrip().endswith("(UNAVAILABLE)")
    assert "Traceback" not in err


def test_the_environment_names_the_controller(farm: FakeFarm, tmp_path: Path) -> None:
    farm.jobs = {5: rs.Job(id=5, state=rs.JOB_STATE_QUEUED)}
    code, out, err = run("jobs", "--json", cwd=tmp_path, env={"RENDERQ_CONTROLLER": farm.address})
    assert code == 0, err
    assert '"id": 5' in out


def test_the_environment_names_the_controller_in_process(
    cli: CliRunner, farm: FakeFarm, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RENDERQ_CONTROLLER", farm.address)
    assert cli("agents", controller=False).out.strip() == "no agents"


@pytest.mark.parametrize(
    ("code", "exit_code"),
    [
        (grpc.StatusCode.NOT_FOUND, 2),
        (grpc.StatusCode.FAILED_PRECONDITION, 2),
        (grpc.StatusCode.ALREADY_EXISTS, 2),
        (grpc.StatusCode.PERMISSION_DENIED, 4),
        (grpc.StatusCode.UNAUTHENTICATED, 4),
        (grpc.StatusCode.INTERNAL, 1),
    ],
)
def test_each_kind_of_failure_has_its_exit_code(
    cli: CliRunner, farm: FakeFarm, code: grpc.StatusCode, exit_code: int
) -> None:
    farm.errors["CancelJob"] = (code, "job 3 is completed; there is nothing to cancel")
    result = cli("cancel", "3", "--token", "rqt_given")
    assert result.code == exit_code
    assert result.err == f"renderq: job 3 is completed; there is nothing to cancel ({code.name})\n"


def test_ctrl_c_exits_130_without_a_traceback(farm: FakeFarm, tmp_path: Path) -> None:
    farm.jobs = {3: rs.Job(id=3, state=rs.JOB_STATE_RUNNING)}
    process = renderq_process("wait", "3", "--controller", farm.address, cwd=tmp_path)
    try:
        assert farm.watching.wait(DEADLINE), "renderq wait never opened its event stream"
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=DEADLINE)
    finally:
        process.kill()
    assert process.returncode == 130
    assert b"Traceback" not in err


def test_a_bad_command_line_exits_2(tmp_path: Path) -> None:
    code, _, err = run("wait", "not-a-number", cwd=tmp_path)
    assert code == 2
    assert "invalid int value" in err
    assert "Traceback" not in err


def test_every_verb_explains_itself(capsys: pytest.CaptureFixture[str]) -> None:
    verbs = next(a for a in build_parser()._actions if a.dest == "verb").choices
    assert isinstance(verbs, dict)
    for verb, sub in verbs.items():
        assert sub.description, f"renderq {verb} --help has no description"
        with pytest.raises(SystemExit) as exit_info:
            main([verb, "--help"])
        assert exit_info.value.code == 0
        assert capsys.readouterr().out.startswith(f"usage: renderq {verb}")
