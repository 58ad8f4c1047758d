"""Archives from the network unpacked into a project folder: good ones whole, hostile ones
refused by the member that gives them away, with nothing written outside the folder."""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from renderq.agent.archives import LIMITS, ArchiveError, Limits, unpack
from renderq.agent.safe_tree import TEMP_SUFFIX, Folder, InTheWay

MiB = 1 << 20


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "ws" / "project"
    folder.mkdir(parents=True)
    return folder


def unpack_into(project: Path, archive: Path, limits: Limits = LIMITS) -> int:
    with Folder.open(project) as into:
        return unpack(archive, archive.name, into, None, limits)


def files_under(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def make_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes]], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tar:  # type: ignore[call-overload]
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def member(name: str, kind: bytes = tarfile.REGTYPE, mode: int = 0o644, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.linkname = kind, mode, link
    return info


def make_zip(path: Path, members: list[tuple[str, bytes]], unix_mode: int = 0) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name)
            info.external_attr = unix_mode << 16
            archive.writestr(info, data)
    return path


def test_a_zip_unpacks_with_its_folders_and_execute_bits_but_no_setuid(project: Path, tmp_path: Path) -> None:
    archive = tmp_path / "scene.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("textures/", b"")
        zipped.writestr("textures/wood.png", b"wood" * 1000)
        run = zipfile.ZipInfo("bin/run.sh")
        run.external_attr = (stat.S_IFREG | 0o4755) << 16
        zipped.writestr(run, b"#!/bin/sh\n")

    assert unpack_into(project, archive) == 3

    assert files_under(project) == {"textures/wood.png": b"wood" * 1000, "bin/run.sh": b"#!/bin/sh\n"}
    assert stat.S_IMODE((project / "bin" / "run.sh").stat().st_mode) == 0o755


def test_a_tar_gz_unpacks_and_a_single_gz_lands_beside_without_its_suffix(
    project: Path, tmp_path: Path
) -> None:
    archive = make_tar(
        tmp_path / "shots.tar.gz",
        [(member("./", tarfile.DIRTYPE, 0o755), b""), (member("./shot1/a.blend", mode=0o6644), b"blend")],
    )
    single = tmp_path / "cache.vdb.gz"
    single.write_bytes(gzip.compress(b"volume" * 100))

    unpack_into(project, archive)
    with Folder.open(project) as into:
        unpack(single, "caches/cache.vdb.gz", into, None)

    assert files_under(project) == {"shot1/a.blend": b"blend", "caches/cache.vdb": b"volume" * 100}
    assert stat.S_IMODE((project / "shot1" / "a.blend").stat().st_mode) == 0o644


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../../escaped.txt", "'..'"),
        ("/tmp/renderq-absolute.txt", "absolute"),
        ("C:/Windows/evil.txt", "drive letter"),
        ("..\\..\\escaped.txt", "'..'"),
    ],
)
def test_a_member_that_would_land_outside_is_refused_by_name(
    project: Path, tmp_path: Path, name: str, why: str
) -> None:
    archive = make_zip(tmp_path / "slip.zip", [("fine.txt", b"ok"), (name, b"gotcha")])

    with pytest.raises(ArchiveError, match=why) as refused:
        unpack_into(project, archive)

    assert repr(name) in str(refused.value) and "slip.zip" in str(refused.value)
    assert not (tmp_path / "escaped.txt").exists() and not Path("/tmp/renderq-absolute.txt").exists()
    assert files_under(tmp_path.parent / tmp_path.name / "ws") == {"project/fine.txt": b"ok"}


