"""The GPU probe: nvidia-smi's output read into Gpu messages, and nvidia-smi run for real
(a fake one first on PATH: no GPU is needed) without ever failing the probe.

The outputs are fixtures in tests/agent/fixtures; each says what it is based on and the
exit status nvidia-smi ends with, in notes the tests drop.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from renderq.agent import hardware as hardware_module
from renderq.agent.config import AgentConfig
from renderq.agent.hardware import NVIDIA_SMI_QUERY, parse_nvidia_smi, probe_gpus, probe_hardware

FIXTURES = Path(__file__).parent / "fixtures"
MiB = 1024 * 1024


@dataclass(frozen=True)
class Recorded:
    """A fixture: what nvidia-smi prints and the status it exits with."""

    output: str
    exit_status: int


def recorded(name: str) -> Recorded:
    lines = (FIXTURES / name).read_text().splitlines(keepends=True)
    status = next(int(line.split(":")[1]) for line in lines if line.startswith("# exit:"))
    return Recorded("".join(line for line in lines if not line.startswith("# ")), status)


def fake_nvidia_smi(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fixture: str, delay: float = 0.0
) -> Path:
    """An ``nvidia-smi`` that prints ``fixture`` and exits as it says, alone on PATH (so the
    renderer probes find nothing and the test stays quick); returns the file where it
    writes the arguments it was given."""
    shown = recorded(fixture)
    folder = tmp_path / "bin"
    folder.mkdir()
    (tmp_path / "output").write_text(shown.output)
    called = tmp_path / "argv"
    script = folder / "nvidia-smi"
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys, time\n"
        f"open({str(called)!r}, 'w').write(' '.join(sys.argv[1:]))\n"
        f"time.sleep({delay})\n"
        f"sys.stdout.write(open({str(tmp_path / 'output')!r}).read())\n"
        f"sys.exit({shown.exit_status})\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(folder))
    return called


def described(output: str) -> list[tuple[int, str, int]]:
    return [(gpu.index, gpu.model, gpu.memory_bytes) for gpu in parse_nvidia_smi(output)]


def test_one_h200_is_read_with_its_memory_in_bytes() -> None:
    assert described(recorded("nvidia-smi-h200.csv").output) == [(0, "NVIDIA H200", 143771 * MiB)]


def test_two_rtx_4090_keep_their_indices() -> None:
    assert described(recorded("nvidia-smi-two-rtx4090.csv").output) == [
        (0, "NVIDIA GeForce RTX 4090", 24564 * MiB),
        (1, "NVIDIA GeForce RTX 4090", 24564 * MiB),
    ]


def test_a_field_reported_as_not_available_keeps_the_gpu_with_unknown_memory() -> None:
    assert described(recorded("nvidia-smi-memory-na.csv").output) == [
        (0, "NVIDIA A100-SXM4-80GB", 81920 * MiB),
        (1, "NVIDIA A100-SXM4-80GB", 0),
    ]


def test_an_unknown_name_is_an_empty_model_and_a_comma_in_a_name_is_kept() -> None:
    assert described("0, [N/A], [Not Supported]\n1, Acme, Inc. GPU, 1024\n") == [
        (0, "", 0),
        (1, "Acme, Inc. GPU", 1024 * MiB),
    ]


@pytest.mark.parametrize(
    "fixture", ["nvidia-smi-no-driver.txt", "nvidia-smi-no-devices.txt", "nvidia-smi-empty.csv"]
)
def test_messages_and_empty_outputs_are_no_gpus(fixture: str) -> None:
    assert parse_nvidia_smi(recorded(fixture).output) == []


async def test_the_probe_asks_nvidia_smi_for_index_name_and_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    called = fake_nvidia_smi(tmp_path, monkeypatch, "nvidia-smi-two-rtx4090.csv")

    gpus = await probe_gpus()

    assert called.read_text() == " ".join(NVIDIA_SMI_QUERY)
    assert [(g.index, g.model, g.memory_bytes) for g in gpus] == [
        (0, "NVIDIA GeForce RTX 4090", 24564 * MiB),
        (1, "NVIDIA GeForce RTX 4090", 24564 * MiB),
    ]


@pytest.mark.parametrize(
    ("fixture", "said"),
    [
        ("nvidia-smi-no-driver.txt", "exit=9 output=\"NVIDIA-SMI has failed because it couldn't"),
        ("nvidia-smi-no-devices.txt", "exit=6 output='No devices were found'"),
    ],
)
async def test_a_failing_nvidia_smi_is_no_gpus_and_one_log_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, fixture: str, said: str
) -> None:
    fake_nvidia_smi(tmp_path, monkeypatch, fixture)

    with caplog.at_level(logging.DEBUG, logger=hardware_module.__name__):
        assert await probe_gpus() == []

    assert len(caplog.records) == 1
    assert said in caplog.records[0].getMessage()


async def test_without_nvidia_smi_there_are_no_gpus_and_no_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    with caplog.at_level(logging.INFO, logger=hardware_module.__name__):
        assert await probe_gpus() == []

    assert caplog.records == []


async def test_a_hung_nvidia_smi_is_killed_at_the_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fake_nvidia_smi(tmp_path, monkeypatch, "nvidia-smi-h200.csv", delay=60)
    monkeypatch.setattr(hardware_module, "GPU_PROBE_TIMEOUT", 0.5)
    started = time.monotonic()

    with caplog.at_level(logging.INFO, logger=hardware_module.__name__):
        assert await probe_gpus() == []

    assert time.monotonic() - started < 10
    assert len(caplog.records) == 1
    assert "timed out" in caplog.records[0].getMessage()


async def test_the_hello_hardware_lists_the_gpus_and_the_start_logs_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fake_nvidia_smi(tmp_path, monkeypatch, "nvidia-smi-h200.csv")

    with caplog.at_level(logging.INFO, logger=hardware_module.__name__):
        hardware = await probe_hardware(AgentConfig())

    assert [(g.index, g.model, g.memory_bytes) for g in hardware.gpus] == [(0, "NVIDIA H200", 143771 * MiB)]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1
    assert lines[0].startswith(f"hardware cores={hardware.cpu_cores} ram=")
    assert lines[0].endswith("gpus='0:NVIDIA H200(140 GiB)' declared=none")
