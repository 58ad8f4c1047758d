"""The submit form analyses a blender scene before the job is sent, with the real Blender of
this machine against a real farm: what the scene says shows under the fields, a missing
texture is named and stops the first ctrl+s, an empty frames field takes the scene's
range; a scene Blender cannot read is a sentence in place and the job can still be sent.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from renderq.tui.app import RenderqApp
from renderq.tui.submit_analysis import SceneAnalysisPanel
from renderq.tui.submit_screen import SubmitScreen

from ..plugins.conftest import blender
from ..plugins.test_blender_analysis import make_scene
from .conftest import running, until
from .test_submit_help_preview import SIZE, api, app, farm, fill, jobs_named, open_form, put, stop

pytestmark = [pytest.mark.system, pytest.mark.blender]
__all__ = ["api", "app", "blender", "farm"]  # fixtures, shared with the modules they come from

if TYPE_CHECKING:
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub


async def test_a_blend_scene_is_analysed_before_sending_its_missing_texture_named_and_frames_filled(
    app: RenderqApp,
    api: FarmServiceAsyncStub,
    blender: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_scene(blender, tmp_path)
    monkeypatch.chdir(tmp_path)
    name = f"analysed-{uuid.uuid4().hex[:8]}"
    async with running(app, SIZE) as pilot:
        form = await open_form(pilot, app, "blender")
        assert "ctrl+r" in {key for key, _ in form.active_bindings.items()}, "the key is offered"
        put(form, {"name": name, "parameters.scene": "shot.blend", "max_retries": "0"})
        await pilot.press("ctrl+s")
        panel = form.query_one(SceneAnalysisPanel)
        await until("the missing texture said on the top line", lambda: "missing" in form.top_line, pilot)
        text = panel.text
        assert f"scene {tmp_path / 'shot.blend'}" in text
        for said in ("11-42x2 (16 frames)", "23.976", "640x360 at 50%", "CYCLES", "close (active)", "wide"):
            assert said in text, (said, text)
        assert "//render/shot_#### as OPEN_EXR" in text
        assert "warning: 1 missing file(s): //tex/missing.png" in text
        assert panel.display and not panel.has_class("-failed")
        assert form.fields["frames"].control.value == "11-42x2"
        assert await jobs_named(api, name) == [], "the first ctrl+s only showed the missing file"

        await pilot.press("ctrl+s")  # the scene unchanged: sent as it is
        await until("the form to close", lambda: not isinstance(app.screen, SubmitScreen), pilot)
        [job] = await until(f"job {name} to be listed", lambda: jobs_named(api, name), pilot)
    await stop(api, job.id)
    assert job.frames == "11-42x2"


async def test_a_scene_blender_cannot_read_is_said_in_place_and_the_job_can_still_be_sent(
    app: RenderqApp, api: FarmServiceAsyncStub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken.blend").write_bytes(b"not a blend file")
    monkeypatch.chdir(tmp_path)
    name = f"unreadable-{uuid.uuid4().hex[:8]}"
    async with running(app, SIZE) as pilot:
        form = await open_form(pilot, app, "blender")
        put(form, {"name": name, "frames": "1", "max_retries": "0"})
        await fill(pilot, form.fields["parameters.scene"], "broken.blend")
        await pilot.press("ctrl+r")
        panel = form.query_one(SceneAnalysisPanel)
        await until("the failure in place", lambda: panel.has_class("-failed"), pilot)
        assert panel.text.startswith("cannot analyse broken.blend: Blender could not analyse broken.blend")
        assert form.fields["frames"].control.value == "1"

        await pilot.press("ctrl+s")
        await until("the form to close", lambda: not isinstance(app.screen, SubmitScreen), pilot)
        [job] = await until(f"job {name} to be listed", lambda: jobs_named(api, name), pilot)
    await stop(api, job.id)
