"""An operator's view through the `renderq` command line against real processes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import Farm
from .harness import Process, renderq_argv

pytestmark = pytest.mark.system


@pytest.fixture
def one_agent_farm(farm_factory: Callable[[], Farm]) -> Farm:
    farm: Farm = farm_factory()
    farm.add_agent("a1")
    farm.start_agent("a1")
    controller = farm.start_controller()
    controller.wait_for_line(r"agent online")
    return farm


def test_a_line_printed_by_a_task_shows_in_logs_follow_while_it_runs(
    one_agent_farm: Farm, tmp_path: Path
) -> None:
    farm = one_agent_farm
    gate = tmp_path / "gate"
    job_id = farm.cli.json(
        "submit",
        "command",
        "--frames",
        "1",
        "--",
        "sh",
        "-c",
        f"echo hello-from-the-task; while [ ! -e {gate} ]; do sleep 0.05; done; echo bye",
    )["id"]
    job_id = str(job_id)
    follower = Process(
        renderq_argv("logs", job_id, "1", "-f", "--controller", farm.cli.controller),
        "logs",
        tmp_path,
        farm.cli.token_env(),
    )
    follower.wait_for_line("hello-from-the-task")
    job = farm.cli.json("job", job_id)
    assert job["state"] == "running", "the line must arrive while the task still runs"
    gate.touch()
    follower.wait_for_line("bye")
    assert follower.popen.wait(60) == 0
    assert farm.cli.run("wait", job_id, "--timeout", "60").returncode == 0


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["submit", "command", "--frames", "1-abc", "--", "true"], "'1-abc' is not a frame"),
        (["submit", "command", "--frames", "1-10", "--chunk", "0", "--", "true"], "chunk_size"),
        (["submit", "houdini", "--frames", "1"], "unknown plugin 'houdini'"),
        (["submit", "command", "--frames", "1-1000000000", "--", "true"], "at most 1,000,000"),
        (
            ["submit", "blender", "--frames", "1", "--param", "scene=/nowhere/shot.blend"],
            "/nowhere/shot.blend",
        ),
        (["submit", "command", "--frames", "1", "--param", "argv=[]"], "argv"),
        (["job", "4242"], "job 4242 does not exist"),
    ],
    ids=[
        "bad-range",
        "chunk-0",
        "unknown-plugin",
        "billion-frames",
        "missing-blend",
        "empty-argv",
        "no-such-job",
    ],
)
def test_bad_input_prints_a_sentence_without_traceback(
    one_agent_farm: Farm, args: list[str], words: str
) -> None:
    result = one_agent_farm.cli.run(*args, check=False)
    assert result.returncode == 2, result
    assert words in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_unreachable_controller_is_a_clear_error(tmp_path: Path) -> None:
    from .harness import Cli

    result = Cli("127.0.0.1:9").run("jobs", check=False)
    assert result.returncode == 3
    assert "127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.stderr
