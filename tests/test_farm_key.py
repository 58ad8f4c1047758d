"""Join tokens and the two proofs of the farm key."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from renderq import farm_key


@given(st.binary(min_size=32, max_size=32))
def test_a_token_carries_the_key_exactly(key: bytes) -> None:
    assert farm_key.from_token(farm_key.to_token(key)) == key


@pytest.mark.parametrize(
    ("token", "words"),
    [("hello", "starts with 'rqk_'"), ("rqk_@@@", "damaged"), ("rqk_" + "A" * 10, "wrong length")],
)
def test_a_bad_token_says_what_is_wrong(token: str, words: str) -> None:
    with pytest.raises(farm_key.FarmKeyError, match=words):
        farm_key.from_token(token)


def test_the_two_proofs_differ_and_depend_on_everything() -> None:
    key, cn, an = os.urandom(32), os.urandom(32), os.urandom(32)
    agent = farm_key.agent_proof(key, cn, an, "node-1")
    assert agent != farm_key.controller_proof(key, cn, an, "node-1"), (
        "one side's proof must not pass as the other's"
    )
    assert agent != farm_key.agent_proof(key, cn, an, "node-2")
    assert agent != farm_key.agent_proof(key, os.urandom(32), an, "node-1")
    assert agent != farm_key.agent_proof(os.urandom(32), cn, an, "node-1")
    assert key not in agent
