"""Removing ended jobs' workspaces: whichever owner's folder they are in, bytes counted,
links removed as links (what they point to survives), running jobs' workspaces kept."""

from __future__ import annotations

import asyncio
from pathlib import Path

from renderq.agent.cleanup import remove_workspaces, tree_size
from renderq.agent.server import AgentServer
from renderq.v1 import agent_service_pb2 as apb
from tests.agent.conftest import FakeController, shell, task


def workspace(workspaces: Path, owner: str, job_id: int, size: int) -> Path:
    """A workspace holding one render of ``size`` bytes."""
    root = workspaces / owner / str(job_id)
    for place in ("source", "project", "renders"):
        (root / place).mkdir(parents=True)
    (root / "renders" / "0001.png").write_bytes(b"x" * size)
    return root


def test_workspaces_go_from_every_owners_folder_with_their_bytes(tmp_path: Path) -> None:
    workspaces = tmp_path / "workspaces"
    workspace(workspaces, "ana", 5, 1000)
    workspace(workspaces, "bo", 5, 500)
    kept = workspace(workspaces, "ana", 6, 10)

    removed = remove_workspaces(workspaces, [5, 99], running=())

    assert (removed.workspaces, removed.bytes_freed, removed.error()) == (2, 1500, "")
    assert not (workspaces / "ana" / "5").exists() and not (workspaces / "bo" / "5").exists()
    assert kept.exists()


def test_a_link_inside_a_workspace_is_removed_not_followed(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "scene.blend").write_bytes(b"p" * 100_000)
    root = workspace(tmp_path / "workspaces", "ana", 7, 1000)
    (root / "project" / "linked").symlink_to(precious, target_is_directory=True)
    (root / "renders" / "file-link").symlink_to(precious / "scene.blend")

    removed = remove_workspaces(tmp_path / "workspaces", [7], running=())

    assert removed.workspaces == 1
    assert removed.bytes_freed == 1000 + len(str(precious)) + len(str(precious / "scene.blend"))
    assert not root.exists()
    assert (precious / "scene.blend").read_bytes() == b"p" * 100_000


def test_a_link_in_place_of_a_workspace_goes_as_a_link(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep").write_bytes(b"k")
    (tmp_path / "workspaces" / "ana").mkdir(parents=True)
    (tmp_path / "workspaces" / "ana" / "8").symlink_to(precious, target_is_directory=True)

    removed = remove_workspaces(tmp_path / "workspaces", [8], running=())

    assert removed.workspaces == 1
    assert (precious / "keep").exists()
    assert tree_size(tmp_path / "workspaces" / "ana" / "8") == 0


def test_a_running_jobs_workspace_is_kept_and_said(tmp_path: Path) -> None:
    root = workspace(tmp_path / "workspaces", "ana", 9, 10)

    removed = remove_workspaces(tmp_path / "workspaces", [9], running={9})

    assert (removed.workspaces, removed.bytes_freed) == (0, 0)
    assert removed.error() == "kept the workspace of job 9: a task of it runs on this agent"
    assert root.exists()


def test_no_workspaces_folder_yet_is_nothing_to_clean(tmp_path: Path) -> None:
    removed = remove_workspaces(tmp_path / "none", [1], running=())

    assert (removed.workspaces, removed.bytes_freed, removed.error()) == (0, 0, "")


async def cleaned(controller: FakeController, request_id: int, job_ids: list[int]) -> apb.CleanupDone:
    await controller.send(
        apb.LinkRequest(cleanup=apb.CleanupWorkspaces(request_id=request_id, job_ids=job_ids))
    )
    message = await controller.wait_for(
        f"the answer to cleanup {request_id}",
        lambda m: m.HasField("cleaned") and m.cleaned.request_id == request_id,
    )
    return message.cleaned


async def test_the_agent_answers_a_cleanup_on_its_link_and_spares_a_running_job(
    agent: AgentServer, controller: FakeController, tmp_path: Path
) -> None:
    ended = await asyncio.to_thread(workspace, agent.config.workspaces, "ana", 3, 2048)
    go = tmp_path / "go"
    running = task(40, shell('echo up; while [ ! -e "$1" ]; do sleep 0.05; done', str(go)), job_id=4)
    running.owner = "bo"
    await controller.assign(running)
    await controller.log_text_until(40, "up")

    done = await cleaned(controller, 1, [3, 4])

    assert (done.workspaces_removed, done.bytes_freed) == (1, 2048)
    assert done.error == "kept the workspace of job 4: a task of it runs on this agent"
    assert not ended.exists()
    assert (agent.config.workspaces / "bo" / "4" / "renders").is_dir()
    go.touch()
    await controller.finished(40)
    again = await cleaned(controller, 2, [4])
    assert (again.workspaces_removed, again.error) == (1, "")
