"""The servers' settings: defaults < /etc file < user file < environment < flags, every
old flag and variable still working, and one sentence for every mistake."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from renderq import settings
from renderq.agent.config import SCHEMA as AGENT
from renderq.agent.config import AgentConfig
from renderq.controller.config import SCHEMA as CONTROLLER
from renderq.controller.config import ControllerConfig

DEADLINE = 30.0


class Place:
    """Where one test's servers look for their files, and the variables they see."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.system = tmp_path / "etc"
        self.user = tmp_path / "home-config"
        self.environ: dict[str, str] = {"XDG_CONFIG_HOME": str(self.user)}
        monkeypatch.setattr(settings, "SYSTEM_DIR", self.system)

    def write(self, where: Path, name: str, text: str) -> Path:
        path = where / "renderq" / name if where == self.user else where / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def load(self, schema: settings.Schema[Any], *flags: str) -> settings.Loaded[Any]:
        parser = argparse.ArgumentParser(prog=f"renderq {schema.server}", exit_on_error=False)
        settings.add_flags(parser, schema)
        return settings.load(schema, parser.parse_args(flags), self.environ)


@pytest.fixture
def place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Place:
    return Place(tmp_path, monkeypatch)


def test_nothing_given_is_the_dataclass_defaults(place: Place) -> None:
    for schema in (AGENT, CONTROLLER):
        loaded = place.load(schema)
        assert loaded.config == schema.cls()
        assert loaded.files == ()
        assert {str(origin) for origin in loaded.origins.values()} == {"default"}


def test_agent_file_then_user_file_then_environment_then_flag(place: Place) -> None:
    system = place.write(
        place.system, "agent.toml", 'slots = 2\nkill_grace = 3\npool = "farm"\ntags = ["a"]\n'
    )
    user = place.write(place.user, "agent.toml", "slots = 3\nkill_grace = 4\ntags = []\n")
    place.environ |= {"RENDERQ_AGENT_SLOTS": "4", "RENDERQ_AGENT_TAGS": "gpu, fast"}
    loaded = place.load(AGENT, "--slots", "5")
    config: AgentConfig = loaded.config
    assert (config.pool, config.kill_grace, config.tags, config.slots) == ("farm", 4.0, ("gpu", "fast"), 5)
    assert loaded.files == (system, user)
    assert str(loaded.origins["pool"]) == f"file {system}"
    assert str(loaded.origins["kill_grace"]) == f"file {user}"
    assert str(loaded.origins["tags"]) == "environment RENDERQ_AGENT_TAGS"
    assert str(loaded.origins["slots"]) == "flag --slots"
    assert str(loaded.origins["listen"]) == "default"


def test_controller_file_then_environment_then_flag(place: Place) -> None:
    user = place.write(
        place.user, "controller.toml", 'agent_timeout = 30\nagent = ["n1:7421"]\nmdns = false\n'
    )
    place.environ |= {"RENDERQ_CONTROLLER_AGENT_TIMEOUT": "45.5", "RENDERQ_CONTROLLER_MDNS": "true"}
    loaded = place.load(CONTROLLER, "--agent", "n2:7421", "--agent", "n3:7421,n4:7421", "--no-mdns")
    config: ControllerConfig = loaded.config
    assert config.agent_timeout == 45.5
    assert config.agents == ("n2:7421", "n3:7421", "n4:7421"), "a flag's list replaces the file's"
    assert config.mdns is False
    assert str(loaded.origins["agent_timeout"]) == "environment RENDERQ_CONTROLLER_AGENT_TIMEOUT"
    assert str(loaded.origins["agent"]) == "flag --agent"
    assert str(loaded.origins["mdns"]) == "flag --no-mdns"
    assert place.load(CONTROLLER).origins["agent"] == settings.Origin("file", str(user))


def test_an_explicit_config_file_replaces_the_search(place: Place, tmp_path: Path) -> None:
    place.write(place.system, "agent.toml", "slots = 2\n")
    place.write(place.user, "agent.toml", "kill_grace = 4\n")
    explicit = tmp_path / "service.toml"
    explicit.write_text("pool = 'render'\n")
    loaded = place.load(AGENT, "--config", str(explicit))
    assert loaded.files == (explicit,)
    assert (loaded.config.slots, loaded.config.kill_grace, loaded.config.pool) == (1, 10.0, "render")


