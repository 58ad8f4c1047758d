"""Tables fit the terminal: dispensable columns go first, the text a table is for wraps."""

from __future__ import annotations

import io

import pytest

from renderq.cli.tables import WIDE, Column, output_width, render_table
from renderq.v1 import resources_pb2 as rs

from .conftest import CliRunner, FakeFarm
from .test_listings import running_job

ERROR = (
    "Blender quit with code 11 (segmentation fault) while loading /projects/shot010/lighting/"
    "shot010_lighting_v042.blend: the file references a library that is missing on this node, "
    "/projects/library/characters/hero_rig_v017.blend"
)

COLUMNS = [
    Column("N", right=True),
    Column("STATE"),
    Column("HOST", spare=1, cut=True),
    Column("CREATED", spare=2),
    Column("PATH", cut=True),
    Column("ERROR", wrap=True),
]
ROW = ["1", "failed", "render-node-07", "2026-12-01 21:14:06", "/renders/shot010/frame_0001.png", ERROR]


def words(lines: list[str], start: int) -> str:
    """The text of the column starting at ``start``, lines joined and spaces left out
    (a long path breaks anywhere)."""
    return "".join(line[start:].replace(" ", "") for line in lines)


def test_a_table_that_fits_is_left_as_it_is() -> None:
    header, row = render_table(COLUMNS, [ROW], 400)
    assert row.endswith(ERROR)
    assert header.split() == ["N", "STATE", "HOST", "CREATED", "PATH", "ERROR"]


WHOLE = ERROR.replace(" ", "")


def test_the_most_dispensable_column_goes_first_and_the_error_wraps_whole() -> None:
    lines = render_table(COLUMNS, [ROW], 100)
    assert all(len(line) <= 100 for line in lines)
    assert lines[0].split() == ["N", "STATE", "HOST", "PATH", "ERROR"]
    error_at = lines[0].index("ERROR")
    assert words(lines[1:], error_at) == WHOLE, "wrapped, never cut"


def test_on_a_narrow_terminal_names_are_cut_but_never_the_error() -> None:
    lines = render_table(COLUMNS, [ROW], 60)
    assert all(len(line) <= 60 for line in lines)
    assert lines[0].split() == ["N", "STATE", "PATH", "ERROR"]
    assert "..." in lines[1]
    assert words(lines[1:], lines[0].index("ERROR")) == WHOLE


def test_stdout_that_is_no_terminal_takes_columns_or_a_wide_default() -> None:
    assert output_width(io.StringIO(), {}) == WIDE
    assert output_width(io.StringIO(), {"COLUMNS": "132"}) == 132


def test_jobs_fit_an_80_column_terminal(
    cli: CliRunner, farm: FakeFarm, monkeypatch: pytest.MonkeyPatch
) -> None:
    farm.jobs = {
        n: running_job(n, owner="someone-long", name=f"shot{n:03d} lighting and comp") for n in (3, 1234)
    }
    monkeypatch.setenv("COLUMNS", "80")
    header, *rows = cli("jobs").lines
    assert max(len(line) for line in [header, *rows]) <= 80
    assert header.split()[:4] == ["ID", "STATE", "PROGRESS", "FRAMES"]
    assert rows[0].endswith("shot003 lighting and comp")


def test_a_frames_error_keeps_every_word_at_250_columns(
    cli: CliRunner, farm: FakeFarm, monkeypatch: pytest.MonkeyPatch
) -> None:
    farm.frames = [
        rs.Frame(job_id=3, number=1, state=rs.FRAME_STATE_FAILED, exit_code=11, error_message=ERROR)
    ]
    monkeypatch.setenv("COLUMNS", "250")
    lines = cli("frames", "3").lines
    assert max(len(line) for line in lines) <= 250
    assert words(lines[1:], lines[0].index("ERROR")) == WHOLE


def test_piped_output_keeps_rows_whole(cli: CliRunner, farm: FakeFarm) -> None:
    farm.frames = [rs.Frame(job_id=3, number=1, state=rs.FRAME_STATE_FAILED, error_message=ERROR)]
    _, row = cli("frames", "3").lines
    assert row.endswith(ERROR)
