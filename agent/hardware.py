"""What this node offers: CPU, memory, GPUs and installed renderers, plus its live load.

The controller matches jobs to nodes with this (a job that needs Blender or 24 GB of
GPU memory only goes where they are), so the probe asks the tools themselves
(``nvidia-smi``, ``blender --version``) rather than guessing from paths. Each probe
runs as a subprocess with a timeout, concurrently, so a slow or hung tool delays
nothing but its own entry. Programs that need a licence or a long start to say their
version (After Effects, Maya, Unreal, 3ds Max) are never started: found on PATH, their
version is read from their install folder. What the probe cannot see (or should not
offer), the operator declares (``--gpus``, ``--gpu-memory``, ``--gpu-model``, ``--cores``,
``--memory``, ``--renderer``), and the declaration wins: ``apply_declared``.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import json
import logging
import os
import platform
import re
import shutil
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from renderq.agent.config import AgentConfig
from renderq.client.units import format_size
from renderq.v1 import resources_pb2

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 8.0
"""Seconds a tool may take to print its version: the first hello waits for the probe, and
a controller gives up on a hello after 10 s. A slower tool is still listed, without version."""
GPU_PROBE_TIMEOUT = 5.0
"""Seconds nvidia-smi may take: it answers in well under one, but a driver in a bad state
can hang it, and the first hello waits for the probe."""
NVIDIA_SMI_QUERY = ("--query-gpu=index,name,memory.total", "--format=csv,noheader,nounits")
_MIB = 1024 * 1024
_BUILD_VERSION_LIMIT = 64 * 1024
"""Bytes of Unreal's Build.version read at most: it is a few hundred."""


