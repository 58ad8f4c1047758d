"""Small sRGB PNGs of a frame's image outputs, made where the frames are.

The agent has the renders on its own disk, so it reads them once there and sends a few
KiB along with FrameCompleted: the controller and the TUI then show a frame without
fetching a 100 MB EXR or knowing any image format. OpenImageIO reads the formats renders
come in (EXR, DPX, TIFF, PNG, JPEG); scene-linear pixels (EXR, any float data) are
turned into sRGB with its colour management, or a preview would be dark and clipped.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path

from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import resources_pb2 as pb

log = logging.getLogger(__name__)

try:
    import OpenImageIO as oiio
except ImportError:  # no wheel for this platform: frames complete without thumbnails
    oiio = None  # type: ignore[assignment]

THUMBNAIL_SIZE = 256
"""Longest side of a thumbnail, in pixels."""
MAX_PNG_BYTES = 64 << 10
"""Largest thumbnail sent: they travel in the agent's event stream and sit in the controller's store."""
MAX_PER_FRAME = 4
IMAGE_SUFFIXES = frozenset({".exr", ".dpx", ".tif", ".tiff", ".png", ".jpg", ".jpeg"})
"""The outputs worth opening: a movie or a scene file would be read for nothing."""
LINEAR_SUFFIXES = frozenset({".exr"})
LINEAR_SPACE = "lin_rec709"
"""What linear renders hold: Rec.709 primaries, as Blender and most renderers write them.
Not OpenColorIO's "scene_linear", which its built-in config makes ACEScg: reds came out dim."""


def frame_thumbnails(outputs: Sequence[pb.OutputFile]) -> list[apb.Thumbnail]:
    """Thumbnails of the first few image outputs among ``outputs`` (those already hashed,
    so read only where describe_output allowed). Blocking: call it in a thread."""
    if oiio is None:
        log.info("no thumbnails: OpenImageIO is not installed for this platform")
        return []
    images = [o.path for o in outputs if Path(o.path).suffix.lower() in IMAGE_SUFFIXES]
    thumbnails = []
    for path in images[:MAX_PER_FRAME]:
        png = thumbnail_png(Path(path))
        if png is not None:
            thumbnails.append(apb.Thumbnail(path=path, png=png))
    return thumbnails


def thumbnail_png(path: Path, size: int = THUMBNAIL_SIZE) -> bytes | None:
    """An 8-bit sRGB PNG of the image at ``path`` fitting ``size`` x ``size``, or None for a
    file that is no image OpenImageIO reads (or a PNG over MAX_PNG_BYTES even at half
    the size: a thumbnail is for a glance). Blocking: call it in a thread."""
    if oiio is None:
        return None
    source = oiio.ImageBuf(str(path))
    spec = source.spec()  # reads the header: an error here means no image
    if source.has_error or spec.deep or spec.width <= 0 or spec.height <= 0:
        log.debug("no thumbnail of %s: %s", path, source.geterror() or "not an image")
        return None
    rgb = oiio.ImageBufAlgo.channels(source, (0, 1, 2) if spec.nchannels >= 3 else (0, 0, 0))
    linear = path.suffix.lower() in LINEAR_SUFFIXES or spec.format.basetype in _FLOAT_TYPES
    for side in (size, size // 2):
        png = _encode(_fitted(rgb, side, linear))
        if png is not None and len(png) <= MAX_PNG_BYTES:
            return png
    return None


def _fitted(rgb: oiio.ImageBuf, side: int, linear: bool) -> oiio.ImageBuf:
    """``rgb`` resized to fit ``side`` (in linear light when it is linear), then sRGB."""
    spec = rgb.spec()
    scale = min(1.0, side / max(spec.width, spec.height))
    width, height = max(1, round(spec.width * scale)), max(1, round(spec.height * scale))
    small = rgb  # at its own size, untouched: resizing filters, which would blur it
    if (width, height) != (spec.width, spec.height):
        small = oiio.ImageBufAlgo.resize(rgb, roi=oiio.ROI(0, width, 0, height, 0, 1, 0, 3))
    if linear:
        small = oiio.ImageBufAlgo.colorconvert(small, LINEAR_SPACE, "sRGB")
    return oiio.ImageBufAlgo.clamp(small, 0.0, 1.0)


def _encode(image: oiio.ImageBuf) -> bytes | None:
    """``image`` as 8-bit PNG bytes (OpenImageIO's Python API writes files, not memory)."""
    if image.has_error:
        log.debug("no thumbnail: %s", image.geterror())
        return None
    with tempfile.TemporaryDirectory(prefix="renderq-thumb-") as folder:
        target = Path(folder) / "thumbnail.png"
        if not image.write(str(target), "uint8"):
            log.debug("no thumbnail: %s", image.geterror())
            return None
        return target.read_bytes()


_FLOAT_TYPES = frozenset() if oiio is None else frozenset({oiio.HALF, oiio.FLOAT, oiio.DOUBLE})
