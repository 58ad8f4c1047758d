"""Every verb's --json follows the one convention written in renderq/cli/output.py."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2

from renderq import farm_key
from renderq.v1 import resources_pb2 as rs

from .conftest import STAMP, CliRunner, FakeFarm, listed_plugins

ENUM_KEYS = {"state", "status", "mode", "role", "type"}
DURATION_KEYS = {"render_time", "cpu_time", "task_timeout"}
TIME_KEYS = {"create_time", "start_time", "end_time", "last_seen_time", "revoke_time", "time", "not_after"}
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def conforming(text: str) -> Any:
    """The document in ``text``, checked against the convention at every level."""

    def sorted_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in pairs]
        assert keys == sorted(keys), f"keys out of order: {keys}"
        return dict(pairs)

    document = json.loads(text, object_pairs_hook=sorted_keys)
    check(document)
    return document


def check(value: Any) -> None:
    if isinstance(value, list):
        for item in value:
            check(item)
    if not isinstance(value, dict):
        return
    for key, item in value.items():
        if key in ENUM_KEYS and isinstance(item, str):
            assert re.fullmatch(r"[a-z_]+", item), f"{key}: {item!r} is not a short lowercase word"
        if key in DURATION_KEYS:
            assert isinstance(item, int | float), f"{key}: {item!r} is not seconds"
        if key in TIME_KEYS:
            assert isinstance(item, str) and RFC3339_UTC.match(item), f"{key}: {item!r} is not RFC 3339"
        check(item)


def a_farm(farm: FakeFarm) -> None:
    """One of everything, every time and duration set."""
    job = rs.Job(
        id=3, plugin="demo", state=rs.JOB_STATE_BLOCKED, state_reason="job 2 failed", create_time=STAMP
    )
    job.parameters.update({"width": 320, "height": 180, "seconds_per_frame": 1.0})
    job.task_timeout.FromSeconds(90)
    farm.jobs = {3: job}
    farm.plugins = listed_plugins()
    farm.frames = [
        rs.Frame(
            job_id=3,
            number=1,
            state=rs.FRAME_STATE_COMPLETED,
            render_time=duration_pb2.Duration(seconds=65, nanos=500_000_000),
            start_time=STAMP,
        )
    ]
    farm.tasks = [
        rs.Task(id=10, job_id=3, state=rs.TASK_STATE_RUNNING, cpu_time=duration_pb2.Duration(seconds=2))
    ]
    farm.agents = [
        rs.Agent(id="node-a", status=rs.AGENT_STATUS_ONLINE, mode=rs.AGENT_MODE_ENABLED, last_seen_time=STAMP)
    ]
    farm.tokens = [rs.Token(id="t1", name="ana", role=rs.ROLE_ADMIN, create_time=STAMP)]
    farm.audit = [
        rs.AuditRecord(sequence=1, time=STAMP, caller="ana", role=rs.ROLE_ADMIN, method="CancelJob")
    ]
    farm.log_chunks = [b"Fra:1 Mem:12M\nSaved: '/r/", b"f_0001.png'\n"]


VERBS: list[tuple[str, ...]] = [
    ("jobs",),
    ("job", "3"),
    ("frames", "3"),
    ("tasks", "3"),
    ("agents",),
    ("plugins",),
    ("submit", "demo", "--frames", "1", "--param", "width=64"),
    ("cancel", "3"),
    ("suspend", "3"),
    ("resume", "3"),
    ("retry", "3"),
    ("priority", "3", "90"),
    ("enable", "node-a"),
    ("disable", "node-a"),
    ("drain", "node-a"),
    ("forget", "node-a"),
    ("delete", "3"),
    ("token", "create", "comp", "--role", "operator"),
    ("token", "list"),
    ("token", "revoke", "t1"),
    ("whoami",),
    ("audit",),
]


@pytest.mark.parametrize("argv", VERBS, ids=[" ".join(v) for v in VERBS])
def test_every_verb_prints_one_conforming_document(
    cli: CliRunner, farm: FakeFarm, argv: tuple[str, ...]
) -> None:
    a_farm(farm)
    result = cli(*argv, "--json", "--controller", farm.address, controller=False)
    assert result.code == 0, result.err
    conforming(result.out)
    assert result.err == "" or all("warning" in json.loads(line) for line in result.err.splitlines())


def test_states_and_parameters_read_as_the_text_does(cli: CliRunner, farm: FakeFarm) -> None:
    a_farm(farm)
    job = conforming(cli("job", "3", "--json").out)
    assert (job["state"], job["state_reason"]) == ("blocked", "job 2 failed")
    assert job["parameters"] == {"height": 180, "seconds_per_frame": 1.0, "width": 320}
    assert isinstance(job["parameters"]["width"], int), "an integer parameter is an integer"
    assert isinstance(job["parameters"]["seconds_per_frame"], float), "a number stays a number"
    assert job["task_timeout"] == 90
    assert job["create_time"] == "2026-12-01T21:14:06Z"
    (frame,) = conforming(cli("frames", "3", "--json").out)
    assert frame["render_time"] == 65.5
    (plugin,) = (p for p in conforming(cli("plugins", "--json").out) if p["name"] == "blender")
    assert {q["name"]: q["type"] for q in plugin["parameters"]}["scene"] == "path"


def test_logs_are_json_lines_of_text(cli: CliRunner, farm: FakeFarm) -> None:
    a_farm(farm)
    farm.log_chunks.append(b"no newline at the end")
    result = cli("logs", "3", "1", "--json")
    assert result.code == 0, result.err
    records = [conforming(line) for line in result.lines]
    assert records == [
        {"attempt_id": 9, "offset": 0, "task_id": 0, "text": "Fra:1 Mem:12M"},
        {"attempt_id": 9, "offset": 14, "task_id": 0, "text": "Saved: '/r/f_0001.png'"},
        {"attempt_id": 9, "offset": 37, "task_id": 0, "text": "no newline at the end"},
    ]


def test_wait_prints_the_job_as_it_ended(cli: CliRunner, farm: FakeFarm) -> None:
    a_farm(farm)
    farm.jobs[3].state = rs.JOB_STATE_COMPLETED
    result = cli("wait", "3", "--json")
    assert result.code == 0, result.err
    assert conforming(result.out)["state"] == "completed"


def test_certs_and_join_token_follow_it_too(cli: CliRunner, tmp_path: Path) -> None:
    certs = cli("certs", "--dir", str(tmp_path / "tls"), "--json", controller=False)
    assert certs.code == 0, certs.err
    assert conforming(certs.out)["ca"]["created"] is True
    farm_key.load_or_create(tmp_path / farm_key.FILE_NAME)
    join = cli("join-token", "--data-dir", str(tmp_path), "--json", controller=False)
    assert conforming(join.out)["command"].startswith("renderq agent --join rqk_")


def error_of(text: str) -> dict[str, Any]:
    (line,) = text.splitlines()
    document: dict[str, Any] = conforming(line)
    return document


def test_a_servers_refusal_is_a_json_object_on_stderr(cli: CliRunner, farm: FakeFarm) -> None:
    farm.errors["CancelJob"] = (grpc.StatusCode.FAILED_PRECONDITION, "job 3 is completed")
    result = cli("cancel", "3", "--json")
    assert (result.code, result.out) == (2, "")
    assert error_of(result.err) == {
        "error": {"code": "FAILED_PRECONDITION", "exit_code": 2, "message": "job 3 is completed"}
    }


@pytest.mark.parametrize(
    ("argv", "exit_code", "code", "words"),
    [
        (("wait", "3", "--timeout", "0.1"), 124, None, "job 3 did not end within 0.1s"),
        (("wait", "three"), 2, None, "invalid int value: 'three'"),
        (("logs", "4"), 2, None, "job 4 has no task that has started yet"),
        (
            ("jobs", "--controller", "127.0.0.1:1"),
            3,
            "UNAVAILABLE",
            "cannot reach the controller at 127.0.0.1:1",
        ),
    ],
)
def test_every_kind_of_failure_is_a_json_object_under_json(
    cli: CliRunner,
    farm: FakeFarm,
    argv: tuple[str, ...],
    exit_code: int,
    code: str | None,
    words: str,
) -> None:
    farm.jobs = {3: rs.Job(id=3, state=rs.JOB_STATE_RUNNING)}
    result = cli(*argv, "--json", controller="--controller" not in argv)
    assert result.code == exit_code
    error = error_of(result.err)["error"]
    assert (error["code"], error["exit_code"]) == (code, exit_code)
    assert words in error["message"]
