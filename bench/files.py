"""Project files benchmark: hashing, uploading, and submitting an unchanged project again.

Makes a project of random bytes (one file of half the size, the rest spread over many
files, as a scene with its textures), starts a real controller (its own process, no
agents, mDNS off) and measures:

1. hashing: ``client/project_files.py`` (walk + hash, the files in the page cache)
   against ``xxhash.xxh3_128`` over the same bytes already in memory, on one thread;
2. upload: ``client/upload.py`` sending the whole project to the controller on loopback;
3. resubmit: ``renderq submit command --upload PROJECT`` as a process, the project
   unchanged: the bytes it sent (0 expected) and the seconds from command to job id;
4. to the node: a job naming the project on a real agent (its own process and data
   folder): from submit to the task's start, the agent fetching every file over its link;
5. outputs back: the task writes the project's largest file less its first byte (new
   content) to ``{renders}`` as its output; from the frame's end to that file verified in
   the controller's store;
6. fetch: ``client/download.py`` bringing that output into a folder, verified.

Usage: python bench/files.py [--size-mib 1024] [--files 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
import xxhash
from google.protobuf import struct_pb2

from renderq import farm_key, tokens
from renderq.cli.children import Child
from renderq.client.channel import connect
from renderq.client.credentials import Credentials
from renderq.client.download import fetch_outputs, plan_fetch
from renderq.client.project_files import Project, hash_listing, walk
from renderq.client.upload import upload_project
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

if TYPE_CHECKING:
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub

READY = re.compile(r"listening on (\S+)")
MB = 1_000_000


def make_project(root: Path, size: int, files: int) -> Path:
    """``root/shot/``: one file of half ``size``, the rest in ``files - 1`` files under tex/."""
    project = root / "shot"
    (project / "tex").mkdir(parents=True)
    rng = random.Random(1)
    write_random(project / "scene.blend", size // 2, rng)
    each = (size - size // 2) // max(1, files - 1)
    for index in range(files - 1):
        write_random(project / "tex" / f"tex{index:04d}.png", each, rng)
    return project


def write_random(path: Path, size: int, rng: random.Random) -> None:
    """``size`` random bytes (incompressible, like rendered images), 16 MiB at a time."""
    with path.open("wb") as out:
        for start in range(0, size, 16 << 20):
            out.write(rng.randbytes(min(16 << 20, size - start)))


def raw_rate(project: Path) -> tuple[float, int]:
    """Bytes per second of xxh3-128 over the project's bytes, already in memory."""
    contents = [p.read_bytes() for p in sorted(project.rglob("*")) if p.is_file()]
    started = time.perf_counter()
    for data in contents:
        xxhash.xxh3_128(data).hexdigest()
    return sum(map(len, contents)) / (time.perf_counter() - started), sum(map(len, contents))


def hashing_rate(project: Path) -> float:
    """Bytes per second of walk + hash over the project (its files in the page cache)."""
    hash_listing(walk([project]))  # warm the cache
    started = time.perf_counter()
    listing = walk([project])
    hash_listing(listing)
    return listing.size / (time.perf_counter() - started)


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


async def upload_rate(stub: FarmServiceAsyncStub, built: Project, controller_pid: int) -> Upload:
    """A first upload of the whole project: its rate, and the CPU each side spent."""
    controller, client = psutil.Process(controller_pid), psutil.Process()
    before = cpu_seconds(controller), cpu_seconds(client)
    started = time.perf_counter()
    report = await upload_project(stub, built)
    elapsed = time.perf_counter() - started
    after = cpu_seconds(controller), cpu_seconds(client)
    return Upload(report.bytes_sent / elapsed, report.bytes_sent, after[0] - before[0], after[1] - before[1])


@dataclass(frozen=True)
class RoundTrip:
    to_node: float
    """Bytes per second from submit to the task's start (the agent fetched the project)."""
    back: float
    """Bytes per second of the output from the frame's end to verified in the store."""
    output_bytes: int
    fetch: float
    """Bytes per second of ``fetch_outputs`` into a folder."""


async def round_trip(stub: FarmServiceAsyncStub, built: Project, size: int, folder: Path) -> RoundTrip:
    """A job on the project whose one frame copies the largest file out as its output: the
    project to the node, the output back, and the output fetched here."""
    largest = max(built.manifest(), key=lambda f: f.blob.size_bytes)
    params = struct_pb2.Struct()
    params.update({
        "argv": ["sh", "-c", 'tail -c +2 "$0" > "$1"', "{project}/" + largest.path, "{renders}/out.bin"],
        "outputs": "{renders}/out.bin",
    })  # fmt: skip
    job = pb.Job(name="bench", plugin="command", parameters=params, frames="1", files=built.manifest())
    started = time.time()
    job_id = (await stub.CreateJob(fpb.CreateJobRequest(job=job))).job.id
    output = await until_stored(stub, job_id)
    frame = (await stub.ListFrames(fpb.ListFramesRequest(job_id=job_id))).frames[0]
    stored_at = time.time()
    fetched = time.perf_counter()
    await fetch_outputs(
        stub,
        job_id,
        plan_fetch((await stub.ListOutputs(fpb.ListOutputsRequest(job_id=job_id))).frames).wanted,
        folder,
    )
    fetch_seconds = time.perf_counter() - fetched
    task_start = frame.start_time.ToNanoseconds() / 1e9
    frame_end = frame.end_time.ToNanoseconds() / 1e9
    return RoundTrip(
        size / (task_start - started),
        output.size_bytes / (stored_at - frame_end),
        output.size_bytes,
        output.size_bytes / fetch_seconds,
    )


