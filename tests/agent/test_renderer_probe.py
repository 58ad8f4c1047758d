"""The renderer probe: programs that print their version quickly (Blender, ffmpeg) are run,
those that need a licence or a long start (After Effects, Maya, Unreal, 3ds Max) are
found and never started, a hung one costs only its own version, and an operator declares
what the probe cannot find.

Every program here is a fake: a script in a temporary folder, alone on PATH. Those that
print a version print a recorded fixture (tests/agent/fixtures, each saying what it is
based on); those that must not be started write a file when they are.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import platform
import sys
import time
from pathlib import Path

import pytest

from renderq import settings
from renderq.agent import hardware as hardware_module
from renderq.agent.config import SCHEMA, AgentConfig
from renderq.agent.hardware import RENDERERS, probe_hardware
from renderq.settings import SettingsError
from renderq.v1 import resources_pb2

from .test_gpu_probe import recorded


def fake_program(path: Path, fixture: str | None = None, delay: float = 0.0) -> Path:
    """An executable at ``path`` that prints ``fixture`` after ``delay`` seconds, or, with
    no fixture, writes ``path.ran`` (a program the probe must never start)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if fixture is None:
        body = f"open({str(path) + '.ran'!r}, 'w').close()\n"
    else:
        body = f"import time\ntime.sleep({delay})\nprint({recorded(fixture).output!r}, end='')\n"
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(0o755)
    return path


def started(folder: Path) -> list[Path]:
    """The fakes below ``folder`` that were started though they must not be."""
    return sorted(folder.rglob("*.ran"))


def on_path(monkeypatch: pytest.MonkeyPatch, *folders: Path) -> None:
    monkeypatch.setenv("PATH", ":".join(str(folder) for folder in folders))


def renderers_of(hardware: resources_pb2.Hardware) -> dict[str, tuple[str, str]]:
    return {r.name: (r.version, r.path) for r in hardware.renderers}


async def test_blender_and_ffmpeg_are_run_and_their_versions_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blender = fake_program(tmp_path / "bin" / "blender", "blender-version-4.2.txt")
    ffmpeg = fake_program(tmp_path / "bin" / "ffmpeg", "ffmpeg-version-6.1.txt")
    on_path(monkeypatch, tmp_path / "bin")

    hardware = await probe_hardware(AgentConfig())

    assert renderers_of(hardware) == {"blender": ("4.2.1", str(blender)), "ffmpeg": ("6.1.1", str(ffmpeg))}


async def test_licensed_programs_are_found_on_path_versioned_by_their_install_and_never_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    maya = fake_program(tmp_path / "usr" / "autodesk" / "maya2024" / "bin" / "Render")
    links = tmp_path / "usr" / "local" / "bin"
    links.mkdir(parents=True)
    (links / "Render").symlink_to(maya)  # as Maya's installer links it; the real path tells the release
    aerender = fake_program(tmp_path / "Adobe After Effects 2024" / "Support Files" / "aerender")
    max3ds = fake_program(tmp_path / "Autodesk" / "3ds Max 2025" / "3dsmaxcmd")
    engine = tmp_path / "Epic Games" / "UE_5.3" / "Engine"
    unreal = fake_program(engine / "Binaries" / "Linux" / "UnrealEditor-Cmd")
    (engine / "Build").mkdir()
    (engine / "Build" / "Build.version").write_text(recorded("unreal-5.3-Build.version").output)
    on_path(monkeypatch, links, aerender.parent, max3ds.parent, unreal.parent)

    hardware = await probe_hardware(AgentConfig())

    assert renderers_of(hardware) == {
        "Render": ("2024", str(links / "Render")),
        "aerender": ("2024", str(aerender)),
        "3dsmaxcmd": ("2025", str(max3ds)),
        "UnrealEditor-Cmd": ("5.3.2", str(unreal)),  # Build.version says the patch too
    }
    assert started(tmp_path) == []


async def test_an_unreal_without_build_version_takes_its_folder_and_an_unknown_one_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    unreal = fake_program(tmp_path / "UE_5.4" / "Engine" / "Binaries" / "Linux" / "UnrealEditor-Cmd")
    maya = fake_program(tmp_path / "opt" / "bin" / "Render")
    on_path(monkeypatch, unreal.parent, maya.parent)

    with caplog.at_level(logging.WARNING, logger=hardware_module.__name__):
        hardware = await probe_hardware(AgentConfig())

    assert renderers_of(hardware) == {"UnrealEditor-Cmd": ("5.4", str(unreal)), "Render": ("", str(maya))}
    unknown = f"renderer version unknown renderer=Render path={maya}"
    assert [r.getMessage() for r in caplog.records] == [unknown]


