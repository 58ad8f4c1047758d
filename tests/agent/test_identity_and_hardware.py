"""The agent's stable id and what its hardware probe reports."""

from __future__ import annotations

import platform
import re
from pathlib import Path

import psutil
import pytest

from renderq.agent.hardware import parse_nvidia_smi, probe_hardware
from renderq.agent.identity import load_or_create_agent_id
from tests.agent.conftest import IN_CI


def test_agent_id_is_created_once_and_kept(tmp_path: Path) -> None:
    first = load_or_create_agent_id(tmp_path / "agent")
    again = load_or_create_agent_id(tmp_path / "agent")

    assert first == again
    assert re.fullmatch(r"[a-z0-9-]+-[0-9a-f]{6}", first)
    assert (tmp_path / "agent" / "agent-id").read_text().strip() == first


def test_an_empty_id_file_gets_a_new_id(tmp_path: Path) -> None:
    (tmp_path / "agent-id").write_text("\n")

    assert load_or_create_agent_id(tmp_path)
    assert (tmp_path / "agent-id").read_text().strip()


async def test_probe_finds_blender_and_ffmpeg_with_their_versions() -> None:
    hardware = await probe_hardware()
    renderers = {r.name: r for r in hardware.renderers}

    missing = {"blender", "ffmpeg"} - set(renderers)
    if missing:
        message = f"not installed on this machine: {', '.join(sorted(missing))}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    assert re.match(r"\d+\.\d+", renderers["blender"].version), renderers["blender"]
    assert re.match(r"\d+\.\d+", renderers["ffmpeg"].version), renderers["ffmpeg"]
    assert all(Path(r.path).is_absolute() for r in renderers.values())
    assert hardware.cpu_cores == psutil.cpu_count(logical=True)
    assert hardware.ram_bytes == psutil.virtual_memory().total
    assert hardware.os == platform.system()
    assert hardware.arch == platform.machine()


def test_nvidia_smi_lines_become_gpus() -> None:
    gpus = parse_nvidia_smi("0, NVIDIA GeForce RTX 3090, 24576\n1, NVIDIA A100-SXM4-80GB, 81920\nbogus\n")

    assert [(g.index, g.model, g.memory_bytes) for g in gpus] == [
        (0, "NVIDIA GeForce RTX 3090", 24576 * 1024 * 1024),
        (1, "NVIDIA A100-SXM4-80GB", 81920 * 1024 * 1024),
    ]
