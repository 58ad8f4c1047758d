"""``renderq job-set`` against a real controller: what changes in flight, what is refused
and in whose words; the flags are checked before any call."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from .conftest import CliRunner, FakeFarm, FarmWithAgent, RealController, Result


@dataclass
class Verb:
    """``renderq VERB ... --controller ADDRESS --data-dir DIR`` against the real controller."""

    cli: CliRunner
    controller: RealController

    def __call__(self, *argv: str) -> Result:
        where = ["--controller", self.controller.address, "--data-dir", str(self.controller.data_dir)]
        return self.cli(*argv, *where, controller=False)

    def submit(self, *argv: str) -> str:
        """A demo job's id; with no agent on the farm it stays queued."""
        result = self("submit", "demo", "--frames", "1-4", *argv)
        assert result.code == 0, result.err
        return result.out.strip()

    def job(self, job_id: str) -> dict[str, Any]:
        result = self("job", job_id, "--json")
        assert result.code == 0, result.err
        shown: dict[str, Any] = json.loads(result.out)
        return shown


@pytest.fixture
def verb(cli: CliRunner, controller: RealController) -> Verb:
    return Verb(cli, controller)


def refused(result: Result) -> str:
    """The one sentence of a refusal (exit 2, nothing on stdout, no traceback)."""
    assert (result.code, result.out) == (2, ""), result.err
    assert "Traceback" not in result.err
    return result.err.strip()


def test_a_reservation_flag_replaces_the_whole_reservation_of_a_queued_job(verb: Verb) -> None:
    job_id = verb.submit("--task-gpus", "1", "--require-tag", "rtx", "--priority", "60", "--name", "shot")
    result = verb("job-set", job_id, "--task-cores", "4", "--task-memory", "8GiB")
    assert (result.code, result.out, result.err) == (0, f"job {job_id} queued; changed reservation\n", "")
    job = verb.job(job_id)
    assert job["reservation"] == {"cores": 4, "memory_bytes": 8 << 30, "gpus": 0}, "--task-gpus left: 0"
    assert (job["requirements"]["tags"], job["priority"], job["name"]) == (["rtx"], 60, "shot")

    requirements = verb("job-set", job_id, "--require-os", "Linux", "--require-ram", "2GiB")
    assert requirements.out == f"job {job_id} queued; changed requirements\n"
    job = verb.job(job_id)
    assert job["requirements"] == {
        "min_cpu_cores": 0,
        "min_ram_bytes": 2 << 30,
        "min_gpu_count": 0,
        "min_gpu_memory_bytes": 0,
        "os": "Linux",
        "renderers": [],
        "tags": [],
    }, "--require-tag left: no tags"
    assert job["reservation"]["cores"] == 4


def test_every_setting_given_is_sent_and_named_and_priority_still_works(verb: Verb) -> None:
    job_id = verb.submit()
    result = verb(
        "job-set", job_id, "--priority", "70", "--name", "final", "--max-retries", "1", "--pool", "gpu",
        "--max-agent-failures", "0", "--min-runtime", "2.5",
    )  # fmt: skip
    assert result.out == (
        f"job {job_id} queued; changed priority, name, max retries, pool, max agent failures, min runtime\n"
    )
    job = verb.job(job_id)
    assert (job["priority"], job["name"], job["max_retries"], job["pool"]) == (70, "final", 1, "gpu")
    assert (job["max_agent_failures"], job["min_runtime"]) == (0, 2.5)

    assert verb("priority", job_id, "90").out == f"job {job_id} queued, priority 90\n"
    assert verb("job-set", job_id, "--pool", "").code == 0
    assert (verb.job(job_id)["priority"], verb.job(job_id)["pool"]) == (90, ""), '--pool "": any pool'


def test_limit_replaces_the_limits_and_no_limits_clears_them(verb: Verb) -> None:
    for name in ("maya", "nuke"):
        assert verb("limit", "set", name, "2").code == 0
    job_id = verb.submit("--limit", "maya")
    assert verb("job-set", job_id, "--limit", "nuke", "--limit", "maya").code == 0
    assert verb.job(job_id)["limits"] == ["nuke", "maya"]
    assert verb("job-set", job_id, "--no-limits").out == f"job {job_id} queued; changed limits\n"
    assert verb.job(job_id)["limits"] == []