@dataclass(frozen=True)
class RendererProbe:
    """How to find a renderer and read its version.

    With ``version_args`` the program is run and ``version`` searched in what it prints;
    without, it is never started (a licence check or a minute's start would hold up the
    hello) and ``version`` is searched in its real path, whose install folder names the
    release (``maya2024``), unless ``version_file`` reads a better one beside it."""

    name: str
    """The program, as plugins start it and declare it as their ``renderer``."""
    plugin: str
    """The plugin that runs it: an operator may declare either name."""
    version_args: tuple[str, ...] | None
    version: re.Pattern[str]
    installs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Glob patterns of its standard install places per ``platform.system()``: looked in
    only to tell the operator it is there but not on PATH, where tasks look for it."""
    version_file: Callable[[Path], str | None] | None = None


def unreal_build_version(program: Path) -> str | None:
    """The engine's MAJOR.MINOR.PATCH from ``Engine/Build/Build.version`` (JSON), which lies
    beside ``Engine/Binaries/<platform>/UnrealEditor-Cmd``; None when missing or unreadable.
    The editor has no quick ``-version``: it starts the engine."""
    engine = program.parent.parent.parent
    try:
        with (engine / "Build" / "Build.version").open("rb") as file:
            build = json.loads(file.read(_BUILD_VERSION_LIMIT))
        parts = [build["MajorVersion"], build["MinorVersion"], build["PatchVersion"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not all(isinstance(part, int) for part in parts):
        return None
    return ".".join(map(str, parts))


RENDERERS = (
    RendererProbe("blender", "blender", ("--version",), re.compile(r"^Blender (\S+)", re.MULTILINE)),
    RendererProbe("ffmpeg", "ffmpeg", ("-version",), re.compile(r"^ffmpeg version (\S+)", re.MULTILINE)),
    RendererProbe(
        "aerender",
        "aftereffects",
        None,
        re.compile(r"Adobe After Effects (?:CC )?(\d{4})"),
        {
            "Windows": ("C:/Program Files/Adobe/Adobe After Effects */Support Files/aerender.exe",),
            "Darwin": ("/Applications/Adobe After Effects */aerender",),
        },
    ),
    RendererProbe(
        "Render",
        "maya",
        None,
        re.compile(r"maya(\d{4})", re.IGNORECASE),
        {
            "Linux": ("/usr/autodesk/maya*/bin/Render",),
            "Windows": ("C:/Program Files/Autodesk/Maya*/bin/Render.exe",),
            "Darwin": ("/Applications/Autodesk/maya*/Maya.app/Contents/bin/Render",),
        },
    ),
    RendererProbe(
        "UnrealEditor-Cmd",
        "unreal",
        None,
        re.compile(r"UE_(\d+\.\d+)"),
        {"Windows": ("C:/Program Files/Epic Games/UE_*/Engine/Binaries/Win64/UnrealEditor-Cmd.exe",)},
        unreal_build_version,
    ),
    RendererProbe(
        "3dsmaxcmd",
        "3dsmax",
        None,
        re.compile(r"3ds Max (\d{4})"),
        {"Windows": ("C:/Program Files/Autodesk/3ds Max */3dsmaxcmd.exe",)},
    ),
)


async def probe_hardware(config: AgentConfig | None = None) -> resources_pb2.Hardware:
    """This node as probed, with what ``config`` declares in place of what was found (see
    ``apply_declared``). Logged in one line, found and declared, since an agent probes
    once, at start: the log then says what the controller will schedule on."""
    gpus, renderers = await asyncio.gather(
        probe_gpus(), asyncio.gather(*(_probe_renderer(probe) for probe in RENDERERS))
    )
    probed = resources_pb2.Hardware(
        hostname=socket.gethostname(),
        cpu_cores=psutil.cpu_count(logical=True) or 1,
        ram_bytes=psutil.virtual_memory().total,
        os=platform.system(),
        arch=platform.machine(),
        gpus=gpus,
        renderers=[renderer for renderer in renderers if renderer is not None],
    )
    hardware = probed if config is None else apply_declared(probed, config)
    declared = () if config is None else declared_keys(config)
    log.info("%s", hardware_line(hardware, probed, declared))
    if (
        config is not None
        and config.gpus is None
        and not probed.gpus
        and {"gpu_model", "gpu_memory"} & set(declared)
    ):
        log.warning("declared GPU model or memory applies to no GPU: declare gpus too")
    return hardware


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
        await asyncio.to_thread(_tell_if_installed, probe)
        return None
    if probe.version_args is None:
        version = await asyncio.to_thread(_version_from_install, probe, path)
    else:
        output = await _output_of([path, *probe.version_args])
        match = probe.version.search(output or "")
        version = match.group(1) if match else None
    if version is None:
        log.warning("renderer version unknown renderer=%s path=%s", probe.name, path)
    log.debug("renderer found renderer=%s version=%s path=%s", probe.name, version, path)
    return resources_pb2.Renderer(name=probe.name, version=version or "", path=path)


def _version_from_install(probe: RendererProbe, path: str) -> str | None:
    """The version a program that is not started shows where it lies: its ``version_file``,
    else its install folder in its real path (a link on PATH followed to it)."""
    real = Path(os.path.realpath(path))
    if probe.version_file is not None and (version := probe.version_file(real)) is not None:
        return version
    match = probe.version.search(real.as_posix())
    return match.group(1) if match else None


def _tell_if_installed(probe: RendererProbe) -> None:
    """Warn when a program not on PATH lies in its standard install place: tasks start
    it by name, so it is not offered, and the line says which folder PATH lacks."""
    for pattern in probe.installs.get(platform.system(), ()):
        found = sorted(glob.glob(pattern))
        if found:
            log.warning(
                "renderer installed but not on PATH, so not offered renderer=%s path=%s: "
                "add its folder to the agent's PATH",
                probe.name,
                found[-1],
            )
            return


async def probe_gpus() -> list[resources_pb2.Gpu]:
    """The NVIDIA GPUs that ``nvidia-smi`` lists; none when it is missing, fails or hangs,
    said in one log line at most (a node without GPUs is normal, a crash is not)."""
    path = shutil.which("nvidia-smi")
    if path is None:
        log.debug("no GPUs probed: nvidia-smi is not on PATH")
        return []
    ran = await _run([path, *NVIDIA_SMI_QUERY], GPU_PROBE_TIMEOUT)
    if ran is None:
        return []
    if ran.returncode != 0:
        first = next((line.strip() for line in ran.output.splitlines() if line.strip()), "")
        log.warning("no GPUs: nvidia-smi failed exit=%d output=%r", ran.returncode, first)
        return []
    gpus = parse_nvidia_smi(ran.output)
    unread = [line for line in ran.output.splitlines() if line.strip() and _gpu_of(line) is None]
    if unread:
        log.warning("nvidia-smi lines not understood count=%d first=%r", len(unread), unread[0])
    return gpus


def parse_nvidia_smi(output: str) -> list[resources_pb2.Gpu]:
    """The GPUs in ``--query-gpu=index,name,memory.total --format=csv,noheader,nounits``
    output: lines like ``0, NVIDIA GeForce RTX 4090, 24564`` (memory in MiB). Lines
    that are not such a line (an error message) are left out."""
    return [gpu for gpu in map(_gpu_of, output.splitlines()) if gpu is not None]


def _gpu_of(line: str) -> resources_pb2.Gpu | None:
    """One GPU line, or None. The name is what lies between the first and the last comma,
    so a name with a comma still reads. A field the GPU cannot report (``[N/A]``,
    ``[Not Supported]``) is unknown, not a reason to lose the GPU: an empty model, 0 bytes."""
    index, _, rest = line.partition(",")
    name, _, memory = rest.rpartition(",")
    if not index.strip().isdigit() or not name:
        return None
    memory = memory.strip()
    if memory.isdigit():
        memory_bytes = int(memory) * _MIB
    elif memory.startswith("[") and memory.endswith("]"):
        memory_bytes = 0
    else:
        return None
    model = name.strip()
    model = "" if model.startswith("[") and model.endswith("]") else model
    return resources_pb2.Gpu(index=int(index), model=model, memory_bytes=memory_bytes)


DECLARABLE = ("cores", "memory", "gpus", "gpu_model", "gpu_memory", "renderers")
"""The AgentConfig fields that stand in for what the probe found."""


def declared_keys(config: AgentConfig) -> tuple[str, ...]:
    """The hardware settings ``config`` declares, in DECLARABLE's order."""
    return tuple(key for key in DECLARABLE if getattr(config, key) not in (None, ()))


