"""The submit form's scene analysis: what the scene says (frame range, fps, resolution,
engine, cameras, output) shown under the fields before the job is sent, every missing file
as a warning, so a wrong range or a lost texture shows now rather than on the farm.

The analysis is ``renderq.client.scene_analysis``'s, the one ``renderq analyze`` runs:
this machine's Blender (or the Maya ASCII parser) when it can, else the farm's. Its
failures are sentences shown in place; the job can still be sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import grpc
from rich.text import Text
from textual.widgets import Static

from renderq.client.scene_analysis import AnalysisFailed, analysed, describe, missing_files
from renderq.tui.app_typed import RenderqAppMixin

if TYPE_CHECKING:
    from renderq.v1 import resources_pb2 as pb
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub


class SceneAnalysisPanel(RenderqAppMixin, Static):
    """What the last analysis said, or why there is none; hidden until one is asked for."""

    DEFAULT_CSS = """
    SceneAnalysisPanel { height: auto; margin-top: 1; padding: 0 1; border-left: tall $primary; }
    SceneAnalysisPanel.-empty { display: none; }
    SceneAnalysisPanel.-failed { border-left: tall $error; color: $text-error; }
    """

    def __init__(self) -> None:
        super().__init__("", id="scene-analysis", classes="-empty", markup=False)
        self.text = ""
        """What the panel says, as plain text (for tests and the top line)."""

    def say(self, text: str | Text, *, failed: bool = False) -> None:
        self.text = str(text)
        self.update(text)
        self.set_class(not self.text, "-empty")
        self.set_class(failed, "-failed")

    def clear(self) -> None:
        self.say("")

    async def analyse(
        self, stub: FarmServiceAsyncStub | None, scene: Path, plugin: str
    ) -> pb.SceneAnalysis | None:
        """``scene`` analysed and shown; None after showing why it could not be."""
        self.say(f"analysing {scene.name}…")
        try:
            analysis = await analysed(stub, scene, plugin)
        except AnalysisFailed as failed:
            self.say(f"cannot analyse {scene.name}: {failed}", failed=True)
            return None
        except grpc.aio.AioRpcError as error:
            message = self.renderq_app.explain(error).message
            self.say(f"the farm cannot analyse {scene.name}: {message}", failed=True)
            return None
        self.say(analysis_text(scene, analysis))
        return analysis


def analysis_text(scene: Path, analysis: pb.SceneAnalysis) -> Text:
    """The analysis as ``renderq analyze`` prints it, under the scene's name, the missing
    files said again at the end in the warning colour."""
    text = Text(f"scene {scene}\n", style="bold")
    text.append("\n".join(describe(analysis)))
    missing = missing_files(analysis)
    if missing:
        warning = f"\nwarning: {len(missing)} missing file(s): {', '.join(missing)}"
        text.append(warning, style="bold yellow")
    return text
