"""Third-party plugins through the entry point group ``renderq.plugins``: a distribution
made here on sys.path adds a plugin with its origin; the ones that cannot be used are
reported in words, and the rest of the farm's plugins load all the same."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from renderq.plugins.registry import (
    BUILT_IN,
    BrokenPlugin,
    all_plugins,
    broken_plugins,
    forget_loaded_plugins,
    get_plugin,
    log_broken_plugins,
    origin_of,
)

MODULE = "renderq_stamp_plugin"
BROKEN_MODULE = "renderq_stamp_broken"
DISTRIBUTION = "renderq-stamp 1.0"
STAMP_ORIGIN = f"{DISTRIBUTION} ({MODULE}:StampPlugin)"

_PLUGIN_SOURCE = '''
"""A third-party plugin: each frame writes a text file, and says so in its output."""

from renderq.plugins.base import CommandSpec, FrameSaved, OutputParser, Parameter, ParamType, Plugin

WRITE = (
    "import sys; open(sys.argv[2], 'w').write(sys.argv[3]); "
    "print('stamped', sys.argv[1], sys.argv[2], flush=True)"
)


class StampParser(OutputParser):
    """A frame is done only when its line says so: proof that the agent used this plugin."""

    completes_on_exit = False

    def feed(self, line):
        words = line.split()
        if len(words) == 3 and words[0] == "stamped":
            return [FrameSaved(words[2], int(words[1]))]
        return []


class StampPlugin(Plugin):
    name = "stamp"
    description = "Write each frame's text into a file."
    parameters = (Parameter("text", ParamType.STRING, "what each frame's file says", required=True),)

    def build_commands(self, params, frames):
        return [
            CommandSpec(["{python}", "-c", WRITE, str(f), f"stamp_{f:04d}.txt", params["text"]], [f])
            for f in frames
        ]

    def output_parser(self):
        return StampParser()


class Shout(StampPlugin):
    name = "shout"


SHOUT = Shout()
NOT_A_PLUGIN = "a string"


class Nameless(StampPlugin):
    name = "Stamp It!"


class Blender(StampPlugin):
    name = "blender"
'''

_ENTRY_POINTS = f"""[renderq.plugins]
stamp = {MODULE}:StampPlugin
again = {MODULE}:StampPlugin
shout = {MODULE}:SHOUT
missing = {BROKEN_MODULE}:Plugin
string = {MODULE}:NOT_A_PLUGIN
nameless = {MODULE}:Nameless
blender = {MODULE}:Blender
"""

EXPECTED_BROKEN = ["again", "missing", "string", "nameless", "blender"]
"""The entry points above that must be left out, in their order."""


def write_plugin_package(folder: Path) -> Path:
    """The distribution ``renderq-stamp 1.0`` installed into ``folder`` (made here), as pip
    would: its modules and a dist-info with the entry points above. Put ``folder`` on
    sys.path or PYTHONPATH to install it; returns ``folder``."""
    folder.mkdir(parents=True)
    (folder / f"{MODULE}.py").write_text(_PLUGIN_SOURCE)
    (folder / f"{BROKEN_MODULE}.py").write_text('raise ImportError("the houdini module is not installed")\n')
    info = folder / "renderq_stamp-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: renderq-stamp\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(_ENTRY_POINTS)
    return folder


@pytest.fixture(autouse=True)
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The package on sys.path, the registry loading afresh; both undone afterwards, so that
    no other test sees the plugin."""
    monkeypatch.syspath_prepend(str(write_plugin_package(tmp_path / "site")))
    forget_loaded_plugins()
    yield
    forget_loaded_plugins()
    for name in (MODULE, BROKEN_MODULE):
        sys.modules.pop(name, None)


def test_an_installed_plugin_is_loaded_with_the_distribution_it_came_from() -> None:
    stamp = get_plugin("stamp")
    assert stamp is not None and stamp is get_plugin("stamp"), "one instance, loaded once"
    assert stamp.build_commands({"text": "hi"}, [3])[0].argv[-2:] == ["stamp_0003.txt", "hi"]
    assert origin_of("stamp") == STAMP_ORIGIN
    assert origin_of("shout") == f"{DISTRIBUTION} ({MODULE}:SHOUT)", "an instance is taken as it is"
    assert origin_of("demo") == "built in"
    assert [p.name for p in all_plugins()] == sorted([*(p.name for p in BUILT_IN), "shout", "stamp"])


def test_plugins_that_cannot_be_used_are_reported_in_words_and_the_others_still_load() -> None:
    broken = {b.name: b for b in broken_plugins()}
    assert list(broken) == EXPECTED_BROKEN
    assert broken["missing"] == BrokenPlugin(
        "missing",
        f"{DISTRIBUTION} ({BROKEN_MODULE}:Plugin)",
        "could not be loaded: ImportError: the houdini module is not installed",
    )
    assert broken["string"].error == "it is a str, not a renderq Plugin subclass or instance"
    assert broken["nameless"].error.startswith("its name 'Stamp It!' is not a lowercase word (a-z,")
    assert broken["blender"].error == "its name 'blender' is taken by the built-in one"
    assert get_plugin("blender") in BUILT_IN, "a clash never replaces the plugin that was there"
    assert get_plugin("stamp") is not None and get_plugin("missing") is None
    with pytest.raises(KeyError):
        origin_of("missing")


def test_of_two_third_party_plugins_of_one_name_the_first_found_is_kept() -> None:
    (again,) = (b for b in broken_plugins() if b.name == "again")
    assert again.error == f"its name 'stamp' is taken by the one from {STAMP_ORIGIN}"
    assert origin_of("stamp") == STAMP_ORIGIN


def test_each_broken_plugin_is_one_warning_in_the_log_and_loading_logs_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="renderq.plugins.registry")
    all_plugins()
    assert caplog.records == [], "the CLI loads plugins for its help and must print no log lines"
    log_broken_plugins()
    assert [r.levelno for r in caplog.records] == [logging.WARNING] * len(EXPECTED_BROKEN)
    missing = caplog.records[EXPECTED_BROKEN.index("missing")].getMessage()
    assert "name=missing" in missing and "ImportError: the houdini module is not installed" in missing