@pytest.mark.parametrize(
    ("info", "why"),
    [
        (member("passwd", tarfile.SYMTYPE, link="/etc/passwd"), "link"),
        (member("inside", tarfile.SYMTYPE, link="fine.txt"), "link"),
        (member("hard", tarfile.LNKTYPE, link="fine.txt"), "link"),
        (member("tty", tarfile.CHRTYPE), "device"),
        (member("pipe", tarfile.FIFOTYPE), "pipe"),
    ],
)
def test_links_devices_and_pipes_in_a_tar_are_refused(
    project: Path, tmp_path: Path, info: tarfile.TarInfo, why: str
) -> None:
    archive = make_tar(tmp_path / "odd.tar", [(member("fine.txt"), b"ok"), (info, b"")], mode="w")

    with pytest.raises(ArchiveError, match=why) as refused:
        unpack_into(project, archive)

    assert repr(info.name) in str(refused.value)
    assert [p.name for p in project.iterdir()] == ["fine.txt"]


def test_a_symlink_in_a_zip_is_refused(project: Path, tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "link.zip", [("passwd", b"/etc/passwd")], unix_mode=stat.S_IFLNK | 0o777)

    with pytest.raises(ArchiveError, match="'passwd' refused: links"):
        unpack_into(project, archive)

    assert list(project.iterdir()) == []


def test_a_link_planted_in_the_project_is_not_followed(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (project / "textures").symlink_to(outside)
    archive = make_zip(tmp_path / "a.zip", [("textures/wood.png", b"wood")])

    with pytest.raises(InTheWay, match="textures is a link"):
        unpack_into(project, archive)

    assert list(outside.iterdir()) == []


def zeros_gz_members(total: int) -> Iterator[bytes]:
    """Gzip members of 1 MiB of zeros each (about 1 KiB apiece): one archive that unpacks huge."""
    one = gzip.compress(bytes(MiB), compresslevel=9)
    for _ in range(total // MiB):
        yield one


def test_a_bomb_is_stopped_once_it_writes_past_the_limit(project: Path, tmp_path: Path) -> None:
    bomb = tmp_path / "zeros.bin.gz"
    with bomb.open("wb") as out:
        for piece in zeros_gz_members(1 << 30):
            out.write(piece)
    assert bomb.stat().st_size < 2 * MiB

    with pytest.raises(ArchiveError, match=r"'zeros\.bin'.*more than 64 MiB.*archive bomb"):
        unpack_into(project, bomb)

    assert files_under(project) == {}, "the half-written member is removed"


def test_a_tar_bomb_whose_header_tells_the_truth_is_counted_as_it_unpacks(
    project: Path, tmp_path: Path
) -> None:
    header = member("huge.exr")
    header.size = 1 << 30
    bomb = tmp_path / "bomb.tar.gz"
    with bomb.open("wb") as out:
        out.write(gzip.compress(header.tobuf()))
        for piece in zeros_gz_members(1 << 30):
            out.write(piece)
        out.write(gzip.compress(bytes(1024)))

    with pytest.raises(ArchiveError, match=r"'huge\.exr'.*more than 64 MiB"):
        unpack_into(project, bomb, Limits(ratio=1))

    assert not [name for name in os.listdir(project) if name.endswith(TEMP_SUFFIX) or name == "huge.exr"]


def test_too_many_members_are_refused_at_the_first_beyond_the_limit(project: Path, tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "many.zip", [(f"f{n}.txt", b"") for n in range(101)])

    with pytest.raises(ArchiveError, match=r"'f100\.txt'.*more than the 100 members"):
        unpack_into(project, archive, Limits(members=100))


def test_a_damaged_archive_says_it_cannot_be_read(project: Path, tmp_path: Path) -> None:
    good = make_tar(tmp_path / "good.tar.gz", [(member("a.txt"), os.urandom(50_000))])
    damaged = tmp_path / "damaged.tar.gz"
    damaged.write_bytes(good.read_bytes()[:-20_000])
    not_zip = tmp_path / "text.zip"
    not_zip.write_bytes(zlib.compress(b"not a zip"))

    with pytest.raises(ArchiveError, match=r"damaged\.tar\.gz"):
        unpack_into(project, damaged)
    with pytest.raises(ArchiveError, match=r"text\.zip: cannot read it as a \.zip archive"):
        unpack_into(project, not_zip)
