"""Listing verbs: readable tables for people, one JSON document for scripts."""

from __future__ import annotations

import json

from google.protobuf import duration_pb2

from renderq.v1 import farm_service_pb2 as fs
from renderq.v1 import resources_pb2 as rs

from .conftest import CliRunner, FakeFarm, listed_plugins


def running_job(job_id: int = 3, **fields: object) -> rs.Job:
    job = rs.Job(
        id=job_id,
        name="shot010 lighting",
        owner="ana",
        plugin="blender",
        frames="1-10",
        state=rs.JOB_STATE_RUNNING,
        priority=50,
        frame_count=10,
        frames_completed=4,
        frames_failed=1,
        progress=0.45,
    )
    for name, value in fields.items():
        setattr(job, name, value)
    return job


def test_jobs_table_has_a_header_and_one_row_per_job(cli: CliRunner, farm: FakeFarm) -> None:
    farm.jobs = {3: running_job(3), 4: running_job(4, name="shot020 comp", state=rs.JOB_STATE_QUEUED)}
    result = cli("jobs")
    assert result.code == 0, result.err
    header, *rows = result.lines
    assert header.split()[:4] == ["ID", "STATE", "PRI", "PROGRESS"]
    assert len(rows) == 2
    assert rows[0].split()[:3] == ["3", "running", "50"]
    assert "[####------]  45%" in rows[0]
    assert "4/10" in rows[0]
    assert rows[1].endswith("shot020 comp")


def test_jobs_columns_line_up(cli: CliRunner, farm: FakeFarm) -> None:
    farm.jobs = {3: running_job(3), 1234: running_job(1234, owner="someone-with-a-long-name")}
    header, first, second = cli("jobs").lines
    for column in ("STATE", "OWNER", "PLUGIN"):
        start = header.index(column)
        assert first[start - 1] == " " and second[start - 1] == " "
        assert first[start] != " " and second[start] != " "


def test_jobs_json_is_a_list_with_proto_field_names(cli: CliRunner, farm: FakeFarm) -> None:
    farm.jobs = {3: running_job(3)}
    result = cli("jobs", "--json")
    document = json.loads(result.out)
    assert isinstance(document, list)
    assert document[0]["id"] == 3
    assert document[0]["state"] == "running"
    assert document[0]["frames_completed"] == 4
    assert document[0]["frames_running"] == 0


def test_jobs_filters_reach_the_server(cli: CliRunner, farm: FakeFarm) -> None:
    cli("jobs", "--state", "running", "--state", "failed", "--owner", "ana", "--name", "shot")
    (request,) = farm.requests["ListJobs"]
    assert list(request.states) == [rs.JOB_STATE_RUNNING, rs.JOB_STATE_FAILED]
    assert request.owner == "ana"
    assert request.name_contains == "shot"


def test_frames_follows_page_tokens_to_the_last_page(cli: CliRunner, farm: FakeFarm) -> None:
    farm.frames = [
        rs.Frame(
            job_id=3, number=n, state=rs.FRAME_STATE_COMPLETED, render_time=duration_pb2.Duration(seconds=65)
        )
        for n in range(1, 6)
    ]
    result = cli("frames", "3", "--json")
    assert [f["number"] for f in json.loads(result.out)] == [1, 2, 3, 4, 5]
    assert [r.page_token for r in farm.requests["ListFrames"]] == ["", "2", "4"]
    table = cli("frames", "3")
    assert len(table.lines) == 6
    assert "1m 05s" in table.lines[1]


def test_job_shows_every_field_by_name(cli: CliRunner, farm: FakeFarm) -> None:
    job = running_job(3, last_error="Blender quit with code 11")
    job.requirements.min_ram_bytes = 8 * 1024**3
    job.requirements.renderers.append("blender")
    job.parameters.update({"scene": "/p/a.blend", "samples": 64})
    farm.jobs = {3: job}
    farm.plugins = listed_plugins()
    result = cli("job", "3")
    fields = dict(line.split(":", 1) for line in result.lines)
    assert fields["state"].strip() == "running"
    assert fields["requirements"].strip() == "8.0 GiB RAM, renderer blender"
    assert fields["last error"].strip() == "Blender quit with code 11"
    assert json.loads(fields["parameters"]) == {"scene": "/p/a.blend", "samples": 64}
    assert '"samples": 64' in fields["parameters"], "a whole number reads without .0"
    assert "64.0" not in fields["parameters"]


def test_agents_table_shows_modes_and_slots(cli: CliRunner, farm: FakeFarm) -> None:
    agent = rs.Agent(
        id="node-a", status=rs.AGENT_STATUS_ONLINE, mode=rs.AGENT_MODE_DRAINING, slots=4, slots_used=1
    )
    agent.hardware.ram_bytes = 16 * 1024**3
    farm.agents = [agent]
    _, row = cli("agents").lines
    assert row.split()[:3] == ["node-a", "online", "draining"]
    assert "1/4" in row
    assert "16 GiB" in row


def test_an_empty_listing_says_so(cli: CliRunner) -> None:
    assert cli("jobs").out.strip() == "no jobs"
    assert cli("jobs", "--json").out.strip() == "[]"


def test_plugins_mark_required_parameters(cli: CliRunner, farm: FakeFarm) -> None:
    farm.plugins = [
        fs.Plugin(
            name="blender",
            renderer="blender",
            description="Render a .blend scene",
            parameters=[fs.PluginParameter(name="scene", required=True), fs.PluginParameter(name="samples")],
        )
    ]
    _, row = cli("plugins").lines
    assert row.split()[:4] == ["blender", "blender", "scene*,", "samples"]
    assert json.loads(cli("plugins", "--json").out)[0]["parameters"][0]["required"] is True


def test_jobs_show_a_blocked_job_and_why(cli: CliRunner, farm: FakeFarm) -> None:
    farm.jobs = {
        3: running_job(3),
        4: running_job(4, state=rs.JOB_STATE_BLOCKED, state_reason="job 3 failed", name="comp"),
    }
    header, first, second = cli("jobs").lines
    assert header.split()[-1] == "REASON"
    assert second.split()[:2] == ["4", "blocked"]
    assert second.endswith("job 3 failed")
    assert second.index("job 3 failed") == header.index("REASON")
    assert first.endswith("shot010 lighting")


def test_jobs_without_a_reason_have_no_reason_column(cli: CliRunner, farm: FakeFarm) -> None:
    farm.jobs = {3: running_job(3)}
    assert "REASON" not in cli("jobs").lines[0]


def test_job_shows_the_reason_it_is_blocked(cli: CliRunner, farm: FakeFarm) -> None:
    farm.jobs = {4: running_job(4, state=rs.JOB_STATE_BLOCKED, state_reason="job 3 was cancelled")}
    fields = dict(line.split(":", 1) for line in cli("job", "4").lines)
    assert fields["state"].strip() == "blocked"
    assert fields["reason"].strip() == "job 3 was cancelled"


def test_jobs_can_be_filtered_to_the_blocked_ones(cli: CliRunner, farm: FakeFarm) -> None:
    cli("jobs", "--state", "blocked")
    assert list(farm.requests["ListJobs"][0].states) == [rs.JOB_STATE_BLOCKED]
