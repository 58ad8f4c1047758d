"""Workspaces per owner: the owner's name from the network becomes one safe folder name,
and no folder on the way to a workspace is followed through a link a task planted."""

from __future__ import annotations

import os
import pwd
import re
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from renderq.agent.run_as import TaskUser
from renderq.agent.workspace import MAX_OWNER_FOLDER, Workspace, owner_folder
from renderq.v1 import agent_service_pb2 as apb

HOSTILE = ["", ".", "..", "../etc", "a/b", "a\\b", "C:", "c:\\x", "nul", "CON.txt", "x\x00y", ".hidden", "_x"]


@given(st.text())
@settings(max_examples=500)
def test_any_owner_becomes_one_plain_folder_name(owner: str) -> None:
    name = owner_folder(owner)

    assert 0 < len(name) <= MAX_OWNER_FOLDER
    assert not set(name) & set("/\\:\x00 ")
    assert not name.startswith(".") and ".." not in name
    assert name == owner_folder(owner)


@given(st.text(), st.text())
def test_two_owners_never_share_a_folder(first: str, second: str) -> None:
    if first != second:
        assert owner_folder(first) != owner_folder(second)


@given(st.from_regex(r"[a-z][a-z0-9._-]{0,30}[a-z0-9]", fullmatch=True).filter(lambda n: ".." not in n))
def test_plain_user_names_keep_their_name(owner: str) -> None:
    if owner.split(".")[0] not in {"con", "prn", "aux", "nul"} and not re.fullmatch(r"(com|lpt)\d.*", owner):
        assert owner_folder(owner) == owner


@pytest.mark.parametrize("owner", HOSTILE)
def test_a_hostile_or_empty_owner_gets_a_hashed_folder_inside_the_workspaces(
    tmp_path: Path, owner: str
) -> None:
    name = owner_folder(owner)

    assert re.fullmatch(r"_[0-9a-f]{12}", name)
    assert (tmp_path / name).resolve().parent == tmp_path.resolve()


def test_a_job_gets_its_places_in_its_owners_folder(tmp_path: Path) -> None:
    workspace = Workspace.for_job(tmp_path / "workspaces", apb.AssignTask(owner="ana", job_id=12), None)

    assert workspace.root == tmp_path / "workspaces" / "ana" / "12"
    assert all(place.is_dir() for place in (workspace.source, workspace.project, workspace.renders))


@pytest.mark.parametrize("planted", ["ana", "ana/12", "ana/12/renders"])
def test_a_link_planted_on_the_way_is_never_followed(tmp_path: Path, planted: str) -> None:
    workspaces = tmp_path / "workspaces"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = workspaces / planted
    link.parent.mkdir(parents=True)
    link.symlink_to(elsewhere, target_is_directory=True)

    with pytest.raises(OSError, match="symbolic link or a file, not a folder") as refused:
        Workspace.for_job(workspaces, apb.AssignTask(owner="ana", job_id=12), None)

    assert str(refused.value.strerror).startswith(str(link))
    assert os.listdir(elsewhere) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a workspace to another user needs root")
def test_the_task_user_owns_its_workspace_and_may_pass_the_owners_folder(tmp_path: Path) -> None:
    nobody = pwd.getpwnam("nobody")
    user = TaskUser(nobody.pw_name, nobody.pw_uid, nobody.pw_gid, nobody.pw_dir, "setpriv")
    (tmp_path / "ana").mkdir(mode=0o700)  # as an agent with umask 077 makes it

    workspace = Workspace.for_job(tmp_path, apb.AssignTask(owner="ana", job_id=3), user)

    assert stat.S_IMODE((tmp_path / "ana").stat().st_mode) == 0o755
    assert (tmp_path / "ana").stat().st_uid == os.geteuid()
    assert {p.stat().st_uid for p in (workspace.root, workspace.source, workspace.renders)} == {nobody.pw_uid}