def test_every_existing_agent_flag_keeps_its_spelling(place: Place, tmp_path: Path) -> None:
    config: AgentConfig = place.load(
        AGENT,
        "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path), "--slots", "3", "--pool", "gpu",
        "--tags", "gpu,fast", "--cost-per-hour", "1.5", "--no-mdns", "--advertise-address", "10.0.0.7",
        "--heartbeat-interval", "0.5", "--kill-grace", "2", "--allow-plugin", "blender",
        "--allow-plugin", "command", "--allow-executable", "/usr/bin/ffmpeg", "--join", "rqk_x",
        "--run-as", "render", "--tls", str(tmp_path / "tls"), "--metrics-listen", "127.0.0.1:9100",
        "--log-level", "debug", "--log-format", "JSON",
    ).config  # fmt: skip
    assert config == AgentConfig(
        listen="127.0.0.1:0", data_dir=tmp_path, slots=3, pool="gpu", tags=("gpu", "fast"),
        cost_per_hour=1.5, mdns=False, advertise_address="10.0.0.7", heartbeat_interval=0.5,
        kill_grace=2.0, allowed_plugins=("blender", "command"), allowed_executables=("/usr/bin/ffmpeg",),
        join="rqk_x", run_as="render", tls_dir=tmp_path / "tls", metrics_listen="127.0.0.1:9100",
        log_level="DEBUG", log_format="json",
    )  # fmt: skip


def test_every_existing_controller_flag_keeps_its_spelling(place: Place, tmp_path: Path) -> None:
    config: ControllerConfig = place.load(
        CONTROLLER,
        "--listen", "0.0.0.0:7500", "--data-dir", str(tmp_path), "--db", str(tmp_path / "f.duckdb"),
        "--agent", "n1:7421", "--no-mdns", "--agent-timeout", "600", "--tls", str(tmp_path / "tls"),
        "--metrics-listen", "127.0.0.1:9100", "--log-level", "WARNING",
    ).config  # fmt: skip
    assert config == ControllerConfig(
        listen="0.0.0.0:7500", data_dir=tmp_path, db=tmp_path / "f.duckdb", agents=("n1:7421",), mdns=False,
        agent_timeout=600.0, tls_dir=tmp_path / "tls", metrics_listen="127.0.0.1:9100", log_level="WARNING",
    )  # fmt: skip


def test_every_flag_is_a_key_of_the_same_name(place: Place) -> None:
    agent_file = place.write(
        place.user,
        "agent.toml",
        'allow_plugin = ["blender"]\nallow_executable = ["ffmpeg"]\ntls = "/srv/tls"\nmdns = false\n'
        'log_format = "json"\nheartbeat_interval = 1\n',
    )
    config: AgentConfig = place.load(AGENT).config
    assert config.allowed_plugins == ("blender",) and config.allowed_executables == ("ffmpeg",)
    assert (config.tls_dir, config.mdns, config.log_format) == (Path("/srv/tls"), False, "json")
    assert config.heartbeat_interval == 1.0 and isinstance(config.heartbeat_interval, float)
    assert place.load(AGENT).origins["tls"] == settings.Origin("file", str(agent_file))
    flags = {s.flag for s in AGENT.settings} | {s.flag for s in CONTROLLER.settings}
    assert {"--allow-plugin", "--allow-executable", "--agent", "--tls", "--data-dir", "--db"} <= flags


def test_the_older_variables_still_work(place: Place, tmp_path: Path) -> None:
    place.environ |= {
        "RENDERQ_RUN_AS": "render",
        "RENDERQ_JOIN_TOKEN": "rqk_secret",
        "RENDERQ_TLS": str(tmp_path / "tls"),
        "RENDERQ_DATA_DIR": str(tmp_path / "ctl"),
    }
    agent: AgentConfig = place.load(AGENT).config
    assert (agent.run_as, agent.join, agent.tls_dir) == ("render", "rqk_secret", tmp_path / "tls")
    assert agent.data_dir == AgentConfig().data_dir, "RENDERQ_DATA_DIR is the controller's folder"
    controller = place.load(CONTROLLER)
    assert controller.config.data_dir == tmp_path / "ctl"
    assert str(controller.origins["data_dir"]) == "environment RENDERQ_DATA_DIR"
    place.environ["RENDERQ_CONTROLLER_DATA_DIR"] = str(tmp_path / "own")
    assert place.load(CONTROLLER).config.data_dir == tmp_path / "own", "the server's own name comes first"


def test_an_empty_variable_is_unset(place: Place) -> None:
    place.environ |= {"RENDERQ_RUN_AS": "", "RENDERQ_AGENT_SLOTS": ""}
    loaded = place.load(AGENT)
    assert (loaded.config.run_as, loaded.config.slots) == (None, 1)


