"""Tokens and the audit log from the command line, against real processes."""

from __future__ import annotations

from collections.abc import Callable

from .conftest import Farm


def test_an_operator_token_submits_a_viewer_token_cannot_and_the_audit_shows_who(
    farm_factory: Callable[[], Farm],
) -> None:
    farm: Farm = farm_factory()
    farm.start_controller()
    made = farm.cli.json("token create", "comp-script", "--role", "operator")
    operator = made["secret"]
    assert made["token"]["role"] == "operator"
    viewer = farm.cli.json("token create", "wall-display")["secret"]

    job = farm.cli.json("submit", "command", "--token", operator, "--frames", "1", "--", "true")
    assert farm.cli.json("whoami", "--token", viewer)["name"] == "wall-display"

    denied = farm.cli.run("cancel", "--token", viewer, str(job["id"]), check=False)
    assert denied.returncode != 0
    assert "CancelJob needs the operator role" in denied.stderr
    assert "Traceback" not in denied.stderr

    unknown = farm.cli.run("jobs", "--token", "rqt_forged", check=False)
    assert unknown.returncode != 0 and "unknown or revoked" in unknown.stderr

    audit = farm.cli.run("audit").stdout
    lines = audit.splitlines()
    assert "CancelJob" in lines[1] and "wall-display (viewer)" in lines[1] and "PERMISSION_DENIED" in lines[1]
    assert "CreateJob" in lines[2] and "comp-script (operator)" in lines[2] and f"job {job['id']}" in lines[2]

    listed = farm.cli.run("token list").stdout
    assert "local-admin" in listed and "comp-script" in listed and operator not in listed
