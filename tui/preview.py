"""A look at a job's latest rendered frame, drawn in the terminal with half blocks.

The frame comes through the controller (``ReadOutput``), so the preview works over SSH
from anywhere the TUI does. Each terminal cell shows two pixels: ``▀`` with the upper
pixel as its foreground and the lower one as its background, in truecolour; cells
are about twice as tall as wide, so one cell is 1x2 pixels and the picture keeps its
aspect. Fetching, decoding and scaling run off the UI (a worker, and a thread for the
pure-Python work), so a large frame never freezes the screen.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import grpc
from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Footer, Static

from renderq.client.paging import pages
from renderq.tui.app_typed import RenderqAppMixin
from renderq.tui.png import Image, PngError, decode_png, downscale
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

if TYPE_CHECKING:
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub

UPPER_HALF = "▀"
FRAME_PAGE = 10_000
"""Frames per ListFrames page (the API's most)."""


async def latest_rendered_frame(stub: FarmServiceAsyncStub, job_id: int) -> pb.Frame | None:
    """The job's completed frame with an output that finished last; None when there is none."""
    latest: pb.Frame | None = None
    async for page in pages(
        lambda token: stub.ListFrames(
            fpb.ListFramesRequest(
                job_id=job_id, page_size=FRAME_PAGE, page_token=token, states=[pb.FRAME_STATE_COMPLETED]
            )
        )
    ):
        for frame in page.frames:
            if frame.outputs and (latest is None or _finished(frame) >= _finished(latest)):
                latest = frame
    return latest


def _finished(frame: pb.Frame) -> tuple[int, int]:
    return frame.end_time.ToNanoseconds(), frame.number


def preview_output(frame: pb.Frame) -> pb.OutputFile:
    """The frame's PNG output if it has one (a render may also write EXR passes), else its first."""
    return next((o for o in frame.outputs if o.path.lower().endswith(".png")), frame.outputs[0])


async def read_output(stub: FarmServiceAsyncStub, job_id: int, frame: int, path: str) -> bytes:
    data = bytearray()
    async for message in stub.ReadOutput(fpb.ReadOutputRequest(job_id=job_id, frame=frame, path=path)):
        data += message.data
    return bytes(data)


def half_block_strips(image: Image, columns: int, rows: int) -> list[Strip]:
    """``image`` scaled to fit ``columns`` x ``rows`` cells (never enlarged), aspect kept,
    centred across, as one strip of ``▀`` cells per terminal row."""
    scale = min(columns / image.width, 2 * rows / image.height, 1.0)
    small = downscale(image, max(1, int(image.width * scale)), max(1, int(image.height * scale)))
    pad = Segment(" " * ((columns - small.width) // 2))
    strips: list[Strip] = []
    for top in range(0, small.height, 2):
        upper = small.rows[top]
        lower = small.rows[top + 1] if top + 1 < small.height else None
        cells = [pad]
        for x in range(0, 3 * small.width, 3):
            below = Color.from_rgb(*lower[x : x + 3]) if lower is not None else None
            cells.append(Segment(UPPER_HALF, Style(color=Color.from_rgb(*upper[x : x + 3]), bgcolor=below)))
        strips.append(Strip(cells, len(pad.text) + small.width))
    return strips


class FramePicture(Widget):
    """An image drawn with half blocks, rescaled (in a thread) whenever its size changes."""

    DEFAULT_CSS = "FramePicture { width: 1fr; height: 1fr; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.image: Image | None = None
        self.strips: list[Strip] = []
        """What is drawn now: one strip per row, for the current image and size."""

    def show(self, image: Image | None) -> None:
        self.image = image
        self.strips = []
        self.refresh()
        self._rescale()

    def on_resize(self, event: events.Resize) -> None:
        self._rescale()

    @work(exclusive=True, group="rescale")
    async def _rescale(self) -> None:
        image, size = self.image, self.size
        if image is None or not size.area:
            return
        strips = await asyncio.to_thread(half_block_strips, image, size.width, size.height)
        if image is self.image and size == self.size:
            self.strips = strips
            self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y >= len(self.strips):
            return Strip.blank(width, self.rich_style)
        return self.strips[y].crop_extend(0, width, None).apply_style(self.rich_style)


class PreviewScreen(RenderqAppMixin, ModalScreen[None]):
    """The job's latest rendered frame; ``r`` looks again for a newer one."""

    DEFAULT_CSS = """
    PreviewScreen { background: $background; }
    PreviewScreen #preview-title { height: auto; padding: 0 1; background: $panel; }
    PreviewScreen #preview-message { height: auto; padding: 1 2; }
    PreviewScreen #preview-message.-empty { display: none; }
    """
    BINDINGS = [
        Binding(
            "r",
            "reload",
            "Reload",
            tooltip="Look for a newer rendered frame and show it",
            id="preview.reload",
        ),
        Binding("escape,q", "close", "Back", tooltip="Back to the jobs", id="preview.back"),
        Binding("question_mark", "app.help", "Help", show=False, id="preview.help"),
    ]

    def __init__(self, job_id: int) -> None:
        super().__init__()
        self.job_id = job_id
        self.frame: pb.Frame | None = None
        """The frame shown, once one is."""

    def compose(self) -> ComposeResult:
        yield Static(f"job {self.job_id}", id="preview-title")
        yield Static("", id="preview-message")
        yield FramePicture()
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.action_reload()

    def action_close(self) -> None:
        self.dismiss(None)

    def action_reload(self) -> None:
        self._show_message(f"looking for the latest rendered frame of job {self.job_id}…")
        self._load()

    def _show_message(self, message: str) -> None:
        box = self.query_one("#preview-message", Static)
        box.update(message)
        box.set_class(not message, "-empty")

    def _title(self, text: str) -> None:
        self.query_one("#preview-title", Static).update(text)

    @work(exclusive=True, group="preview")
    async def _load(self) -> None:
        app = self.renderq_app
        stub = app.stub
        if stub is None:
            self._show_message(
                "not connected to the controller; press r once the status line shows it connected"
            )
            return
        try:
            frame = await latest_rendered_frame(stub, self.job_id)
            if frame is None:
                self._show_message(f"job {self.job_id} has no rendered frame yet; press r to look again")
                return
            output = preview_output(frame)
            self._title(f"job {self.job_id} · frame {frame.number} · {output.path}")
            self._show_message(f"reading frame {frame.number} from the controller…")
            data = await read_output(stub, self.job_id, frame.number, output.path)
            image = await asyncio.to_thread(decode_png, data)
        except grpc.aio.AioRpcError as error:
            problem = f"the controller cannot show this frame: {app.explain(error).message}"
        except PngError as error:
            problem = f"this output is not a PNG the preview can show: {error}"
        else:
            self.frame = frame
            self._title(
                f"job {self.job_id} · frame {frame.number} · {output.path} · {image.width}x{image.height}"
            )
            self._show_message("")
            self.query_one(FramePicture).show(image)
            return
        self._show_message(problem)
        self.query_one(FramePicture).show(None)
