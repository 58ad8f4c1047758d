"""The ``python`` and ``ffmpeg`` plugins with real processes: a script's Open Job
Description progress seen through the API, its ``openjd_fail`` failing a frame that exits
0, and 24 PNG frames encoded into a one-second movie fetched back with ``renderq fetch``."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ..waiting import eventually
from .conftest import Farm
from .harness import require
from .test_project_upload import fetch_all

pytestmark = pytest.mark.system

STEPS = """\
import pathlib, sys, time

gates = pathlib.Path(sys.argv[1])
for percent in (25, 50, 75):
    print(f"openjd_progress: {percent}", flush=True)
    gate = gates / f"go{percent}"
    while not gate.exists():  # the test opens each gate once it saw the progress
        time.sleep(0.05)
print("openjd_status: done", flush=True)
"""

SHOW = ["-show_entries", "stream=nb_read_frames,r_frame_rate:format=duration"]


def movie_facts(ffprobe: str, movie: Path) -> tuple[str, str, float]:
    """What ffprobe reads in ``movie``: its frames counted, its frame rate, its duration."""
    probe = subprocess.run(
        [ffprobe, "-v", "error", "-count_frames", "-select_streams", "v:0", "-of", "json", *SHOW, str(movie)],
        check=True,
        capture_output=True,
        text=True,
    )
    info = json.loads(probe.stdout)
    [stream] = info["streams"]
    return stream["nb_read_frames"], stream["r_frame_rate"], float(info["format"]["duration"])


"""What ffprobe reports of the movie: frames counted by decoding, frame rate, length."""

FAILS = """\
print("openjd_fail: licence server down", flush=True)
"""


@pytest.fixture
def farm(farm_factory: Callable[[], Farm]) -> Farm:
    farm = farm_factory()
    farm.add_agent("a1")
    farm.start_agent("a1")
    controller = farm.start_controller()
    controller.wait_for_line(rf"agent online agent={farm.agents['a1'].agent_id}\b")
    return farm


def frame_of(farm: Farm, job_id: int) -> dict[str, Any]:
    (frame,) = farm.cli.json("frames", str(job_id))
    return dict(frame)


def at(farm: Farm, job_id: int, fraction: float) -> Callable[[], bool]:
    """A check that the job's only frame shows ``fraction`` done."""
    return lambda: bool(frame_of(farm, job_id)["progress"] == pytest.approx(fraction))


def test_a_scripts_progress_is_shown_then_it_completes(farm: Farm, tmp_path: Path) -> None:
    script = tmp_path / "steps.py"
    script.write_text(STEPS)
    gates = tmp_path / "gates"
    gates.mkdir()
    args = json.dumps([str(gates)])
    job = farm.cli.json(
        "submit", "python", "--frames", "1", "--param", f"script={script}", "--param", f"args={args}"
    )
    for percent in (25, 50, 75):
        eventually(f"frame 1 at {percent}%", at(farm, job["id"], percent / 100))
        (gates / f"go{percent}").touch()
    farm.cli.run("wait", str(job["id"]), "--timeout", "60")  # exit 0: it completed
    assert frame_of(farm, job["id"])["state"] == "completed"
    assert "openjd_status: done" in farm.cli.run("logs", str(job["id"]), "1").stdout


def test_openjd_fail_fails_the_frame_though_the_script_exits_0(farm: Farm, tmp_path: Path) -> None:
    script = tmp_path / "fails.py"
    script.write_text(FAILS)
    job = farm.cli.json(
        "submit", "python", "--frames", "1", "--max-retries", "0", "--param", f"script={script}"
    )
    farm.cli.run("wait", str(job["id"]), "--timeout", "60", check=False)
    frame = frame_of(farm, job["id"])
    assert frame["state"] == "failed", frame
    assert "licence server down" in str(frame["error_message"]), frame


def test_24_frames_become_a_one_second_movie_fetched_back(farm: Farm, tmp_path: Path) -> None:
    ffmpeg, ffprobe = shutil.which("ffmpeg"), shutil.which("ffprobe")
    require(ffmpeg is not None and ffprobe is not None, "ffmpeg and ffprobe (Debian package ffmpeg)")
    assert ffmpeg is not None and ffprobe is not None
    frames = tmp_path / "frames"
    frames.mkdir()
    source = ["-f", "lavfi", "-i", "testsrc=size=64x48:rate=24", "-frames:v", "24", "-start_number", "1"]
    pattern = str(frames / "f_%04d.png")
    subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", *source, pattern], check=True)
    params = [f"input={frames}/f_%04d.png", "output={renders}/shot.mp4", "fps=24"]
    job = farm.cli.json(
        "submit", "ffmpeg", "--frames", "1-24", "--chunk", "24", "--paths-on-nodes",
        *[arg for p in params for arg in ("--param", p)],
    )  # fmt: skip
    farm.cli.run("wait", str(job["id"]), "--timeout", "120")
    [movie] = fetch_all(farm, job["id"], tmp_path / "fetched")
    assert movie.name == "shot.mp4"
    counted, rate, seconds = movie_facts(ffprobe, movie)
    assert (counted, rate) == ("24", "24/1")
    assert seconds == pytest.approx(1.0, abs=0.05)
