"""The GPU check of the scheduling work, for a machine with an NVIDIA GPU (not part of the
test suite: its machines have none).

A real controller and one real agent (separate processes on loopback, mDNS off) with
nothing declared: the agent's `nvidia-smi` probe must find the GPUs (model and memory),
and a `--task-gpus 1` task must see exactly one device through `CUDA_VISIBLE_DEVICES` and
`nvidia-smi -L`. Prints what it saw and exits non-zero when a check fails.

Usage (from the repository root): python bench/gpu_check.py
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.system.conftest import Farm
from tests.waiting import eventually

TASK = (
    'echo "CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES gpus={gpus}"; '
    'nvidia-smi -L; echo "devices=$(nvidia-smi -L | grep -c ^GPU)"'
)


def _online(farm: Farm) -> bool:
    return any(a["status"] == "online" for a in farm.cli.json("agents"))


def main() -> int:
    if shutil.which("nvidia-smi") is None:
        print("no nvidia-smi on this machine: nothing to check")
        return 2
    with tempfile.TemporaryDirectory(prefix="renderq-gpu-") as root:
        farm = Farm(Path(root))
        farm.add_agent("gpu")
        try:
            farm.start_agent("gpu", "--slots", "2")
            farm.start_controller()
            eventually("the agent is online", lambda: _online(farm), timeout=60)
            gpus = farm.cli.json("agents")[0]["hardware"]["gpus"]
            print("probed GPUs:", [(g["index"], g["model"], g["memory_bytes"]) for g in gpus])
            submit = ("command", "--frames", "1", "--task-gpus", "1", "--", "sh", "-c", TASK)
            job = farm.cli.json("submit", *submit)
            farm.cli.run("wait", str(job["id"]), timeout=120)
            log = farm.cli.run("logs", str(job["id"]), "1").stdout
            print(log)
            ok = bool(gpus) and "devices=1" in log and "CUDA_VISIBLE_DEVICES=0 gpus=0" in log
        finally:
            farm.stop()
    print("GPU check", "passed" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
