"""Files a job cannot turn against a node, with real processes: an uploaded archive whose
member would land outside the workspace fails its task naming the member, and a task that
makes its output a link to a file it may not read, or names a file outside its workspace and
every mapped share as its output, gets an error, never the file."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import Farm

pytestmark = pytest.mark.system


@pytest.fixture
def farm(farm_factory: Callable[[], Farm]) -> Farm:
    farm = farm_factory()
    farm.add_agent("a1")
    farm.start_agent("a1")
    controller = farm.start_controller()
    controller.wait_for_line(rf"agent online agent={farm.agents['a1'].agent_id}\b")
    return farm


def failed_frame(farm: Farm, job_id: int) -> dict[str, object]:
    farm.cli.run("wait", str(job_id), "--timeout", "60", check=False)
    (frame,) = farm.cli.json("frames", str(job_id))
    assert frame["state"] == "failed", frame
    return dict(frame)


def test_an_archive_member_escaping_the_workspace_fails_the_task_by_name(farm: Farm, tmp_path: Path) -> None:
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("../../../escaped.txt", "out of bounds")
    job = farm.cli.json(
        "submit", "command", "--frames", "1", "--max-retries", "0", "--upload", str(evil), "--", "true"
    )
    error = str(failed_frame(farm, job["id"])["error_message"])
    assert "../../../escaped.txt" in error, error
    assert not list(farm.root.rglob("escaped.txt")), "the member was written outside"


def test_an_output_that_is_a_link_is_an_error_not_the_file(farm: Farm, tmp_path: Path) -> None:
    secret = tmp_path / "shadow"
    secret.write_text("root:secret-hash")
    secret.chmod(0o600)
    argv = ["--", "ln", "-s", str(secret), "{renders}/f{frame}.png"]
    outputs = ["--param", "outputs={renders}/f{frame}.png"]
    job = farm.cli.json("submit", "command", "--frames", "1", "--max-retries", "0", *outputs, *argv)
    frame = failed_frame(farm, job["id"])
    assert "symbolic link" in str(frame["error_message"]), frame
    assert not frame["outputs"], "nothing of the linked file was recorded"


def test_a_job_naming_a_file_outside_its_workspace_as_output_gets_an_error_not_the_file(
    farm: Farm, tmp_path: Path
) -> None:
    secret = tmp_path / "shadow"
    secret.write_text("root:secret-hash")
    outputs = ["--param", f"outputs={secret}"]
    job = farm.cli.json("submit", "command", "--frames", "1", "--max-retries", "0", *outputs, "--", "true")
    frame = failed_frame(farm, job["id"])
    assert "outside the job's workspace and every mapped share" in str(frame["error_message"]), frame
    assert not frame["outputs"], "nothing of the file was recorded"
    assert farm.cli.json("outputs", str(job["id"]))["frames"] == []
