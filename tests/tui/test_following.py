"""Following a stream: the pause between rounds, what is said, when it stops; and
FarmChanged messages that stand for the ones queued before them."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from renderq.client.errors import CallFailed, from_rpc_error
from renderq.tui.farm_view import Changes
from renderq.tui.feed import FeedStatus
from renderq.tui.following import RETRY_FIRST, RETRY_MOST, Following
from renderq.tui.messages import FarmChanged, FeedStatusChanged


def rpc_error(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


def explain(error: grpc.aio.AioRpcError) -> CallFailed:
    return from_rpc_error(error, "10.0.0.5:7420")


class Rounds:
    """A round that fails ``failures`` times (raising what ``fail`` makes), then is done;
    the pauses and what was said, as recorded."""

    def __init__(self, failures: int, fail: Exception, live: bool = False) -> None:
        self.left = failures
        self.fail = fail
        self.live = live
        self.pauses: list[float] = []
        self.problems: list[str] = []
        self.gave_up: list[str] = []
        self.following = Following(explain, self.problems.append, self.gave_up.append, sleep=self.sleep)

    async def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)

    async def one_round(self) -> bool:
        if self.live:
            self.following.live()
        if self.left == 0:
            return True
        self.left -= 1
        raise self.fail


async def test_each_failure_is_said_and_the_pause_doubles_up_to_the_most() -> None:
    rounds = Rounds(6, ConnectionError("not connected to the controller"))
    await rounds.following.run(rounds.one_round)
    assert rounds.pauses == [RETRY_FIRST, 1.0, 2.0, 4.0, RETRY_MOST, RETRY_MOST]
    assert rounds.problems == ["not connected to the controller"] * 6


async def test_a_round_that_got_going_makes_the_next_pause_short_again() -> None:
    rounds = Rounds(3, OSError(), live=True)
    await rounds.following.run(rounds.one_round)
    assert rounds.pauses == [RETRY_FIRST] * 3
    assert rounds.problems == ["OSError"] * 3, "an error without words is named by its type"


async def test_an_answer_asking_again_cannot_change_ends_it_said_once() -> None:
    rounds = Rounds(5, rpc_error(grpc.StatusCode.NOT_FOUND, "job 9 not found"))
    await rounds.following.run(rounds.one_round)
    assert (rounds.gave_up, rounds.problems, rounds.pauses) == (["job 9 not found"], [], [])


async def test_an_unreachable_controller_is_retried_in_the_controllers_words() -> None:
    rounds = Rounds(2, rpc_error(grpc.StatusCode.UNAVAILABLE, "Connection refused"))
    await rounds.following.run(rounds.one_round)
    assert rounds.problems == ["cannot reach the controller at 10.0.0.5:7420: Connection refused"] * 2
    assert not rounds.gave_up


async def test_without_a_give_up_every_answer_is_retried() -> None:
    problems: list[str] = []
    left = [2]

    async def one_round() -> bool:
        if left[0] == 0:
            return True
        left[0] -= 1
        raise rpc_error(grpc.StatusCode.UNAUTHENTICATED, "bad token")

    async def no_pause(seconds: float) -> None:
        pass

    await Following(explain, problems.append, sleep=no_pause).run(one_round)
    assert problems == ["bad token"] * 2


async def test_being_cancelled_is_not_a_failure() -> None:
    rounds = Rounds(0, ConnectionError())

    async def forever() -> bool:
        await asyncio.Event().wait()
        return True

    task = asyncio.create_task(rounds.following.run(forever))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert rounds.problems == []


def test_a_newer_farm_changed_stands_for_an_older_one_queued_before_it() -> None:
    older_changes = Changes(jobs={1}, agents={"a1"})
    older, newer = FarmChanged(older_changes), FarmChanged(Changes(jobs={2}))
    assert older.can_replace(newer)
    assert newer.changes == Changes(jobs={1, 2}, agents={"a1"})
    assert older_changes == Changes(jobs={1}, agents={"a1"}), "shared changes are not altered"
    assert FarmChanged(Changes(everything=True)).can_replace(newer) and newer.changes.everything
    assert not newer.can_replace(FeedStatusChanged(FeedStatus(False)))
