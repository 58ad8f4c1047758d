"""A controller's side of blob fetching, without a link: it records what the agent's blob
cache asks for and answers from the blobs it holds, at once or when the test says."""

from __future__ import annotations

import xxhash

from renderq.agent.blob_cache import CHUNK, BlobCache
from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import resources_pb2 as pb


def ref_of(data: bytes) -> pb.BlobRef:
    return pb.BlobRef(xxh3_128=xxhash.xxh3_128_hexdigest(data), size_bytes=len(data))


class BlobServer:
    def __init__(self, cache: BlobCache, *blobs: bytes, hold: bool = False, chunk: int = CHUNK) -> None:
        self._cache = cache
        self._blobs = {ref_of(data).xxh3_128: data for data in blobs}
        self._hold = hold
        self._chunk = chunk
        self.wants: list[apb.BlobWanted] = []
        """Every request, in order."""
        self.pending: list[apb.BlobWanted] = []
        """Requests held for the test to answer (``hold``)."""
        self.most_pending = 0
        cache.attach(self.send)

    def add(self, data: bytes) -> pb.BlobRef:
        ref = ref_of(data)
        self._blobs[ref.xxh3_128] = data
        return ref

    def send(self, wanted: apb.BlobWanted) -> None:
        self.wants.append(wanted)
        if not self._hold:
            self.answer(wanted)
            return
        self.pending.append(wanted)
        self.most_pending = max(self.most_pending, len(self.pending))

    def answer(self, wanted: apb.BlobWanted, data: bytes | None = None, error: str = "") -> None:
        """One chunk from where it was asked: the blob's own bytes unless ``data`` is given."""
        if data is None and not error:
            data = self._blobs[wanted.blob.xxh3_128][wanted.offset : wanted.offset + self._chunk]
        self._cache.receive(
            apb.BlobChunk(blob=wanted.blob, offset=wanted.offset, data=data or b"", error=error)
        )

    def answer_pending(self) -> int:
        """Answer every request held so far; return how many."""
        held, self.pending = self.pending, []
        for wanted in held:
            self.answer(wanted)
        return len(held)
