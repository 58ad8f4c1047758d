"""A controller and two agents, each in its own network namespace, find each other over
mDNS and render a real Blender job: every frame once, on both agents, with its hash."""

from __future__ import annotations

from pathlib import Path

import pytest
import xxhash

from renderq import farm_key
from renderq.demo.scene import ensure_demo_scene

from .conftest import Lan
from .harness import Cli, Process, renderq_argv

pytestmark = [pytest.mark.system, pytest.mark.netns, pytest.mark.blender]


def file_hash(path: str) -> str:
    return xxhash.xxh3_128_hexdigest(Path(path).read_bytes())


def test_blender_job_renders_on_two_agents_found_over_mdns(lan: Lan, blender: str, tmp_path: Path) -> None:
    scene = ensure_demo_scene(tmp_path / "scene")
    ctl, a1, a2 = lan.hosts["ctl"], lan.hosts["a1"], lan.hosts["a2"]
    procs: list[Process] = []
    token = farm_key.to_token(farm_key.load_or_create(tmp_path / "ctl" / farm_key.FILE_NAME))
    try:
        controller = Process(
            ctl.argv(
                renderq_argv("controller", "--listen", "0.0.0.0:7420", "--data-dir", str(tmp_path / "ctl"))
            ),
            "controller",
            tmp_path,
        )
        procs.append(controller)
        controller.wait_for_line(r"renderq controller listening on")
        for name, host in (("a1", a1), ("a2", a2)):
            agent = Process(
                host.argv(
                    renderq_argv(
                        "agent",
                        "--listen",
                        "0.0.0.0:7421",
                        "--data-dir",
                        str(tmp_path / name),
                        "--join",
                        token,
                    )
                ),
                name,
                tmp_path,
            )
            procs.append(agent)
            agent.wait_for_line(r"renderq agent \S+ listening on")
        # The controller was given no address: it must find both agents over mDNS.
        controller.wait_for_line(rf"agent online agent=\S+ address={a1.address}:7421")
        controller.wait_for_line(rf"agent online agent=\S+ address={a2.address}:7421")

        cli = Cli(f"{ctl.address}:7420", tmp_path / "ctl", wrap=ctl.argv)
        job = cli.json(
            "submit",
            "blender",
            "--frames",
            "1-24",
            "--chunk",
            "4",
            "--name",
            "mesh",
            "--param",
            f"scene={scene}",
        )
        job_id = str(job["id"])
        finished = cli.run("wait", str(job_id), "--timeout", "600", timeout=660)
        assert finished.returncode == 0, finished.stderr

        frames = cli.json("frames", str(job_id))
        assert [int(f["number"]) for f in frames] == list(range(1, 25))
        assert all(f["state"] == "completed" for f in frames)
        assert all(f.get("attempt_count", 0) == 1 for f in frames), "a frame was dispatched twice"
        assert len({f["agent_id"] for f in frames}) == 2, "both agents should have rendered"
        for frame in frames:
            (output,) = frame["outputs"]
            assert output["path"].endswith(".png")
            assert output["xxh3_128"] == file_hash(output["path"])
    finally:
        for proc in procs:
            proc.stop()
