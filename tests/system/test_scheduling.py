"""Production scheduling with real processes: GPU reservations on the agent that has the
GPUs, a limit held across jobs and a controller killed with SIGKILL, an agent a job
blocks after it failed there, and ``renderq why`` on a job blocked by its dependency.

Tasks are small shell commands that leave marks in a folder of the test's (named by
the job's ``RQ_BOX`` variable) and wait for a gate file the test creates, so the test
decides when each one ends and reads back what each one saw.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.waiting import eventually

from .conftest import Farm
from .harness import Process

pytestmark = pytest.mark.system

RUNNING = ("assigned", "rendering")
"""Frame states of a task that holds what it reserved."""

GPU_TASK = (
    'echo "$CUDA_VISIBLE_DEVICES {gpus}" > "$RQ_BOX/seen/{frame}"; '
    # mkdir is atomic: it fails when a task running now was given the same GPU.
    'if ! mkdir "$RQ_BOX/held/gpu$CUDA_VISIBLE_DEVICES"; then touch "$RQ_BOX/clash/{frame}"; exit 9; fi; '
    'touch "$RQ_BOX/running/{frame}"; ls "$RQ_BOX/running" | wc -l > "$RQ_BOX/together/{frame}"; '
    'while [ ! -e "$RQ_BOX/gates/{frame}" ]; do sleep 0.05; done; '
    'rm "$RQ_BOX/running/{frame}"; rmdir "$RQ_BOX/held/gpu$CUDA_VISIBLE_DEVICES"'
)
"""Notes the GPUs it was given (variable and token), fails if another task holds that GPU,
counts the tasks running with it, then waits for its gate."""

LICENSED_TASK = (
    'mark="$RENDERQ_JOB_ID-{frame}"; '
    'if ! mkdir "$RQ_BOX/held"; then touch "$RQ_BOX/clash/$mark"; exit 9; fi; '
    'touch "$RQ_BOX/started/$mark"; '
    'while [ ! -e "$RQ_BOX/gates/$mark" ]; do sleep 0.05; done; '
    'rmdir "$RQ_BOX/held"'
)
"""Takes the one licence (a folder: a second holder fails and says so), then waits for its gate."""

FAILS_ON_BROKEN_NODE = (
    'if [ -n "$RQ_NODE_BROKEN" ]; then echo "texture mount missing" >&2; exit 3; fi; '
    'touch "$RQ_BOX/started/{frame}"; '
    'while [ ! -e "$RQ_BOX/gates/{frame}" ]; do sleep 0.05; done'
)
"""Fails at once on the agent started with RQ_NODE_BROKEN set; elsewhere waits for its gate."""


def make_box(root: Path, *folders: str) -> Path:
    root.mkdir()
    for folder in ("gates", *folders):
        (root / folder).mkdir()
    return root


def marks(folder: Path) -> set[str]:
    return {path.name for path in folder.iterdir()}


def go_online(farm: Farm) -> Process:
    """Start the controller, dialling every agent started so far; return it once each is online."""
    controller = farm.start_controller()
    for agent in farm.agents.values():
        controller.wait_for_line(rf"agent (?:back )?online agent={agent.agent_id}\b")
    return controller


def submit(farm: Farm, *args: str) -> str:
    return str(farm.cli.json("submit", "command", *args)["id"])


def frames_of(farm: Farm, job_id: str) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = farm.cli.json("frames", job_id)
    return frames


def test_gpu_tasks_run_only_on_the_gpu_agent_each_on_its_own_gpu(
    farm_factory: Callable[[], Farm], tmp_path: Path
) -> None:
    farm: Farm = farm_factory()
    for name in ("gpu", "cpu"):
        farm.add_agent(name)
    gpu = farm.start_agent(
        "gpu", "--slots", "4", "--gpus", "2", "--gpu-memory", "24GiB", "--gpu-model", "RTX A5000"
    )
    cpu = farm.start_agent("cpu", "--slots", "2", "--gpus", "0")
    go_online(farm)
    hardware = farm.cli.json("agents", gpu.agent_id)["hardware"]
    assert [g["model"] for g in hardware["gpus"]] == ["RTX A5000", "RTX A5000"], hardware

    box = make_box(tmp_path / "box", "seen", "held", "running", "together", "clash")

    def started(count: int) -> bool:
        assert not marks(box / "clash"), f"frames given a GPU another task held: {marks(box / 'clash')}"
        return len(marks(box / "seen")) == count

    gpu_job = submit(
        farm, "--frames", "1-4", "--task-gpus", "1", "--env", f"RQ_BOX={box}", "--", "sh", "-c", GPU_TASK
    )
    plain_job = submit(farm, "--frames", "1-3", "--", "sh", "-c", "echo plain {frame}")
    eventually("two GPU tasks started", lambda: started(2))

    # Both GPUs are reserved: the plain job still runs (on free slots), the other GPU tasks wait.
    assert farm.cli.run("wait", plain_job, "--timeout", "60").returncode == 0
    first = marks(box / "seen")
    states = {str(f["number"]): f["state"] for f in frames_of(farm, gpu_job)}
    assert {n for n, s in states.items() if s in RUNNING} == first, states
    assert sorted(farm.cli.json("agents", gpu.agent_id)["gpus_in_use"]) == [0, 1]
    why = {v["agent_id"]: v["reason"] for v in farm.cli.json("why", gpu_job)["agents"]}
    assert "lacks 1 GPUs" in why[cpu.agent_id], why
    assert "0 of 2 GPUs free" in why[gpu.agent_id], why

    for frame in first:
        (box / "gates" / frame).touch()
    eventually("the other two GPU tasks started", lambda: started(4))
    for frame in marks(box / "seen") - first:
        (box / "gates" / frame).touch()
    assert farm.cli.run("wait", gpu_job, "--timeout", "60").returncode == 0

    seen = {path.name: path.read_text().split() for path in (box / "seen").iterdir()}
    for frame, (visible, token) in seen.items():
        assert visible == token, f"frame {frame}: CUDA_VISIBLE_DEVICES {visible}, {{gpus}} {token}"
    assert sorted(seen[f][0] for f in first) == ["0", "1"], seen
    assert sorted(seen[f][0] for f in set(seen) - first) == ["0", "1"], seen
    together = {path.name: int(path.read_text()) for path in (box / "together").iterdir()}
    assert max(together.values()) == 2, f"tasks running at once on the GPU agent: {together}"
    frames = frames_of(farm, gpu_job)
    assert {f["agent_id"] for f in frames} == {gpu.agent_id}, frames
    assert all(f["attempt_count"] == 1 for f in frames), "a task failed: its GPU was held by another"


def test_a_limit_of_one_holds_across_two_jobs_and_a_controller_killed(
    farm_factory: Callable[[], Farm], tmp_path: Path
) -> None:
    farm: Farm = farm_factory()
    for name in ("a1", "a2"):
        farm.add_agent(name)
        farm.start_agent(name, "--slots", "2")
    go_online(farm)
    farm.cli.run("limit set", "lic", "1")
    box = make_box(tmp_path / "box", "started", "clash")
    task = ["--limit", "lic", "--env", f"RQ_BOX={box}", "--", "sh", "-c", LICENSED_TASK]
    jobs = [submit(farm, "--frames", "1-2", *task) for _ in range(2)]

    def at_most_one_holds() -> int:
        """Asserts what the controller says now; returns how many tasks hold the licence."""
        (lic,) = farm.cli.json("limit list")
        running = [f for job in jobs for f in frames_of(farm, job) if f["state"] in RUNNING]
        assert lic["in_use"] <= 1, lic
        assert len(running) <= 1, running
        assert not marks(box / "clash"), f"a second task found the licence taken: {marks(box / 'clash')}"
        return int(lic["in_use"])

    def next_holder(done: set[str]) -> str:
        eventually("a task took the licence", lambda: len(marks(box / "started") - done) > 0)
        holders = marks(box / "started") - done
        assert len(holders) == 1, f"tasks holding the licence at once: {holders}"
        (holder,) = holders
        assert at_most_one_holds() == 1
        return holder

    done: set[str] = set()
    holder = next_holder(done)
    assert farm.controller is not None
    farm.controller.kill()
    farm.controller.stop()
    controller = farm.start_controller()
    # Restored from the database, before and while the agents link again: still one holder.
    at_most_one_holds()
    for agent in farm.agents.values():
        controller.wait_for_line(rf"agent (?:back )?online agent={agent.agent_id}\b")
        at_most_one_holds()
    assert marks(box / "started") == {holder}

    for _ in range(3):  # four tasks in all, one after the other
        (box / "gates" / holder).touch()
        done.add(holder)
        holder = next_holder(done)
    (box / "gates" / holder).touch()
    for job in jobs:
        assert farm.cli.run("wait", job, "--timeout", "60").returncode == 0
    at_most_one_holds()
    assert farm.cli.json("limit list")[0]["in_use"] == 0


def test_a_job_failing_on_one_agent_blocks_it_and_completes_on_the_other(
    farm_factory: Callable[[], Farm], tmp_path: Path
) -> None:
    farm: Farm = farm_factory()
    for name in ("good", "bad"):
        farm.add_agent(name)
    good = farm.start_agent("good")
    bad = farm.start_agent("bad", "--tags", "broken", env={"RQ_NODE_BROKEN": "1"})
    go_online(farm)
    box = make_box(tmp_path / "box", "started")
    job_id = submit(
        farm, "--frames", "1-3", "--max-agent-failures", "1", "--max-retries", "3",
        "--env", f"RQ_BOX={box}", "--", "sh", "-c", FAILS_ON_BROKEN_NODE,
    )  # fmt: skip

    def blocked() -> dict[str, dict[str, Any]]:
        return {b["agent_id"]: b for b in farm.cli.json("job", job_id)["blocked_agents"]}

    # One slot each: while the good agent holds a task, the next one goes to the bad agent.
    eventually("the job blocked the bad agent", lambda: bad.agent_id in blocked())
    block = blocked()[bad.agent_id]
    assert block["failures"] == 1 and "texture mount missing" in block["reason"], block
    assert good.agent_id not in blocked()
    shown = farm.cli.run("job", job_id).stdout
    assert "blocked agents" in shown and bad.agent_id in shown and "texture mount missing" in shown, shown

    eventually("a task started on the good agent", lambda: len(marks(box / "started")) == 1)
    # The good agent is busy and the bad one blocked: the job waits, and why says so.
    why = farm.cli.json("why", job_id)
    verdicts = {v["agent_id"]: v["reason"] for v in why["agents"]}
    assert verdicts[bad.agent_id].startswith("blocked after 1 failures"), why
    assert "texture mount missing" in verdicts[bad.agent_id], why
    assert verdicts[good.agent_id].startswith("busy"), why
    text = farm.cli.run("why", job_id).stdout
    assert bad.agent_id in text and "blocked after 1 failures" in text, text

    # A sibling only the bad agent may run blocks it too: with no agent left it fails, not waits.
    sibling = submit(
        farm, "--frames", "1", "--require-tag", "broken", "--max-agent-failures", "1",
        "--env", f"RQ_BOX={box}", "--", "sh", "-c", FAILS_ON_BROKEN_NODE,
    )  # fmt: skip
    assert farm.cli.run("wait", sibling, "--timeout", "60", check=False).returncode == 1
    stranded = farm.cli.json("job", sibling)
    assert [b["agent_id"] for b in stranded["blocked_agents"]] == [bad.agent_id], stranded
    assert "every agent that could run it is blocked" in stranded["last_error"], stranded
    why_frame = farm.cli.run("why", sibling, "1").stdout
    assert "failed for good (every agent that could run it is blocked" in why_frame, why_frame

    def open_gates() -> bool:
        for frame in marks(box / "started"):
            (box / "gates" / frame).touch()
        return len(marks(box / "started")) == 3

    eventually("every frame started on the good agent", open_gates)
    assert farm.cli.run("wait", job_id, "--timeout", "60").returncode == 0
    frames = frames_of(farm, job_id)
    assert {f["agent_id"] for f in frames} == {good.agent_id}, frames
    assert sorted(f["attempt_count"] for f in frames) == [1, 1, 2], frames

    job = farm.cli.json("job", job_id)
    assert job["state"] == "completed"
    assert [b["agent_id"] for b in job["blocked_agents"]] == [bad.agent_id], job
    assert bad.agent_id in farm.cli.run("job", job_id).stdout
    done = farm.cli.json("why", job_id)
    assert done["reasons"] == [f"job {job_id} is completed"], done
    assert not done["agents"], done
    assert "blocked" not in farm.cli.run("why", job_id).stdout


def test_why_explains_a_job_blocked_by_a_failed_dependency(farm_factory: Callable[[], Farm]) -> None:
    farm: Farm = farm_factory()
    farm.add_agent("a1")
    farm.start_agent("a1")
    go_online(farm)
    failing = submit(farm, "--frames", "1", "--max-retries", "0", "--", "sh", "-c", "exit 4")
    after = submit(farm, "--frames", "1", "--depends-on", failing, "--", "true")
    assert farm.cli.run("wait", failing, "--timeout", "60", check=False).returncode == 1
    eventually("the dependent job is blocked", lambda: farm.cli.json("job", after)["state"] == "blocked")
    assert farm.cli.run("wait", after, "--timeout", "60", check=False).returncode == 5

    text = farm.cli.run("why", after)
    assert text.returncode == 0
    assert f"job {failing}" in text.stdout and "failed" in text.stdout, text.stdout
    answer = farm.cli.json("why", after)
    assert any(f"job {failing}" in r and "failed" in r for r in answer["reasons"]), answer
    assert not answer["agents"], answer
