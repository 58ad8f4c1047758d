"""Following the controller: list, then watch, and start again when it breaks.

The feed (the whole farm), a job's frames and a task's log each follow a stream this
way. Each writes its own round (list, then watch until the stream ends); ``Following``
runs it again and again: after a failure it says why, in words, and waits a pause that
doubles from ``RETRY_FIRST`` to ``RETRY_MOST``; once a round gets going (``live``) the
next pause is short again. An answer that asking again cannot change ends it, where
the follower says so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import grpc

from renderq.client.errors import (
    CallFailed,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    TlsFailed,
    Unauthenticated,
)

RETRY_FIRST = 0.5
"""Seconds before the first retry after a failure, and again once a round got going."""
RETRY_MOST = 5.0
"""The longest pause between two rounds, however long the controller stays away."""
GIVE_UP = (NotFound, InvalidArgument, PermissionDenied, Unauthenticated, TlsFailed)
"""Answers that asking again cannot change: a follower with ``on_give_up`` stops on them
(and retries on anything else, such as a controller restarting)."""

Round = Callable[[], Awaitable[bool]]
"""One list-then-watch: True when there is nothing more to follow, False to go again
(after a Resync, or a stream cut short); it raises when the link fails."""


def closed_under_us() -> bool:
    """Whether a CancelledError came from gRPC, because the app's feed closed the channel
    (it reconnects on a new one), rather than from cancelling this task (a closed screen)."""
    task = asyncio.current_task()
    return task is not None and not task.cancelling()


class Following:
    """Runs a round until it is done, or until an answer in ``GIVE_UP`` when there is an
    ``on_give_up`` to say it; after any other failure ``on_problem`` gets the reason.

    ``explain`` turns a failed call into its typed error (``RenderqApp.explain``: the
    controller's sentence, its address named).
    """

    def __init__(
        self,
        explain: Callable[[grpc.aio.AioRpcError], CallFailed],
        on_problem: Callable[[str], None],
        on_give_up: Callable[[str], None] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._explain = explain
        self._on_problem = on_problem
        self._on_give_up = on_give_up
        self._sleep = sleep
        self.pause = RETRY_FIRST
        """Seconds to wait before the next round."""

    def live(self) -> None:
        """The round got going (it connected, it listed): the next retry comes soon."""
        self.pause = RETRY_FIRST

    async def run(self, one_round: Round) -> None:
        """Until the round is done; cancelling the task that runs this ends it too."""
        while True:
            try:
                if await one_round():
                    return
            except grpc.aio.AioRpcError as error:
                failure = self._explain(error)
                if self._on_give_up is not None and isinstance(failure, GIVE_UP):
                    self._on_give_up(failure.message)
                    return
                self._on_problem(failure.message)
            except asyncio.CancelledError:
                if not closed_under_us():
                    raise
                self._on_problem("the connection to the controller closed")
            except Exception as error:  # any failure to reach it is said, then retried
                self._on_problem(str(error) or type(error).__name__)
            await self._sleep(self.pause)
            self.pause = min(self.pause * 2, RETRY_MOST)
