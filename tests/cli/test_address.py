"""Where the controller is: the flag, else RENDERQ_CONTROLLER, else mDNS."""

from __future__ import annotations

import pytest

from renderq.client.address import BROWSE_SECONDS, resolve_controller
from renderq.client.errors import ControllerNotFound, InvalidArgument


class FakeBrowser:
    def __init__(self, answer: str | None) -> None:
        self.answer = answer
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> str | None:
        self.calls.append(seconds)
        return self.answer


async def test_the_flag_wins_over_the_environment_and_mdns() -> None:
    browser = FakeBrowser("10.0.0.9:7420")
    address = await resolve_controller("10.0.0.1:7420", {"RENDERQ_CONTROLLER": "10.0.0.2:7420"}, browser)
    assert address == "10.0.0.1:7420"
    assert browser.calls == []


async def test_the_environment_wins_over_mdns() -> None:
    browser = FakeBrowser("10.0.0.9:7420")
    address = await resolve_controller(None, {"RENDERQ_CONTROLLER": "farm.local:7420"}, browser)
    assert address == "farm.local:7420"
    assert browser.calls == []


async def test_mdns_is_asked_when_nothing_names_the_controller() -> None:
    browser = FakeBrowser("10.0.0.9:7420")
    assert await resolve_controller(None, {}, browser) == "10.0.0.9:7420"
    assert browser.calls == [BROWSE_SECONDS]


async def test_no_controller_anywhere_says_how_to_name_one() -> None:
    with pytest.raises(ControllerNotFound, match="pass --controller HOST:PORT or set RENDERQ_CONTROLLER"):
        await resolve_controller(None, {}, FakeBrowser(None))


@pytest.mark.parametrize(
    ("flag", "env", "origin"),
    [("farm", {}, "--controller"), (None, {"RENDERQ_CONTROLLER": "farm:port"}, "RENDERQ_CONTROLLER")],
)
async def test_an_address_without_a_port_is_refused_naming_where_it_came_from(
    flag: str | None, env: dict[str, str], origin: str
) -> None:
    with pytest.raises(InvalidArgument, match=f"{origin}: .* is not HOST:PORT"):
        await resolve_controller(flag, env, FakeBrowser(None))


async def test_bracketed_ipv6_addresses_are_accepted() -> None:
    assert await resolve_controller("[::1]:7420", {}, FakeBrowser(None)) == "[::1]:7420"
