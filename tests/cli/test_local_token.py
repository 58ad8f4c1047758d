"""The local admin token is found in the controller's --data-dir, and a refusal says
where the client looked."""

from __future__ import annotations

from pathlib import Path

import pytest

from renderq import tokens
from renderq.client.credentials import resolve_credentials

from .conftest import CliRunner, FakeFarm

TOKEN = "rqt_local-admin"


def admin_token_in(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / tokens.LOCAL_FILE).write_text(TOKEN + "\n")
    return directory


def test_data_dir_flag_finds_the_controllers_admin_token(
    cli: CliRunner, farm: FakeFarm, tmp_path: Path
) -> None:
    farm.token = TOKEN
    data = admin_token_in(tmp_path / "farm")
    result = cli("whoami", "--data-dir", str(data))
    assert result.code == 0, result.err
    assert result.out.strip() == "ana (token t1, admin)"


def test_the_environment_names_the_data_dir(
    cli: CliRunner, farm: FakeFarm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    farm.token = TOKEN
    monkeypatch.setenv("RENDERQ_DATA_DIR", str(admin_token_in(tmp_path / "farm")))
    assert cli("whoami").code == 0


def test_without_a_token_the_refusal_names_where_the_client_looked(
    cli: CliRunner, farm: FakeFarm, tmp_path: Path
) -> None:
    farm.token = TOKEN
    empty = tmp_path / "elsewhere"
    result = cli("whoami", "--data-dir", str(empty))
    assert result.code == 4
    assert result.err.startswith(
        "renderq: no API token: none given by --token or $RENDERQ_TOKEN, and no admin token at "
        f"{empty / 'admin.token'} (the controller's --data-dir; pass --data-dir DIR or $RENDERQ_DATA_DIR "
        "if it uses another)"
    )
    assert result.err.rstrip().endswith("(UNAUTHENTICATED)")
    assert "its user has one already" not in result.err


def test_a_refused_token_from_a_file_names_the_file(cli: CliRunner, farm: FakeFarm, tmp_path: Path) -> None:
    farm.token = "rqt_another-farms"
    data = admin_token_in(tmp_path / "farm")
    result = cli("whoami", "--data-dir", str(data))
    assert result.code == 4
    assert (
        f"(the token came from {data / 'admin.token'}: is that this controller's --data-dir?)" in result.err
    )


def test_a_token_given_outright_is_the_controllers_business(cli: CliRunner, farm: FakeFarm) -> None:
    farm.token = TOKEN
    result = cli("whoami", "--token", "rqt_wrong")
    assert result.code == 4
    assert "admin token at" not in result.err and "came from" not in result.err


def test_the_flag_wins_over_the_environment(tmp_path: Path) -> None:
    flag, env = admin_token_in(tmp_path / "flag"), tmp_path / "env"
    credentials = resolve_credentials(environ={"RENDERQ_DATA_DIR": str(env)}, data_dir=flag)
    assert (credentials.token, credentials.token_file) == (TOKEN, flag / "admin.token")
    from_env = resolve_credentials(environ={"RENDERQ_DATA_DIR": str(env)})
    assert (from_env.token, from_env.token_file) == (None, env / "admin.token")
    given = resolve_credentials(environ={"RENDERQ_TOKEN": "rqt_x", "RENDERQ_DATA_DIR": str(flag)})
    assert (given.token, given.token_file) == ("rqt_x", None)
