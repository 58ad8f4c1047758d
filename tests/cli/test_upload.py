"""``renderq submit --upload``: the manifest made here, and the upload against a real controller."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import xxhash

from renderq.client.project_files import ProjectError, read_project

from .conftest import CliRunner


def hex128(data: bytes) -> str:
    return xxhash.xxh3_128_hexdigest(data)


@pytest.fixture
def shot(tmp_path: Path) -> Path:
    """``shot010/``: a scene, a texture under tex/, a script anyone may run, a zip inside."""
    folder = tmp_path / "shot010"
    (folder / "tex").mkdir(parents=True)
    (folder / "shot010.blend").write_bytes(b"BLENDER-scene")
    (folder / "tex" / "wood.png").write_bytes(b"PNG-wood")
    (folder / "render.sh").write_text("#!/bin/sh\necho hi\n")
    (folder / "render.sh").chmod(0o755)
    (folder / "refs.zip").write_bytes(b"PK-not-unpacked")
    return folder


def test_a_folder_keeps_its_name_and_each_file_its_mode_and_hash(shot: Path) -> None:
    project = read_project([shot])
    entries = {e.path: e for e in project.manifest()}
    assert list(entries) == [
        "shot010/refs.zip",
        "shot010/render.sh",
        "shot010/shot010.blend",
        "shot010/tex/wood.png",
    ]
    scene = entries["shot010/shot010.blend"]
    assert (scene.blob.xxh3_128, scene.blob.size_bytes) == (hex128(b"BLENDER-scene"), 13)
    assert entries["shot010/render.sh"].mode == 0o755
    assert entries["shot010/tex/wood.png"].mode == 0o644
    assert not entries["shot010/refs.zip"].unpack, "an archive inside a folder is an ordinary file"
    assert project.skipped == []


def test_a_file_is_named_by_its_basename_and_an_archive_given_directly_is_unpacked(tmp_path: Path) -> None:
    (tmp_path / "scene.blend").write_bytes(b"B")
    for name in ("refs.zip", "plates.tar.gz", "ocio.TGZ"):
        (tmp_path / name).write_bytes(name.encode())
    project = read_project([tmp_path / n for n in ("scene.blend", "refs.zip", "plates.tar.gz", "ocio.TGZ")])
    assert {e.path: e.unpack for e in project.manifest()} == {
        "scene.blend": False,
        "refs.zip": True,
        "plates.tar.gz": True,
        "ocio.TGZ": True,
    }


def test_a_symlink_inside_the_folder_is_followed_and_one_leading_out_is_refused(
    shot: Path, tmp_path: Path
) -> None:
    (shot / "tex" / "same-wood.png").symlink_to("wood.png")
    (shot / "textures").symlink_to("tex")
    entries = {e.path: e.blob.xxh3_128 for e in read_project([shot]).manifest()}
    assert entries["shot010/tex/same-wood.png"] == entries["shot010/textures/wood.png"] == hex128(b"PNG-wood")

    (tmp_path / "secret.txt").write_text("outside")
    (shot / "tex" / "leak.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(ProjectError) as refused:
        read_project([shot])
    assert str(refused.value).startswith(
        f"{shot / 'tex' / 'leak.txt'} is a symbolic link to {tmp_path / 'secret.txt'}, "
        f"outside the uploaded folder {shot}"
    )


def test_what_is_not_a_file_is_skipped_and_said(shot: Path) -> None:
    os.mkfifo(shot / "pipe")
    (shot / "loop").symlink_to(".")
    (shot / "gone.png").symlink_to("nowhere.png")
    project = read_project([shot])
    assert project.skipped == [
        f"{shot / 'gone.png'}: a broken symbolic link (to {shot / 'nowhere.png'})",
        f"{shot / 'loop'}: a symbolic link back to {shot}, a folder above it (a loop)",
        f"{shot / 'pipe'}: a named pipe",
    ]
    assert len(project.files) == 4


def test_two_files_that_differ_only_in_case_are_refused_naming_both(shot: Path) -> None:
    (shot / "tex" / "Wood.png").write_bytes(b"other")
    with pytest.raises(ProjectError, match="differ only in case") as refused:
        read_project([shot])
    assert "'shot010/tex/Wood.png'" in str(refused.value) and "'shot010/tex/wood.png'" in str(refused.value)


def test_two_files_on_one_path_are_refused_and_one_file_named_twice_is_one_entry(tmp_path: Path) -> None:
    (tmp_path / "a.blend").write_bytes(b"A")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "a.blend").write_bytes(b"another A")
    assert len(read_project([tmp_path / "a.blend", tmp_path / "a.blend"]).files) == 1
    with pytest.raises(ProjectError, match=r"would both become 'a.blend' in the project folder"):
        read_project([tmp_path / "a.blend", tmp_path / "elsewhere" / "a.blend"])


def test_an_upload_that_does_not_exist_is_refused_where_typed(cli: CliRunner, tmp_path: Path) -> None:
    result = cli("submit", "command", "--frames", "1", "--upload", str(tmp_path / "nope"), "--", "true")
    assert result.code == 2
    assert f"'{tmp_path / 'nope'}' does not exist on this machine" in result.err
