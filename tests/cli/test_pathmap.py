"""``renderq pathmap add|list|delete|test`` against a real controller: text, --json, and
requests to fix (exit 2) said in a sentence."""

from __future__ import annotations

import json

import pytest

from .conftest import CliRunner, RealController
from .test_against_controller import Verb


@pytest.fixture
def pathmap(cli: CliRunner, controller: RealController) -> Verb:
    return Verb(cli, controller)


def test_a_rule_is_added_tested_listed_and_deleted(pathmap: Verb) -> None:
    assert (
        pathmap("pathmap", "list").out
        == "no path mapping rules (renderq pathmap add FROM TO --os OS makes one)\n"
    )
    added = pathmap("pathmap", "add", "Z:\\projects\\", "/mnt/projects", "--os", "linux")
    assert added.out == "path mapping Z:\\projects -> /mnt/projects on Linux\n", added.err
    added = pathmap("pathmap", "add", "/mnt/projects", "Z:\\projects", "--os", "Windows", "--json")
    assert json.loads(added.out) == {"from_path": "/mnt/projects", "to_path": "Z:\\projects", "os": "Windows"}
    assert pathmap("pathmap", "test", "z:/projects/shot/a.blend", "--os", "linux").lines == [
        "/mnt/projects/shot/a.blend",
        "by the rule Z:\\projects -> /mnt/projects on Linux",
    ]
    assert pathmap("pathmap", "test", "/srv/a", "--os", "darwin").lines == ["/srv/a", "no rule applies"]
    tested = json.loads(pathmap("pathmap", "test", "/mnt/projects/a", "--os", "windows", "--json").out)
    assert tested["path"] == "Z:\\projects\\a" and tested["mapping"]["from_path"] == "/mnt/projects"
    assert json.loads(pathmap("pathmap", "test", "/srv/a", "--os", "linux", "--json").out) == {
        "path": "/srv/a"
    }
    listing = pathmap("pathmap", "list")
    assert [line.split() for line in listing.lines] == [
        ["OS", "FROM", "TO"],
        ["Linux", "Z:\\projects", "/mnt/projects"],
        ["Windows", "/mnt/projects", "Z:\\projects"],
    ]
    assert len(json.loads(pathmap("pathmap", "list", "--json").out)) == 2
    assert pathmap("pathmap", "delete", "z:/projects", "--os", "linux").out == (
        "path mapping z:/projects on Linux deleted\n"
    )
    deleted = json.loads(pathmap("pathmap", "delete", "/mnt/projects", "--os", "windows", "--json").out)
    assert deleted == {"deleted": True, "from_path": "/mnt/projects", "os": "Windows"}
    assert json.loads(pathmap("pathmap", "list", "--json").out) == []


def test_requests_to_fix_exit_2_with_a_sentence(pathmap: Verb) -> None:
    relative = pathmap("pathmap", "add", "projects", "/mnt/projects", "--os", "linux")
    assert relative.code == 2 and "'projects' is not absolute" in relative.err, relative.err
    assert "Traceback" not in relative.err
    unknown = pathmap("pathmap", "delete", "Z:\\nowhere", "--os", "linux", "--json")
    error = json.loads(unknown.err)["error"]
    assert (unknown.code, error["code"], error["exit_code"]) == (2, "NOT_FOUND", 2)
    assert error["message"].startswith("there is no path mapping rule for 'Z:\\nowhere' on Linux")
    no_os = pathmap("pathmap", "test", "/a")
    assert no_os.code == 2 and "--os" in no_os.err
    beos = pathmap("pathmap", "add", "/a", "/b", "--os", "beos")
    assert beos.code == 2 and "invalid choice: 'beos'" in beos.err