async def until_stored(stub: FarmServiceAsyncStub, job_id: int) -> pb.OutputFile:
    """The job's one output, once verified in the controller's store (looked at every 10 ms)."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        frames = (await stub.ListOutputs(fpb.ListOutputsRequest(job_id=job_id))).frames
        if frames and frames[0].outputs[0].storage == pb.OUTPUT_STORAGE_CONTROLLER:
            return frames[0].outputs[0]
        if frames and frames[0].outputs[0].storage == pb.OUTPUT_STORAGE_FAILED:
            raise SystemExit(f"the output failed: {frames[0].outputs[0].storage_error}")
        await asyncio.sleep(0.01)
    raise SystemExit("the output did not reach the controller's store in 600 s")


@dataclass(frozen=True)
class Upload:
    rate: float
    sent: int
    controller_cpu: float
    client_cpu: float


def resubmit(address: str, data_dir: Path, project: Path) -> tuple[float, dict[str, int]]:
    """Seconds from ``renderq submit --upload`` to its job id, and its upload summary."""
    argv = [sys.executable, "-m", "renderq", "submit", "command", "--frames", "1", "--json"]
    argv += ["--controller", address, "--data-dir", str(data_dir), "--upload", str(project), "--", "true"]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - started
    job = json.loads(done.stdout)
    return elapsed, {key: job[key] for key in ("bytes_sent", "bytes_skipped", "files_sent")}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--files", type=int, default=200)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="renderq-bench-files-"))
    project = make_project(root, args.size_mib << 20, args.files)
    raw, size = raw_rate(project)
    ours = hashing_rate(project)
    data_dir = root / "controller"
    renderq = [sys.executable, "-m", "renderq"]
    join = {"RENDERQ_JOIN_TOKEN": farm_key.to_token(farm_key.load_or_create(data_dir / farm_key.FILE_NAME))}
    agent_argv = [
        *renderq,
        "agent",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        str(root / "agent"),
        "--no-mdns",
    ]
    agent = Child("agent", agent_argv, root / "agent.log", READY, join)
    await agent.start()
    argv = [*renderq, "controller", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir), "--no-mdns"]
    controller = Child(
        "controller", [*argv, f"--agent={await agent.ready()}"], root / "controller.log", READY
    )
    await controller.start()
    try:
        address = await controller.ready()
        built = hash_listing(walk([project]))
        async with connect(address, Credentials(token=tokens.read_local(data_dir))) as stub:
            upload = await upload_rate(stub, built, controller.pid)
            seconds, second = await asyncio.to_thread(resubmit, address, data_dir, project)
            trip = await round_trip(stub, built, size, root / "fetched")
    finally:
        await controller.stop(10)
        await agent.stop(10)
    load = os.getloadavg()
    print(f"files: a project of {size / MB:.0f} MB in {args.files} files, loopback, {os.cpu_count()} cores")
    print(f"  hashing   {ours / MB:8.0f} MB/s  (xxh3-128 over the same bytes in memory: {raw / MB:.0f} MB/s)")
    print(f"  upload    {upload.rate / MB:8.0f} MB/s  ({upload.sent / MB:.0f} MB to a real controller)")
    mib = upload.sent / (1 << 20)
    print(
        f"            CPU per MiB: controller {upload.controller_cpu / mib * 1000:.2f} ms, "
        f"this client {upload.client_cpu / mib * 1000:.2f} ms"
    )
    print(
        f"  resubmit  {seconds:8.2f} s     from command to job id, {second['bytes_sent']} bytes sent, "
        f"{second['bytes_skipped'] / MB:.0f} MB already on the controller"
    )
    print(
        f"  to a node {trip.to_node / MB:8.0f} MB/s  (submit to the task's start: fetched, verified, placed)"
    )
    print(
        f"  back      {trip.back / MB:8.0f} MB/s  ({trip.output_bytes / MB:.0f} MB output: frame end to "
        "verified in the store)"
    )
    print(f"  fetch     {trip.fetch / MB:8.0f} MB/s  (that output into a folder here, verified)")
    print(f"  load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    shutil.rmtree(root)


if __name__ == "__main__":
    asyncio.run(main())
