"""Pages of a List call: an offset in an opaque token, cut by count and by bytes."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Protocol, TypeVar

from google.protobuf.message import Message

from renderq.controller.errors import InvalidField
from renderq.grpc_limits import MAX_MESSAGE_BYTES

PAGE_BYTES = MAX_MESSAGE_BYTES // 2
"""Most bytes of resources in one page, whatever page_size asks: half the 64 MiB message
limit, so a page of large jobs comes back short (with a token) instead of not at all."""
P = TypeVar("P", bound=Message, covariant=True)


class Resource(Protocol[P]):
    def to_proto(self) -> P: ...


def page_request(token: str, size: int, default: int, most: int) -> tuple[int, int]:
    """The position in ``token`` and the page size a List request asks for, checked."""
    if size < 0:
        raise InvalidField("page_size", f"must not be negative, not {size}")
    # Tokens are positions this API wrote: plain ASCII digits, small enough to index with.
    if token and not (token.isascii() and token.isdigit() and len(token) < 19):
        raise InvalidField("page_token", f"{token!r} is not a token this API gave out")
    return int(token) if token else 0, min(size or default, most)


def page(items: Iterable[Resource[P]], token: str, size: int, default: int, most: int) -> tuple[list[P], str]:
    """One page of ``items``, as protos, after the offset in ``token``; and the next token."""
    start, size = page_request(token, size, default, most)
    result = list(itertools.islice(items, start, start + size + 1))
    found: list[P] = []
    used = 0
    for item in result[:size]:
        proto = item.to_proto()
        used += proto.ByteSize()
        if found and used > PAGE_BYTES:
            break
        found.append(proto)
    more = len(found) < len(result)
    return found, str(start + len(found)) if more else ""
