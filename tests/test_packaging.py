"""The wheel holds one import package, `renderq`, with every part and the typed stubs;
the sdist carries the protos. No bare `controller` or `agent` lands in site-packages."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def build(kind: str, out: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "build", f"--{kind}", "--no-isolation", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (artifact,) = out.iterdir()
    return artifact


def test_wheel_holds_one_renderq_package_with_typed_stubs(tmp_path: Path) -> None:
    wheel = zipfile.ZipFile(build("wheel", tmp_path))
    names = set(wheel.namelist())
    top_level = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top_level == {"renderq"}
    for expected in [
        "renderq/v1/farm_service_pb2.py",
        "renderq/v1/farm_service_pb2.pyi",
        "renderq/v1/agent_service_pb2_grpc.py",
        "renderq/controller/farm.py",
        "renderq/agent/runner.py",
        "renderq/plugins/blender.py",
        "renderq/client/channel.py",
        "renderq/cli/main.py",
        "renderq/demo/pattern.py",
        "renderq/tui/__init__.py",
    ]:
        assert expected in names, f"{expected} missing from the wheel"
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = wheel.read(entry_points).decode()
    assert "renderq = renderq.cli.main:main" in text


def test_sdist_ships_the_protos(tmp_path: Path) -> None:
    with tarfile.open(build("sdist", tmp_path)) as sdist:
        names = sdist.getnames()
    assert any(n.endswith("protos/renderq/v1/farm_service.proto") for n in names)
    assert any(n.endswith("buf.yaml") for n in names)
