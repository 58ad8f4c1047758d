"""Verbs that change the farm send exactly the request the flags describe."""

from __future__ import annotations

import json

import grpc
import pytest

from renderq.v1 import resources_pb2 as rs

from .conftest import CliRunner, FakeFarm


def test_submit_builds_the_job_from_flags(cli: CliRunner, farm: FakeFarm) -> None:
    result = cli(
        "submit", "command",
        "--frames", "1-10", "--chunk", "5", "--priority", "80", "--name", "encode", "--owner", "ana",
        "--pool", "gpu",
        "--param", "samples=64", "--param", "denoise=true",
        "--param", "label=shot 010", "--param", "layers=[1,2]",
        "--env", "OCIO=/studio/config.ocio",
        "--depends-on", "3", "--depends-on", "4",
        "--max-retries", "0", "--timeout", "90",
        "--require-cores", "8", "--require-ram", "8GiB",
        "--require-gpus", "1", "--require-gpu-memory", "512MiB",
        "--require-os", "Linux", "--require-renderer", "blender", "--require-tag", "fast",
        "--", "python", "render.py", "--frame", "{frame}",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert result.out.strip() == "7"
    (request,) = farm.requests["CreateJob"]
    job = request.job
    assert (job.plugin, job.frames, job.chunk_size, job.priority) == ("command", "1-10", 5, 80)
    assert (job.name, job.owner, job.pool) == ("encode", "ana", "gpu")
    parameters = dict(job.parameters)
    assert parameters["samples"] == 64
    assert parameters["denoise"] is True
    assert parameters["label"] == "shot 010"
    assert list(parameters["layers"]) == [1, 2]
    assert list(parameters["argv"]) == ["python", "render.py", "--frame", "{frame}"]
    assert dict(job.environment) == {"OCIO": "/studio/config.ocio"}
    assert list(job.depends_on) == [3, 4]
    assert job.HasField("max_retries") and job.max_retries == 0
    assert job.task_timeout.seconds == 90
    needs = job.requirements
    assert (needs.min_cpu_cores, needs.min_ram_bytes, needs.min_gpu_count) == (8, 8 * 1024**3, 1)
    assert needs.min_gpu_memory_bytes == 512 * 1024**2
    assert (needs.os, list(needs.renderers), list(needs.tags)) == ("Linux", ["blender"], ["fast"])


def test_submit_leaves_unset_options_to_the_server(
    cli: CliRunner, farm: FakeFarm, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOGNAME", "bo")
    monkeypatch.setenv("USER", "bo")
    cli("submit", "demo", "--frames", "1")
    job = farm.requests["CreateJob"][0].job
    assert job.owner == "bo"
    assert not job.HasField("max_retries")
    assert not job.HasField("task_timeout")
    assert job.requirements == rs.Requirements()


def test_submit_json_prints_the_created_job(cli: CliRunner) -> None:
    result = cli("submit", "demo", "--frames", "1-3", "--json")
    job = json.loads(result.out)
    assert job["id"] == 7
    assert job["frames"] == "1-3"
    assert job["state"] == "queued"


def test_a_bad_size_is_an_argparse_error(cli: CliRunner) -> None:
    result = cli("submit", "demo", "--frames", "1", "--require-ram", "lots")
    assert result.code == 2
    assert "'lots' is not a size" in result.err


def test_a_command_after_double_dash_is_only_for_submit(cli: CliRunner) -> None:
    result = cli("jobs", "--", "echo")
    assert result.code == 2
    assert "jobs takes no command after --" in result.err


def test_priority_updates_only_the_priority(cli: CliRunner, farm: FakeFarm) -> None:
    farm.jobs = {3: rs.Job(id=3, name="keep me", priority=50, state=rs.JOB_STATE_QUEUED)}
    result = cli("priority", "3", "90")
    assert result.out.strip() == "job 3 queued, priority 90"
    (request,) = farm.requests["UpdateJob"]
    assert list(request.update_mask.paths) == ["priority"]
    assert farm.jobs[3].name == "keep me"


def test_cancel_prints_the_new_state(cli: CliRunner, farm: FakeFarm) -> None:
    farm.jobs = {3: rs.Job(id=3, state=rs.JOB_STATE_RUNNING)}
    assert cli("cancel", "3").out.strip() == "job 3 cancelled"
    assert json.loads(cli("cancel", "3", "--json").out)["state"] == "cancelled"


def test_retry_names_the_frames_and_says_how_many_went_back(cli: CliRunner, farm: FakeFarm) -> None:
    farm.jobs = {3: rs.Job(id=3, state=rs.JOB_STATE_FAILED)}
    assert cli("retry", "3", "5,9-10").out.strip() == "job 3 queued, 3 frames back in the queue"
    assert farm.requests["RetryFrames"][0].frames == "5,9-10"


def test_drain_prints_the_agent_mode(cli: CliRunner, farm: FakeFarm) -> None:
    assert cli("drain", "node-a").out.strip() == "agent node-a draining"
    assert json.loads(cli("drain", "node-a", "--json").out)["mode"] == "draining"


@pytest.mark.parametrize(
    ("verb", "printed"),
    [("suspend", "job 3 suspended"), ("resume", "job 3 queued"), ("delete", "job 3 deleted")],
)
def test_job_control_verbs_print_the_new_state(
    cli: CliRunner, farm: FakeFarm, verb: str, printed: str
) -> None:
    farm.jobs = {3: rs.Job(id=3, state=rs.JOB_STATE_RUNNING)}
    result = cli(verb, "3")
    assert result.code == 0, result.err
    assert result.out.strip() == printed


@pytest.mark.parametrize(("verb", "mode"), [("enable", "enabled"), ("disable", "disabled")])
def test_agent_mode_verbs_print_the_new_mode(cli: CliRunner, verb: str, mode: str) -> None:
    assert cli(verb, "node-b").out.strip() == f"agent node-b {mode}"


def test_forget_removes_an_agent_and_says_so(cli: CliRunner, farm: FakeFarm) -> None:
    farm.agents = [rs.Agent(id="node-gone", status=rs.AGENT_STATUS_OFFLINE)]
    result = cli("forget", "node-gone")
    assert result.code == 0, result.err
    assert result.out.strip() == "agent node-gone forgotten: the controller no longer dials it"
    assert farm.requests["ForgetAgent"][0].agent_id == "node-gone"
    assert farm.agents == []


def test_forget_json_names_what_it_did(cli: CliRunner) -> None:
    result = cli("forget", "node-gone", "--json")
    assert json.loads(result.out) == {"agent_id": "node-gone", "forgotten": True}


def test_forget_of_an_online_agent_is_refused_with_the_controllers_sentence(
    cli: CliRunner, farm: FakeFarm
) -> None:
    farm.errors["ForgetAgent"] = (
        grpc.StatusCode.FAILED_PRECONDITION,
        "agent node-a is online; disable it and stop its agent first",
    )
    result = cli("forget", "node-a")
    assert result.code == 2
    assert result.err == (
        "renderq: agent node-a is online; disable it and stop its agent first (FAILED_PRECONDITION)\n"
    )


def test_a_controller_without_the_call_is_named(cli: CliRunner, farm: FakeFarm) -> None:
    farm.errors["ForgetAgent"] = (grpc.StatusCode.UNIMPLEMENTED, "Method not implemented!")
    result = cli("forget", "node-a")
    assert result.code == 1
    assert f"the controller at {farm.address} does not offer this call (Method not implemented!)" in (
        result.err
    )


def test_submit_warns_on_stderr_when_the_job_is_blocked(cli: CliRunner, farm: FakeFarm) -> None:
    farm.created = rs.Job(state=rs.JOB_STATE_BLOCKED, state_reason="job 27 failed")
    result = cli("submit", "demo", "--frames", "1", "--depends-on", "27")
    assert result.code == 0, result.err
    assert result.out.strip() == "7"
    assert result.err == (
        "renderq: job 7 is blocked: job 27 failed; it runs by itself once that job is retried and completes\n"
    )


def test_submit_of_a_queued_job_warns_of_nothing(cli: CliRunner) -> None:
    assert cli("submit", "demo", "--frames", "1").err == ""
