"""``renderq config show agent|controller``: the effective settings, where each came from,
as a table or as JSON, with the join token hidden."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from renderq import settings

from .conftest import CliRunner


@pytest.fixture(autouse=True)
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Files come from this test's folders only, and no server variable leaks in."""
    monkeypatch.setattr(settings, "SYSTEM_DIR", tmp_path / "etc")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    for name in ("RENDERQ_DATA_DIR", "RENDERQ_TLS", "RENDERQ_RUN_AS", "RENDERQ_JOIN_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    folder = tmp_path / "config" / "renderq"
    folder.mkdir(parents=True)
    return folder


def rows(out: str) -> dict[str, list[str]]:
    """The table's rows by key: [value, from], cut where the header's columns start."""
    header, *lines = out.splitlines()[1:]
    assert header.split() == ["KEY", "VALUE", "FROM"]
    value, origin = header.index("VALUE"), header.index("FROM")
    return {line[:value].strip(): [line[value:origin].strip(), line[origin:].strip()] for line in lines}


def test_show_agent_says_where_each_value_came_from(
    cli: CliRunner, config_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (config_home / "agent.toml").write_text('slots = 4\ntags = ["gpu", "fast"]\npool = "lighting"\n')
    monkeypatch.setenv("RENDERQ_AGENT_SLOTS", "6")
    monkeypatch.setenv("RENDERQ_JOIN_TOKEN", "rqk_secret")
    result = cli("config", "show", "agent", "--kill-grace", "3", controller=False)
    assert result.code == 0, result.err
    assert result.lines[0] == f"agent settings; files read: {config_home / 'agent.toml'}"
    table = rows(result.out)
    assert table["pool"] == ["lighting", f"file {config_home / 'agent.toml'}"]
    assert table["tags"] == ['["gpu", "fast"]', f"file {config_home / 'agent.toml'}"]
    assert table["slots"] == ["6", "environment RENDERQ_AGENT_SLOTS"]
    assert table["kill_grace"] == ["3.0", "flag --kill-grace"]
    assert table["join"] == ["***", "environment RENDERQ_JOIN_TOKEN"]
    assert table["data_dir"] == [str(tmp_path / "data" / "renderq" / "agent"), "default"]
    assert table["run_as"] == ["(none)", "default"]
    assert "rqk_secret" not in result.out


def test_show_without_files_says_where_it_looked(cli: CliRunner, config_home: Path, tmp_path: Path) -> None:
    result = cli("config", "show", "controller", controller=False)
    assert result.code == 0, result.err
    looked = f"{tmp_path / 'etc' / 'controller.toml'} and {config_home / 'controller.toml'}"
    assert result.lines[0] == f"controller settings; no file read (looked for {looked})"
    assert rows(result.out)["agent_timeout"] == ["10.0", "default"]


def test_show_json_is_one_object_with_value_source_and_where(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    explicit = tmp_path / "controller.toml"
    explicit.write_text('agent = ["n1:7421", "n2:7421"]\nlog_format = "json"\n')
    monkeypatch.setenv("RENDERQ_DATA_DIR", str(tmp_path / "farm"))
    result = cli(
        "config", "show", "controller", "--config", str(explicit), "--no-mdns", "--json", controller=False
    )
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["server"] == "controller" and document["files"] == [str(explicit)]
    shown = document["settings"]
    assert shown["agent"] == {"source": "file", "value": ["n1:7421", "n2:7421"], "where": str(explicit)}
    assert shown["data_dir"] == {
        "source": "environment",
        "value": str(tmp_path / "farm"),
        "where": "RENDERQ_DATA_DIR",
    }
    assert shown["mdns"] == {"source": "flag", "value": False, "where": "--no-mdns"}
    assert shown["agent_timeout"] == {"source": "default", "value": 10.0, "where": None}
    assert shown["db"]["value"] is None and shown["tls"]["value"] is None
    assert set(shown) == {
        "listen", "data_dir", "db", "agent", "mdns", "agent_timeout", "log_retention", "tls",
        "log_level", "log_format", "metrics_listen", "s3_endpoint", "s3_region", "s3_access_key_id",
        "s3_secret_access_key",
    }  # fmt: skip


def test_show_json_hides_the_join_token(cli: CliRunner, config_home: Path) -> None:
    (config_home / "agent.toml").write_text('join = "rqk_from_the_file"\n')
    result = cli("config", "show", "agent", "--json", controller=False)
    assert json.loads(result.out)["settings"]["join"]["value"] == "***"
    assert "rqk_from_the_file" not in result.out


def test_a_bad_file_is_one_sentence_and_exit_code_2(cli: CliRunner, config_home: Path) -> None:
    (config_home / "agent.toml").write_text("slots = 2.5\n")
    result = cli("config", "show", "agent", controller=False)
    assert result.code == 2
    assert result.err == (
        f"renderq: agent settings: {config_home / 'agent.toml'}: slots must be a whole number of 1 or more, "
        "not 2.5\n"
    )
    assert result.out == ""


def test_a_bad_file_under_json_is_the_json_error(cli: CliRunner, config_home: Path) -> None:
    (config_home / "controller.toml").write_text("colour = 'blue'\n")
    result = cli("config", "show", "controller", "--json", controller=False)
    assert result.code == 2
    error = json.loads(result.err)["error"]
    assert error["exit_code"] == 2 and error["code"] is None
    assert error["message"].startswith(
        f"controller settings: {config_home / 'controller.toml'}: unknown key 'colour'"
    )
