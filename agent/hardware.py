"""What this node offers: CPU, memory, GPUs and installed renderers, plus its live load.

The controller matches jobs to nodes with this (a job that needs Blender or 24 GB of
GPU memory only goes where they are), so the probe asks the tools themselves
(``nvidia-smi``, ``blender --version``) rather than guessing from paths. Each probe
runs as a subprocess with a timeout, concurrently, so a slow or hung tool delays
nothing but its own entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import platform
import re
import shutil
import socket
from dataclasses import dataclass

import psutil

from renderq.v1 import resources_pb2

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 8.0
"""Seconds a tool may take to print its version: the first hello waits for the probe, and
a controller gives up on a hello after 10 s. A slower tool is still listed, without version."""
_MIB = 1024 * 1024


@dataclass(frozen=True)
class RendererProbe:
    """How to find a renderer on PATH and read its version."""

    name: str
    version_args: tuple[str, ...]
    version: re.Pattern[str]


RENDERERS = (
    RendererProbe("blender", ("--version",), re.compile(r"^Blender (\S+)", re.MULTILINE)),
    RendererProbe("ffmpeg", ("-version",), re.compile(r"^ffmpeg version (\S+)", re.MULTILINE)),
)


async def probe_hardware() -> resources_pb2.Hardware:
    gpus_probe = asyncio.create_task(_probe_gpus())
    renderers = await asyncio.gather(*(_probe_renderer(probe) for probe in RENDERERS))
    gpus = await gpus_probe
    return resources_pb2.Hardware(
        hostname=socket.gethostname(),
        cpu_cores=psutil.cpu_count(logical=True) or 1,
        ram_bytes=psutil.virtual_memory().total,
        os=platform.system(),
        arch=platform.machine(),
        gpus=gpus,
        renderers=[renderer for renderer in renderers if renderer is not None],
    )


def current_load() -> resources_pb2.Load:
    """Load since the previous call (the first call's CPU figure is 0)."""
    memory = psutil.virtual_memory()
    return resources_pb2.Load(
        cpu_percent=psutil.cpu_percent(interval=None),
        ram_used_bytes=memory.total - memory.available,
        load_average=psutil.getloadavg()[0],
    )


async def _probe_renderer(probe: RendererProbe) -> resources_pb2.Renderer | None:
    path = shutil.which(probe.name)
    if path is None:
        return None
    output = await _output_of([path, *probe.version_args])
    match = probe.version.search(output or "")
    if match is None:
        log.warning("renderer version unknown renderer=%s path=%s", probe.name, path)
    version = match.group(1) if match else ""
    log.debug("renderer found renderer=%s version=%s path=%s", probe.name, version, path)
    return resources_pb2.Renderer(name=probe.name, version=version, path=path)


async def _probe_gpus() -> list[resources_pb2.Gpu]:
    path = shutil.which("nvidia-smi")
    if path is None:
        return []
    output = await _output_of([path, "--query-gpu=index,name,memory.total", "--format=csv,noheader,nounits"])
    return parse_nvidia_smi(output or "")


def parse_nvidia_smi(output: str) -> list[resources_pb2.Gpu]:
    """Lines like ``0, NVIDIA GeForce RTX 3090, 24576`` (memory in MiB)."""
    gpus = []
    for line in output.splitlines():
        fields = [field.strip() for field in line.split(",")]
        if len(fields) != 3:
            continue
        index, model, memory = fields
        try:
            gpus.append(resources_pb2.Gpu(index=int(index), model=model, memory_bytes=int(memory) * _MIB))
        except ValueError:
            log.warning("nvidia-smi line not understood line=%r", line)
    return gpus


async def _output_of(argv: list[str]) -> str | None:
    """The tool's merged output, or None when it cannot run or takes too long."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
    except OSError as exc:
        log.warning("probe cannot run command=%s error=%s", argv[0], exc)
        return None
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            stdout, _ = await proc.communicate()
    except TimeoutError:
        log.warning("probe timed out command=%s seconds=%s", argv[0], PROBE_TIMEOUT)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        return None
    return stdout.decode(errors="replace")