@pytest.mark.parametrize(
    ("schema", "text", "sentence"),
    [
        (
            AGENT,
            "slot = 2\n",
            "unknown key 'slot' (did you mean slots?); the agent's keys are advertise_address, ",
        ),
        (CONTROLLER, "agent-timeout = 5\n", "unknown key 'agent-timeout' (did you mean agent_timeout?)"),
        (CONTROLLER, "[controller]\nmdns = false\n", "unknown key 'controller'; the controller's keys are "),
        (AGENT, 'slots = "2"\n', 'slots must be a whole number of 1 or more, not "2"'),
        (AGENT, "slots = 0\n", "slots must be a whole number of 1 or more, not 0"),
        (AGENT, "kill_grace = true\n", "kill_grace must be a number of 0 or more, not true"),
        (AGENT, 'tags = "gpu"\n', 'tags must be a list of strings such as ["a", "b"], not "gpu"'),
        (AGENT, "tags = [1]\n", 'tags must be a list of strings such as ["a", "b"], not [1]'),
        (AGENT, "join = 12345\n", "join must be a string, not ***"),
        (CONTROLLER, 'mdns = "no"\n', 'mdns must be true or false, not "no"'),
        (CONTROLLER, 'log_format = "xml"\n', 'log_format must be one of text, json, not "xml"'),
        (CONTROLLER, "db = 5\n", "db must be a path, not 5"),
        (CONTROLLER, "listen = \n", "not valid TOML (Invalid value (at line 1, column 10))"),
    ],
)
def test_a_bad_file_names_itself_the_key_and_what_is_allowed(
    place: Place, schema: settings.Schema[Any], text: str, sentence: str
) -> None:
    path = place.write(place.system, f"{schema.server}.toml", text)
    with pytest.raises(settings.SettingsError) as error:
        place.load(schema)
    assert str(error.value).startswith(f"{path}: {sentence}")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("schema", "variable", "value", "sentence"),
    [
        (
            AGENT,
            "RENDERQ_AGENT_SLOTS",
            "two",
            "RENDERQ_AGENT_SLOTS=two: slots must be a whole number of 1 or more",
        ),
        (AGENT, "RENDERQ_AGENT_MDNS", "maybe", "RENDERQ_AGENT_MDNS=maybe: mdns must be true or false"),
        (
            CONTROLLER,
            "RENDERQ_CONTROLLER_AGENT_TIMEOUT",
            "nan",
            "agent_timeout must be a number of 0 or more",
        ),
        (CONTROLLER, "RENDERQ_CONTROLLER_LOG_LEVEL", "loud", "log_level must be one of DEBUG, INFO, WARNING"),
    ],
)
def test_a_bad_variable_names_itself_the_key_and_what_is_allowed(
    place: Place, schema: settings.Schema[Any], variable: str, value: str, sentence: str
) -> None:
    place.environ[variable] = value
    with pytest.raises(settings.SettingsError, match=sentence):
        place.load(schema)


def test_a_bad_flag_is_refused_by_the_parser(place: Place) -> None:
    with pytest.raises(argparse.ArgumentError, match="must be a whole number of 1 or more, not '0'"):
        place.load(AGENT, "--slots", "0")
    with pytest.raises(argparse.ArgumentError, match=r"must be one of text, json, not 'xml'"):
        place.load(CONTROLLER, "--log-format", "xml")


def test_a_missing_explicit_file_is_an_error(place: Place, tmp_path: Path) -> None:
    with pytest.raises(settings.SettingsError, match=f"^{tmp_path / 'nope.toml'}: no such file$"):
        place.load(CONTROLLER, "--config", str(tmp_path / "nope.toml"))


def test_every_setting_has_help_a_variable_and_a_flag() -> None:
    for schema in (AGENT, CONTROLLER):
        for setting in schema.settings:
            assert setting.help, setting.key
            assert setting.variables[0] == f"RENDERQ_{schema.server.upper()}_{setting.key.upper()}"
    assert [s.key for s in AGENT.settings][:2] == ["listen", "data_dir"], "the server's own settings first"
    assert [s.key for s in AGENT.settings][-3:] == ["log_level", "log_format", "metrics_listen"]


@pytest.mark.parametrize(
    ("server", "text", "sentence"),
    [
        ("agent", "slots = 'many'\n", "slots must be a whole number of 1 or more"),
        ("controller", "agents = ['n1:7421']\n", "unknown key 'agents' (did you mean agent?)"),
    ],
)
def test_a_server_with_a_bad_file_refuses_to_start_in_one_sentence(
    tmp_path: Path, server: str, text: str, sentence: str
) -> None:
    path = tmp_path / f"{server}.toml"
    path.write_text(text)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "renderq",
            server,
            "--config",
            str(path),
            "--data-dir",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith(f"renderq: {server} settings: {path}: {sentence}")
    assert done.stderr.count("\n") == 1, done.stderr
    assert not (tmp_path / "data").exists(), "nothing started"