def apply_declared(probed: resources_pb2.Hardware, config: AgentConfig) -> resources_pb2.Hardware:
    """``probed`` with what ``config`` declares in its place: the operator knows better
    (a GPU the probe cannot see, cores kept for other work), and tests give agents on one
    machine different hardware this way. ``gpus`` N reports GPUs 0..N-1 (0 hides them),
    each with the declared model and memory, else those of the probed GPU of that index
    (or the first), else "declared" and 0. Without ``gpus``, a declared model or memory
    applies to each probed GPU. A declared renderer replaces the probed one of its name
    (keeping its path) or is added, with no path."""
    hardware = resources_pb2.Hardware()
    hardware.CopyFrom(probed)
    if config.cores is not None:
        hardware.cpu_cores = config.cores
    memory = config.memory_bytes
    if memory is not None:
        hardware.ram_bytes = memory
    del hardware.gpus[:]
    hardware.gpus.extend(_declared_gpus(list(probed.gpus), config))
    del hardware.renderers[:]
    hardware.renderers.extend(_declared_renderers(list(probed.renderers), config))
    return hardware


def _declared_renderers(
    probed: list[resources_pb2.Renderer], config: AgentConfig
) -> list[resources_pb2.Renderer]:
    """The probed renderers with the declared ones over them, a plugin's name (maya)
    standing for its program (Render), the name the controller matches jobs on."""
    programs = {probe.plugin: probe.name for probe in RENDERERS}
    renderers = {renderer.name: renderer for renderer in probed}
    for name, version in config.declared_renderers:
        program = programs.get(name, name)
        path = renderers[program].path if program in renderers else ""
        renderers[program] = resources_pb2.Renderer(name=program, version=version, path=path)
    return list(renderers.values())


def _declared_gpus(probed: list[resources_pb2.Gpu], config: AgentConfig) -> list[resources_pb2.Gpu]:
    indices = [gpu.index for gpu in probed] if config.gpus is None else list(range(config.gpus))
    memory = config.gpu_memory_bytes
    gpus = []
    for position, index in enumerate(indices):
        found = probed[position] if position < len(probed) else probed[0] if probed else None
        gpus.append(
            resources_pb2.Gpu(
                index=index,
                model=config.gpu_model or (found.model if found else "declared"),
                memory_bytes=memory if memory is not None else found.memory_bytes if found else 0,
            )
        )
    return gpus


_REPLACES = {
    "cores": "cores",
    "memory": "ram",
    "gpus": "gpus",
    "gpu_model": "gpus",
    "gpu_memory": "gpus",
    "renderers": "renderers",
}
"""The log line's fact each declarable setting stands in for."""


def hardware_line(
    hardware: resources_pb2.Hardware, probed: resources_pb2.Hardware, declared: tuple[str, ...]
) -> str:
    """The start's log line: what is reported, what was declared and what the probe found
    in its place (``probed_gpus=...``), so a surprising schedule can be traced to the setting."""
    reported, found = _facts(hardware), _facts(probed)
    replaced = dict.fromkeys(_REPLACES[key] for key in declared)
    pairs = [
        *(f"{name}={value}" for name, value in reported.items()),
        f"declared={','.join(declared) or 'none'}",
        *(f"probed_{name}={found[name]}" for name in replaced),
    ]
    return "hardware " + " ".join(pairs)


def _facts(hardware: resources_pb2.Hardware) -> dict[str, str]:
    """cores, ram, renderers and gpus as a log line shows them, quoted where they hold spaces."""
    gpus = ",".join(f"{g.index}:{g.model}({format_size(g.memory_bytes)})" for g in hardware.gpus)
    renderers = ",".join(f"{r.name}:{r.version or '?'}" for r in hardware.renderers)
    facts = {
        "cores": str(hardware.cpu_cores),
        "ram": format_size(hardware.ram_bytes),
        "renderers": renderers or "none",
        "gpus": gpus or "none",
    }
    return {name: repr(value) if " " in value else value for name, value in facts.items()}


@dataclass(frozen=True)
class _Ran:
    """A tool that ran to its end."""

    returncode: int
    output: str
    """Its stdout and stderr, merged."""


async def _output_of(argv: list[str]) -> str | None:
    """The tool's merged output, or None when it cannot run or takes too long."""
    ran = await _run(argv, PROBE_TIMEOUT)
    return None if ran is None else ran.output


async def _run(argv: list[str], seconds: float) -> _Ran | None:
    """The tool run to its end, or None (logged) when it cannot start or outlives ``seconds``,
    then killed: a hung driver tool must not hold up the hello."""
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
        async with asyncio.timeout(seconds):
            stdout, _ = await proc.communicate()
    except TimeoutError:
        log.warning("probe timed out command=%s seconds=%s", argv[0], seconds)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        return None
    return _Ran(proc.returncode if proc.returncode is not None else -1, stdout.decode(errors="replace"))
