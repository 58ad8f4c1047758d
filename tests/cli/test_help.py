"""Help that tells the truth: real plugin names, their parameters, units, exit codes."""

from __future__ import annotations

import re

import pytest

from renderq.cli.main import build_parser
from renderq.cli.plugin_help import plugin_names
from renderq.plugins.registry import all_plugins

from .conftest import CliRunner


def help_of(cli: CliRunner, *argv: str) -> str:
    result = cli(*argv, "--help", controller=False)
    assert result.code == 0, result.err
    return " ".join(result.out.split())  # argparse wraps lines where it likes


def test_submit_names_the_plugins_there_are(cli: CliRunner) -> None:
    text = help_of(cli, "submit")
    assert f"renderer plugin: {plugin_names()} (`renderq plugins` lists the farm's)" in text
    assert "no-such-renderer" not in text


def test_submit_plugin_help_lists_its_parameters(cli: CliRunner) -> None:
    text = help_of(cli, "submit", "blender")
    assert "parameters of blender (--param NAME=VALUE; * required):" in text
    for name in ("scene*", "output", "format", "engine", "samples", "threads"):
        assert re.search(rf"\b{re.escape(name)} ", text), name
    assert "PNG, OPEN_EXR, JPEG" in text
    assert '"{renders}/frame_####"' in text, "defaults are shown as the JSON --param takes"


def test_submit_help_for_an_unknown_plugin_says_so(cli: CliRunner) -> None:
    assert f"There is no plugin 'no-such-renderer' in this renderq (it has {plugin_names()})" in help_of(
        cli, "submit", "no-such-renderer"
    )


@pytest.mark.parametrize(
    ("verb", "flag", "unit"),
    [
        ("agent", "--cost-per-hour", "in the farm's currency per hour"),
        ("agent", "--heartbeat-interval", "seconds between the heartbeats"),
        ("agent", "--kill-grace", "seconds between SIGTERM and SIGKILL"),
        ("controller", "--agent-timeout", "seconds of silence"),
        ("submit", "--timeout", "SECONDS"),
        ("wait", "--timeout", "SECONDS"),
    ],
)
def test_every_quantity_has_its_unit(cli: CliRunner, verb: str, flag: str, unit: str) -> None:
    options = help_of(cli, verb).split("options:")[1]
    described = options.split(f" {flag} ")[1].split(" --")[0]
    assert unit in described, f"{flag} of {verb}: {described}"


def test_tui_does_not_offer_json(cli: CliRunner) -> None:
    text = help_of(cli, "tui")
    assert "--json" not in text
    assert "--controller" in text and "--data-dir" in text


def test_renderq_help_lists_every_exit_code(cli: CliRunner) -> None:
    result = cli("--help", controller=False)
    codes = re.findall(r"^  (\d+)\s", result.out.split("exit codes:")[1], re.MULTILINE)
    assert codes == ["0", "1", "2", "3", "4", "5", "6", "124", "130"]


def test_no_help_offers_to_send_files_with_a_job(cli: CliRunner) -> None:
    """Until a job can carry files, nothing may suggest it can."""
    verbs = next(a for a in build_parser()._actions if a.dest == "verb").choices
    assert isinstance(verbs, dict)
    texts = [help_of(cli, verb) for verb in verbs if verb != "token"]
    texts += [p.help for plugin in all_plugins() for p in plugin.parameters]
    for text in texts:
        assert not re.search(r"(send|sent) (it |them )?with the job|files sent", text), text
