"""A look at a job's rendered frames: the thumbnails agents made, drawn in the terminal.

A thumbnail is a small sRGB PNG of an output (agent/thumbnails.py), so the preview reads a
few KiB through the controller (``ReadOutput`` with ``thumbnail``) whatever the render's
format, EXR included, and works over SSH from anywhere the TUI does. An output with no
thumbnail is shown itself only when it is a PNG. textual-image draws the picture: Kitty
graphics or Sixel where the terminal answered that it has them (it asks at import, before
Textual owns the terminal), half blocks (two pixels a cell) everywhere else. ``[`` and
``]`` step through the frames; ``c`` sets a test frame beside the latest frame.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc
from PIL import Image as PILImage
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Static
from textual_image.renderable import Image as DetectedRenderable
from textual_image.renderable import SixelImage as SixelRenderable
from textual_image.renderable import TGPImage as TGPRenderable
from textual_image.widget import HalfcellImage, SixelImage, TGPImage

from renderq.client.paging import pages
from renderq.tui.app_typed import RenderqAppMixin
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

if TYPE_CHECKING:
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub

FRAME_PAGE = 10_000
"""Frames per ListFrames page (the API's most)."""
MAX_SIDE = 512
"""A PNG output shown itself (no thumbnail) is scaled to this first: no terminal shows more."""


def _picture_class() -> type[HalfcellImage | SixelImage | TGPImage]:
    """The widget for what the terminal can draw; half blocks rather than textual-image's
    plain characters where it found no terminal (the web, a pipe, tests)."""
    if DetectedRenderable is SixelRenderable:
        return SixelImage
    if DetectedRenderable is TGPRenderable:
        return TGPImage
    return HalfcellImage


Picture = _picture_class()


async def rendered_frames(stub: FarmServiceAsyncStub, job_id: int) -> list[pb.Frame]:
    """The job's completed frames that recorded an output, in frame order."""
    found: list[pb.Frame] = []
    async for page in pages(
        lambda token: stub.ListFrames(
            fpb.ListFramesRequest(
                job_id=job_id, page_size=FRAME_PAGE, page_token=token, states=[pb.FRAME_STATE_COMPLETED]
            )
        )
    ):
        found.extend(frame for frame in page.frames if frame.outputs)
    return sorted(found, key=lambda frame: frame.number)


def latest(frames: list[pb.Frame]) -> int:
    """Index of the frame that finished last (``frames`` is not empty)."""
    return max(range(len(frames)), key=lambda i: (frames[i].end_time.ToNanoseconds(), frames[i].number))


def shown_output(frame: pb.Frame) -> tuple[pb.OutputFile, bool] | None:
    """The output to show and whether through its thumbnail: the first with a thumbnail,
    else a PNG output itself; None when the frame has no picture."""
    thumbnailed = next((o for o in frame.outputs if o.HasField("thumbnail")), None)
    if thumbnailed is not None:
        return thumbnailed, True
    png = next((o for o in frame.outputs if o.path.lower().endswith(".png")), None)
    return (png, False) if png is not None else None


async def read_output(
    stub: FarmServiceAsyncStub, job_id: int, frame: int, path: str, thumbnail: bool
) -> bytes:
    data = bytearray()
    request = fpb.ReadOutputRequest(job_id=job_id, frame=frame, path=path, thumbnail=thumbnail)
    async for message in stub.ReadOutput(request):
        data += message.data
    return bytes(data)


def decode(data: bytes) -> PILImage.Image:
    """The picture in ``data`` as RGB, no larger than MAX_SIDE. Raises OSError when it is no image."""
    with PILImage.open(io.BytesIO(data), formats=["PNG"]) as opened:
        image = opened.convert("RGB")
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    return image


@dataclass(frozen=True)
class Shown:
    """What one picture of the preview shows, or why it shows nothing."""

    caption: str
    image: PILImage.Image | None = None


async def load_picture(stub: FarmServiceAsyncStub, job_id: int, frame: pb.Frame) -> Shown:
    """``frame``'s picture read through the controller and decoded (off the UI thread)."""
    chosen = shown_output(frame)
    name = f"frame {frame.number}{' (test)' if frame.test else ''}"
    if chosen is None:
        paths = ", ".join(o.path.rsplit("/", 1)[-1] for o in frame.outputs)
        return Shown(f"{name} has no picture: no thumbnail and no PNG among its outputs ({paths})")
    output, thumbnail = chosen
    try:
        data = await read_output(stub, job_id, frame.number, output.path, thumbnail)
        image = await asyncio.to_thread(decode, data)
    except grpc.aio.AioRpcError as error:
        return Shown(f"{name} · the controller cannot show {output.path}: {error.details()}")
    except OSError as error:
        return Shown(f"{name} · {output.path} is not a PNG the preview can show: {error}")
    return Shown(f"{name} · {output.path} · {image.width}x{image.height}", image)


class FramePicture(Vertical):
    """One frame's picture under a line saying which frame and output it is."""

    DEFAULT_CSS = """
    FramePicture { width: 1fr; height: 1fr; }
    FramePicture .caption { height: auto; padding: 0 1; }
    FramePicture .picture { width: auto; height: auto; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.shown = Shown("")

    def compose(self) -> ComposeResult:
        yield Static("", classes="caption")
        yield Picture(classes="picture")

    def show(self, shown: Shown) -> None:
        self.shown = shown
        self.query_one(".caption", Static).update(shown.caption)
        self.query_one(Picture).image = shown.image


class PreviewScreen(RenderqAppMixin, ModalScreen[None]):
    """A job's rendered frames, one at a time or a test frame beside the latest."""

    DEFAULT_CSS = """
    PreviewScreen { background: $background; }
    PreviewScreen #preview-title { height: auto; padding: 0 1; background: $panel; }
    PreviewScreen #preview-message { height: auto; padding: 1 2; }
    PreviewScreen #preview-message.-empty { display: none; }
    PreviewScreen #preview-other { display: none; }
    PreviewScreen.-compare #preview-other { display: block; }
    """
    BINDINGS = [
        Binding("r", "reload", "Reload", tooltip="Look for newer rendered frames", id="preview.reload"),
        Binding(
            "left_square_bracket,left", "step(-1)", "Previous", tooltip="The frame before", id="preview.prev"
        ),
        Binding(
            "right_square_bracket,right", "step(1)", "Next", tooltip="The frame after", id="preview.next"
        ),
        Binding(
            "c", "compare", "Compare", tooltip="A test frame beside the latest frame", id="preview.compare"
        ),
        Binding("escape,q", "close", "Back", tooltip="Back to the jobs", id="preview.back"),
        Binding("question_mark", "app.help", "Help", show=False, id="preview.help"),
    ]

    def __init__(self, job_id: int) -> None:
        super().__init__()
        self.job_id = job_id
        self.frames: list[pb.Frame] = []
        """The job's rendered frames, in frame order, as last listed."""
        self.index = 0
        """Which of ``frames`` is shown (when not comparing)."""
        self.comparing = False

    @property
    def frame(self) -> pb.Frame | None:
        """The frame shown alone, once there is one."""
        return self.frames[self.index] if self.frames else None

    def compose(self) -> ComposeResult:
        yield Static(f"job {self.job_id}", id="preview-title")
        yield Static("", id="preview-message")
        with Horizontal():
            yield FramePicture(id="preview-main")
            yield FramePicture(id="preview-other")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.action_reload()

    def action_close(self) -> None:
        self.dismiss(None)

    def action_reload(self) -> None:
        self._show_message(f"looking for the rendered frames of job {self.job_id}…")
        self._load()

    def action_step(self, by: int) -> None:
        if self.frames:
            self.comparing = False
            self.index = max(0, min(len(self.frames) - 1, self.index + by))
            self._show()

    def action_compare(self) -> None:
        if not any(frame.test for frame in self.frames):
            self._show_message(f"job {self.job_id} has no rendered test frame to compare with")
            return
        self.comparing = not self.comparing
        self._show()

    def _show_message(self, message: str) -> None:
        box = self.query_one("#preview-message", Static)
        box.update(message)
        box.set_class(not message, "-empty")

    @work(exclusive=True, group="preview")
    async def _load(self) -> None:
        stub = self.renderq_app.stub
        if stub is None:
            self._show_message(
                "not connected to the controller; press r once the status line shows it connected"
            )
            return
        try:
            frames = await rendered_frames(stub, self.job_id)
        except grpc.aio.AioRpcError as error:
            self._show_message(
                f"the controller cannot list the frames: {self.renderq_app.explain(error).message}"
            )
            return
        self.frames = frames
        if not frames:
            self._show_message(f"job {self.job_id} has no rendered frame yet; press r to look again")
            return
        self.index = latest(frames)
        self._show()

    @work(exclusive=True, group="preview")
    async def _show(self) -> None:
        stub, frame = self.renderq_app.stub, self.frame
        if stub is None or frame is None:
            return
        self.set_class(self.comparing, "-compare")
        if self.comparing:
            test = next(f for f in self.frames if f.test)
            newest = self.frames[latest(self.frames)]
            self._title(
                f"job {self.job_id} · test frame {test.number} beside frame {newest.number} · c: back"
            )
            shown = await asyncio.gather(*(load_picture(stub, self.job_id, f) for f in (test, newest)))
        else:
            self._title(f"job {self.job_id} · frame {frame.number} ({self.index + 1} of {len(self.frames)})")
            shown = [await load_picture(stub, self.job_id, frame)]
        for picture, what in zip(self.query(FramePicture), shown, strict=False):
            picture.show(what)
        pictured = all(s.image is not None for s in shown)
        self._show_message("" if pictured else shown[-1].caption)
        if not self.comparing:
            self._title(f"job {self.job_id} · {shown[0].caption} · {self.index + 1} of {len(self.frames)}")

    def _title(self, text: str) -> None:
        self.query_one("#preview-title", Static).update(text)