async def test_a_program_in_its_install_folder_but_not_on_path_is_named_and_not_offered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    maya = fake_program(tmp_path / "autodesk" / "maya2025" / "bin" / "Render")
    probe = next(p for p in RENDERERS if p.name == "Render")
    installs = {platform.system(): (str(tmp_path / "autodesk" / "maya*" / "bin" / "Render"),)}
    monkeypatch.setattr(hardware_module, "RENDERERS", (dataclasses.replace(probe, installs=installs),))
    on_path(monkeypatch, tmp_path / "empty")

    with caplog.at_level(logging.WARNING, logger=hardware_module.__name__):
        hardware = await probe_hardware(AgentConfig())

    assert list(hardware.renderers) == []
    (line,) = [r.getMessage() for r in caplog.records]
    assert "renderer=Render" in line and f"path={maya}" in line
    assert "add its folder to the agent's PATH" in line


async def test_a_hung_program_is_listed_without_version_and_delays_nothing_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blender = fake_program(tmp_path / "bin" / "blender", "blender-version-4.2.txt", delay=60)
    ffmpeg = fake_program(tmp_path / "bin" / "ffmpeg", "ffmpeg-version-6.1.txt")
    fake_program(tmp_path / "maya2024" / "bin" / "Render")
    on_path(monkeypatch, tmp_path / "bin", tmp_path / "maya2024" / "bin")
    monkeypatch.setattr(hardware_module, "PROBE_TIMEOUT", 1.0)
    started = time.monotonic()

    hardware = await probe_hardware(AgentConfig())

    # The probes run side by side: the whole takes the one timeout, not the sum.
    assert time.monotonic() - started < 5
    assert renderers_of(hardware) == {
        "blender": ("", str(blender)),
        "ffmpeg": ("6.1.1", str(ffmpeg)),
        "Render": ("2024", str(tmp_path / "maya2024" / "bin" / "Render")),
    }


async def test_declared_renderers_are_reported_by_program_name_over_the_probed_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blender = fake_program(tmp_path / "bin" / "blender", "blender-version-4.2.txt")
    on_path(monkeypatch, tmp_path / "bin")
    config = AgentConfig(renderers=("maya=2024", "aerender", "blender=4.2.3", "my-renderer=1.0"))

    with caplog.at_level(logging.INFO, logger=hardware_module.__name__):
        hardware = await probe_hardware(config)

    assert renderers_of(hardware) == {
        "blender": ("4.2.3", str(blender)),
        "Render": ("2024", ""),
        "aerender": ("", ""),
        "my-renderer": ("1.0", ""),
    }
    (line,) = [r.getMessage() for r in caplog.records]
    assert "renderers=blender:4.2.3,Render:2024,aerender:?,my-renderer:1.0 gpus=" in line
    assert line.endswith("declared=renderers probed_renderers=blender:4.2.1")


def test_renderers_are_declared_by_repeated_flags_or_a_toml_list(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    settings.add_flags(parser, SCHEMA)
    toml = tmp_path / "agent.toml"
    toml.write_text('renderer = ["3dsmax=2025", "UnrealEditor-Cmd=5.3"]\n')
    from_file = settings.load(SCHEMA, parser.parse_args(["--config", str(toml)]), {}).config
    flags = ["--config", str(toml), "--renderer", "maya=2024", "--renderer", "unreal"]
    from_flags = settings.load(SCHEMA, parser.parse_args(flags), {}).config

    assert from_file.declared_renderers == (("3dsmax", "2025"), ("UnrealEditor-Cmd", "5.3"))
    assert from_flags.declared_renderers == (("maya", "2024"), ("unreal", ""))


@pytest.mark.parametrize("declared", ["", "=2024", "my renderer=1", "maya=20 24", "maya=\x1b"])
def test_a_declared_renderer_that_is_no_name_is_refused_in_a_sentence(declared: str) -> None:
    with pytest.raises(SettingsError, match="renderer must be NAME or NAME=VERSION"):
        AgentConfig(renderers=(declared,))
