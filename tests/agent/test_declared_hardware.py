"""Hardware an operator declares in place of what the probe found: the settings that say
it, and the one pure function that applies them."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import psutil
import pytest

from renderq import settings
from renderq.agent import hardware as hardware_module
from renderq.agent.config import SCHEMA, AgentConfig
from renderq.agent.hardware import apply_declared, declared_keys, probe_hardware
from renderq.v1 import resources_pb2

GiB = 1024**3
MiB = 1024**2
H200 = resources_pb2.Gpu(index=0, model="NVIDIA H200", memory_bytes=143771 * MiB)


def probed(*gpus: resources_pb2.Gpu) -> resources_pb2.Hardware:
    return resources_pb2.Hardware(hostname="node", cpu_cores=8, ram_bytes=32 * GiB, os="Linux", gpus=gpus)


def gpus_of(hardware: resources_pb2.Hardware) -> list[tuple[int, str, int]]:
    return [(gpu.index, gpu.model, gpu.memory_bytes) for gpu in hardware.gpus]


def loaded(*flags: str, environ: dict[str, str] | None = None, tmp_path: Path) -> AgentConfig:
    """The agent's settings from ``flags`` and ``environ`` alone (an empty file in place of
    the machine's)."""
    parser = argparse.ArgumentParser()
    settings.add_flags(parser, SCHEMA)
    (tmp_path / "agent.toml").write_text("")
    args = parser.parse_args(["--config", str(tmp_path / "agent.toml"), *flags])
    return settings.load(SCHEMA, args, environ or {}).config


def test_nothing_declared_reports_what_was_probed() -> None:
    found = probed(H200)

    assert apply_declared(found, AgentConfig()) == found
    assert declared_keys(AgentConfig()) == ()


def test_declared_gpus_model_and_memory_make_gpus_numbered_from_zero() -> None:
    config = AgentConfig(gpus=2, gpu_memory="24GiB", gpu_model="RTX 4090")

    hardware = apply_declared(probed(H200), config)

    assert gpus_of(hardware) == [(0, "RTX 4090", 24 * GiB), (1, "RTX 4090", 24 * GiB)]
    assert declared_keys(config) == ("gpus", "gpu_model", "gpu_memory")


def test_zero_gpus_hides_the_real_ones() -> None:
    assert gpus_of(apply_declared(probed(H200), AgentConfig(gpus=0))) == []


def test_declared_cores_and_memory_replace_the_probed_ones_and_keep_the_rest() -> None:
    found = probed(H200)

    hardware = apply_declared(found, AgentConfig(cores=16, memory="64GiB"))

    assert (hardware.cpu_cores, hardware.ram_bytes) == (16, 64 * GiB)
    assert (hardware.hostname, hardware.os, gpus_of(hardware)) == ("node", "Linux", gpus_of(found))
    assert (found.cpu_cores, found.ram_bytes) == (8, 32 * GiB), "the probe's result is left as it was"


def test_a_declared_count_alone_copies_the_probed_gpus() -> None:
    hardware = apply_declared(probed(H200), AgentConfig(gpus=2))

    assert gpus_of(hardware) == [(0, "NVIDIA H200", 143771 * MiB), (1, "NVIDIA H200", 143771 * MiB)]


def test_a_declared_count_without_probed_gpus_is_declared_gpus_of_unknown_memory() -> None:
    assert gpus_of(apply_declared(probed(), AgentConfig(gpus=2))) == [(0, "declared", 0), (1, "declared", 0)]


def test_a_declared_model_without_a_count_renames_each_probed_gpu() -> None:
    second = resources_pb2.Gpu(index=1, model="NVIDIA H200", memory_bytes=143771 * MiB)

    hardware = apply_declared(probed(H200, second), AgentConfig(gpu_model="H200 NVL"))

    assert gpus_of(hardware) == [(0, "H200 NVL", 143771 * MiB), (1, "H200 NVL", 143771 * MiB)]


def test_flags_declare_the_hardware(tmp_path: Path) -> None:
    flags = [
        "--gpus",
        "2",
        "--gpu-memory",
        "24GiB",
        "--gpu-model",
        "RTX 4090",
        "--cores",
        "16",
        "--memory",
        "64GiB",
    ]

    config = loaded(*flags, tmp_path=tmp_path)

    assert (config.gpus, config.gpu_model, config.gpu_memory_bytes) == (2, "RTX 4090", 24 * GiB)
    assert (config.cores, config.memory_bytes) == (16, 64 * GiB)


def test_variables_declare_the_hardware(tmp_path: Path) -> None:
    environ = {"RENDERQ_AGENT_GPUS": "0", "RENDERQ_AGENT_MEMORY": "512MiB"}

    config = loaded(environ=environ, tmp_path=tmp_path)

    assert (config.gpus, config.memory_bytes) == (0, 512 * MiB)


def test_a_size_that_is_not_one_is_a_settings_error_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(
        settings.SettingsError, match=r"^gpu_memory must be a size such as .*, not '24 gigs'$"
    ):
        loaded("--gpu-memory", "24 gigs", tmp_path=tmp_path)


def test_a_negative_gpu_count_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        loaded("--gpus", "-1", tmp_path=tmp_path)

    assert "--gpus: must be a whole number of 0 or more" in capsys.readouterr().err


async def test_the_probe_applies_the_declarations_and_logs_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi, no renderers: a quick probe
    config = AgentConfig(gpus=2, gpu_memory="24GiB", gpu_model="RTX 4090", cores=16)

    with caplog.at_level(logging.INFO, logger=hardware_module.__name__):
        hardware = await probe_hardware(config)

    assert gpus_of(hardware) == [(0, "RTX 4090", 24 * GiB), (1, "RTX 4090", 24 * GiB)]
    assert hardware.cpu_cores == 16
    [line] = [r.getMessage() for r in caplog.records]
    assert line.startswith("hardware cores=16 ram=")
    assert "gpus='0:RTX 4090(24 GiB),1:RTX 4090(24 GiB)' declared=cores,gpus,gpu_model,gpu_memory" in line
    assert line.endswith(f"probed_cores={psutil.cpu_count(logical=True)} probed_gpus=none")


async def test_a_declared_model_with_no_gpu_to_apply_to_is_warned_about(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    with caplog.at_level(logging.WARNING, logger=hardware_module.__name__):
        hardware = await probe_hardware(AgentConfig(gpu_model="RTX 4090"))

    assert gpus_of(hardware) == []
    assert [r.getMessage() for r in caplog.records] == [
        "declared GPU model or memory applies to no GPU: declare gpus too"
    ]
