"""Backups: a consistent copy of the farm's database while the controller runs.

The copy is taken inside DuckDB (``COPY FROM DATABASE`` into a new file, on a cursor of
its own): snapshot isolation makes it one moment of the farm, whatever the recorder
commits meanwhile, and the writer is never paused. The copy is a DuckDB file with the
same schema, so ``renderq controller --db COPY`` starts from it. Task logs are files
beside the database (``DATA_DIR/logs``) and are not part of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from renderq.controller.store import Store
from renderq.v1 import farm_service_pb2 as fpb

log = logging.getLogger(__name__)

BLOCK = 1 << 20
"""Bytes per streamed message."""


class DatabaseExport:
    def __init__(self, store: Store, scratch: Path) -> None:
        self.store = store
        self.scratch = scratch
        """Where copies wait while they are streamed (removed after)."""

    async def stream(self) -> AsyncIterator[fpb.ExportDatabaseResponse]:
        """The copy, in blocks; the first message carries its size and schema version."""
        self.scratch.mkdir(parents=True, exist_ok=True)
        path = self.scratch / f"export-{uuid.uuid4().hex}.duckdb"
        try:
            version = await asyncio.to_thread(self.store.snapshot, path)
            size = path.stat().st_size
            log.info("database exported path=%s bytes=%d schema_version=%d", path, size, version)
            with path.open("rb") as copy:
                offset = 0
                while True:
                    data = await asyncio.to_thread(copy.read, BLOCK)
                    yield fpb.ExportDatabaseResponse(
                        offset=offset,
                        data=data,
                        size_bytes=0 if offset else size,
                        schema_version=0 if offset else version,
                    )
                    offset += len(data)
                    if offset >= size or not data:
                        break
        finally:
            for leftover in (path, path.with_name(path.name + ".wal")):
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()
