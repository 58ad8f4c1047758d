"""A Blender render to OpenEXR through a real agent comes back with an sRGB thumbnail.

The agent makes it with OpenImageIO from the scene-linear EXR it just wrote; the
controller stores it; ReadOutput with ``thumbnail`` hands it back. Each of its pixels
must be the EXR's pixel encoded for sRGB, not the linear value cut to 8 bits (which
would look dark).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import OpenImageIO as oiio
import pytest

from renderq import tokens
from renderq.client.channel import connect
from renderq.client.credentials import Credentials
from renderq.demo.scene import ensure_demo_scene
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

from ..png_pixels import decode_png
from ..waiting import until
from .conftest import Farm

pytestmark = [pytest.mark.system, pytest.mark.blender]


def srgb(linear: float) -> float:
    """The sRGB transfer function, 0..1 in and out."""
    linear = min(max(linear, 0.0), 1.0)
    return 12.92 * linear if linear <= 0.0031308 else 1.055 * linear ** (1 / 2.4) - 0.055


async def test_an_exr_render_has_an_srgb_thumbnail(
    farm_factory: Callable[[], Farm], blender: str, tmp_path: Path
) -> None:
    scene = ensure_demo_scene(tmp_path / "scene")
    farm = farm_factory()
    farm.add_agent("a1")
    farm.start_agent("a1")
    farm.start_controller().wait_for_line(r"agent online")
    job = farm.cli.json(
        "submit", "blender", "--frames", "1", "--param", f"scene={scene}", "--param", "format=OPEN_EXR"
    )
    farm.cli.run("wait", str(job["id"]), "--timeout", "300")
    admin = tokens.read_local(farm.root / "controller")
    async with connect(f"127.0.0.1:{farm.port}", Credentials(token=admin)) as stub:

        async def thumbnailed() -> pb.OutputFile | None:
            listed = await stub.ListOutputs(fpb.ListOutputsRequest(job_id=job["id"]))
            files = [o for frame in listed.frames for o in frame.outputs]
            return next((o for o in files if o.HasField("thumbnail")), None)

        async def stored() -> bool:
            return await thumbnailed() is not None

        await until("the thumbnail is stored", stored)
        output = await thumbnailed()
        assert output is not None and output.path.endswith(".exr")
        request = fpb.ReadOutputRequest(job_id=job["id"], frame=1, path=output.path, thumbnail=True)
        png = b"".join([m.data async for m in stub.ReadOutput(request)])
    assert len(png) == output.thumbnail.size_bytes and png.startswith(b"\x89PNG")

    thumbnail = decode_png(png)
    exr = oiio.ImageBuf(output.path)
    assert (thumbnail.width, thumbnail.height) == (exr.spec().width, exr.spec().height) == (160, 90)
    brightest = 0
    for x, y in ((20, 80), (40, 45), (80, 45), (120, 30), (150, 10)):
        linear = exr.getpixel(x, y)[:3]
        shown = thumbnail.rows[y][3 * x : 3 * x + 3]
        for channel, value in zip(linear, shown, strict=True):
            assert abs(value - round(255 * srgb(channel))) <= 3, (x, y, linear, tuple(shown))
        brightest = max(brightest, *shown)
    assert brightest > 100, "an sRGB thumbnail of a lit scene is no darker than this"
