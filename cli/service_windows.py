"""Windows: the ``sc.exe`` command lines that make the service, printed for an elevated
Command Prompt on the node; renderq runs none of them.

sc.exe wants a space after every ``name=``, and the whole command line of the service as
one argument: the interpreter's path in quotes inside it (an unquoted path with a space
is the classic way another program gets started instead), then the flags, quoted the way
Windows programs split their command line.
"""

from __future__ import annotations

import subprocess

from renderq.cli.service_spec import Service, join_variable
from renderq.cli.service_steps import Plan

RESET_AFTER_S = 86400
"""sc.exe failure: the failure count starts again after a day without one."""
RESTART_DELAYS_MS = (5000, 30000, 60000)
"""Restart after 5 s, then 30 s, then every minute: a back-off."""

SERVICE_MANAGER_NOTE = (
    "python.exe does not answer the Windows service control manager itself: expect error 1053 "
    "('did not respond in a timely fashion') and no log; until renderq has a Windows service entry "
    "point, give the same command line to a service wrapper (WinSW, NSSM), which also keeps its output."
)


def command_line(argv: tuple[str, ...]) -> str:
    """The service's command line: the interpreter always in quotes, the rest as Windows splits it."""
    return f'"{argv[0]}" {subprocess.list2cmdline(argv[1:])}'


def install(service: Service) -> Plan:
    name = service.name
    actions = "/".join(f"restart/{delay}" for delay in RESTART_DELAYS_MS)
    lines = [
        f"sc.exe create {name} binPath= {subprocess.list2cmdline([command_line(service.argv)])} start= auto",
        f"sc.exe failure {name} reset= {RESET_AFTER_S} actions= {actions}",
        f"sc.exe start {name}",
    ]
    notes = [
        "Run these in an elevated Command Prompt (cmd.exe) on the Windows machine: renderq runs none.",
        SERVICE_MANAGER_NOTE,
    ]
    if service.join_key() is not None:
        once = (
            service.argv[0],
            "-m",
            "renderq",
            "agent",
            "--data-dir",
            service.data_dir,
            "--listen",
            "127.0.0.1:0",
        )
        notes.append(
            "The join token is kept out of the service's command line (the registry shows it to every "
            f"user): before `sc.exe start`, set {join_variable()} to it in that Command Prompt, "
            "and run "
            f"{command_line(once)} once, until it says it is listening (then Ctrl-C): the agent keeps the "
            "farm key in its data folder."
        )
    return Plan((), preview="\n".join(lines) + "\n", notes=tuple(notes))


def uninstall(kind: str) -> Plan:
    name = f"renderq-{kind}"
    return Plan(
        (),
        preview=f"sc.exe stop {name}\nsc.exe delete {name}\n",
        notes=(
            "Run these in an elevated Command Prompt (cmd.exe) on the Windows machine; "
            "the service's data folder is kept.",
        ),
    )