def test_an_unknown_limit_is_refused_in_the_controllers_words(verb: Verb) -> None:
    job_id = verb.submit()
    assert refused(verb("job-set", job_id, "--limit", "houdini", "--priority", "80")) == (
        "renderq: limits: there is no limit 'houdini'; `renderq limit set houdini N` makes one "
        "(INVALID_ARGUMENT)"
    )
    assert (verb.job(job_id)["limits"], verb.job(job_id)["priority"]) == ([], 50), "nothing changed"
    as_json = verb("job-set", job_id, "--limit", "houdini", "--json")
    assert (as_json.code, as_json.out) == (2, "")
    assert json.loads(as_json.err)["error"]["code"] == "INVALID_ARGUMENT"


def test_an_ended_job_refuses_scheduling_changes_but_takes_a_new_name(verb: Verb) -> None:
    job_id = verb.submit()
    assert verb("cancel", job_id).code == 0
    assert refused(verb("job-set", job_id, "--pool", "gpu")) == (
        f"renderq: job {job_id} has ended: pool can no longer matter (FAILED_PRECONDITION)"
    )
    renamed = verb("job-set", job_id, "--name", "kept for the record", "--priority", "10")
    assert renamed.out == f"job {job_id} cancelled; changed priority, name\n"
    assert verb.job(job_id)["name"] == "kept for the record"


def test_json_is_the_job_after_the_change(verb: Verb) -> None:
    job_id = verb.submit()
    result = verb("job-set", job_id, "--task-cores", "2", "--json")
    assert result.code == 0, result.err
    job = json.loads(result.out)
    assert (job["id"], job["state"], job["reservation"]["cores"]) == (int(job_id), "queued", 2)
    assert result.out == json.dumps(job, indent=2, sort_keys=True) + "\n"
    assert job == verb.job(job_id)


def test_a_change_no_agent_could_run_is_refused(
    cli: CliRunner,
    farm_with_agent: FarmWithAgent,
) -> None:
    verb = Verb(cli, RealController(farm_with_agent.address, farm_with_agent.data_dir))
    job_id = verb.submit()
    sentence = refused(verb("job-set", job_id, "--task-gpus", "2"))
    assert sentence.startswith("renderq: no agent of this farm can run this job: it needs ")
    assert sentence.endswith("(FAILED_PRECONDITION)")
    assert verb.job(job_id)["reservation"]["gpus"] == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            [],
            "renderq: job-set needs a change: --priority, --name, --max-retries, --pool, --task-*, "
            "--require-*, --limit, --no-limits, --max-agent-failures or --min-runtime",
        ),
        (
            ["--limit", "maya", "--no-limits"],
            "renderq: --limit and --no-limits contradict each other; give one of them",
        ),
    ],
    ids=["no-change", "contradiction"],
)
def test_a_command_line_to_fix_is_refused_before_any_call(
    cli: CliRunner, farm: FakeFarm, argv: list[str], message: str
) -> None:
    assert refused(cli("job-set", "3", *argv)) == message
    assert farm.requests == {}
    as_json = cli("job-set", "3", *argv, "--json")
    assert json.loads(as_json.err) == {
        "error": {"code": None, "exit_code": 2, "message": message.removeprefix("renderq: ")}
    }


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--task-cores", "99999999999"], "argument --task-cores: 99999999999 is too large"),
        (["--min-runtime", "nan"], "argument --min-runtime: 'nan' is not a number of seconds from 0 to 1e9"),
    ],
    ids=["out-of-range", "nan"],
)
def test_a_value_beyond_its_field_is_refused_by_the_flag(
    cli: CliRunner, farm: FakeFarm, argv: list[str], message: str
) -> None:
    assert refused(cli("job-set", "3", *argv)).endswith(message)
    assert refused(cli("submit", "command", "--frames", "1", *argv, "--", "true")).endswith(message)
    assert farm.requests == {}
    as_json = json.loads(cli("job-set", "3", *argv, "--json").err)
    assert as_json["error"]["exit_code"] == 2 and as_json["error"]["message"].endswith(message)
