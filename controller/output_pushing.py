"""Outputs of ``s3://`` jobs pushed to object storage once they are in the controller's
store, and presigned download URLs for them (``renderq outputs JOB --urls``).

The controller pushes (not the agents) so that only one machine holds the bucket's
credentials and every file pushed is one whose hash was checked on arrival. A push that
fails leaves the file in the controller's store with the reason on the output; a
controller stopped before it pushed pushes again at its next start.
"""

from __future__ import annotations

import asyncio
import logging

from renderq.controller.blob_store import BlobStore
from renderq.controller.errors import NotPossibleNow
from renderq.controller.farm_state import FarmState
from renderq.controller.model import Frame, Job, Output
from renderq.controller.object_storage import ObjectStorage, ObjectStorageError, object_key, parse_destination
from renderq.v1 import resources_pb2 as pb

log = logging.getLogger(__name__)


class OutputPushing:
    def __init__(self, state: FarmState, blobs: BlobStore, storage: ObjectStorage) -> None:
        self.state = state
        self.blobs = blobs
        self.storage = storage

    async def check_ready(self, destination: str) -> None:
        """Refuse a job for object storage the controller cannot use (no boto3, settings
        that make no sense); asked off the event loop, as the first ask imports boto3."""
        if not destination.startswith("s3://"):
            return
        reason = await asyncio.to_thread(lambda: self.storage.unavailable_reason)
        if reason is not None:
            raise NotPossibleNow(f"outputs cannot go to {destination}: {reason}")

    def unpushed(self, job: Job, output: Output) -> bool:
        """Whether the output belongs in object storage and is not there yet (nor failed)."""
        return (
            job.output_destination.startswith("s3://")
            and output.storage == pb.OUTPUT_STORAGE_CONTROLLER
            and not output.object_url
            and not output.storage_error
        )

    async def push(self, job: Job, frame: Frame, output: Output) -> None:
        """Copy the stored output to the job's bucket; record where, or why not."""
        destination = parse_destination(job.output_destination)
        if destination is None:
            return
        bucket, prefix = destination
        key = ""
        try:
            key = object_key(prefix, job.id, frame.number, output.path)
            output.object_url = await self.storage.push(
                self.blobs.path(output.blob), bucket, key, output.xxh3_128
            )
        except ObjectStorageError as e:
            output.storage_error = f"not pushed to s3://{bucket}/{key or prefix}: {e}"
            log.warning("output not pushed job=%d frame=%d: %s", job.id, frame.number, e)
        self.state.rec.changed(frame)

    def presign(self, object_url: str, ttl: float) -> str:
        bucket, _, key = object_url.removeprefix("s3://").partition("/")
        try:
            return self.storage.presign(bucket, key, ttl)
        except ObjectStorageError as e:
            raise NotPossibleNow(f"no download URL for {object_url}: {e}") from None
