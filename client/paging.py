"""Paging through a List call: every page, following ``next_page_token`` to the end."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Protocol, TypeVar


class Page(Protocol):
    @property
    def next_page_token(self) -> str: ...


P = TypeVar("P", bound=Page)
T = TypeVar("T")


async def pages(call: Callable[[str], Awaitable[P]]) -> AsyncIterator[P]:
    """Each page ``call(page_token)`` returns, the first with an empty token."""
    token = ""
    while True:
        page = await call(token)
        yield page
        token = page.next_page_token
        if not token:
            return


async def collect_pages(call: Callable[[str], Awaitable[P]], items: Callable[[P], Iterable[T]]) -> list[T]:
    """Everything a List call returns, all pages together."""
    return [item async for page in pages(call) for item in items(page)]
