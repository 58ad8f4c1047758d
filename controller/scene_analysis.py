"""AnalyzeScene: what a scene file says about itself (frame range, cameras, the files it
needs), read by whatever can read it.

A Maya ASCII scene is text, parsed here without Maya. A .blend file is read only by
Blender, which the controller need not have: an online agent that has it is asked over its
link, with a request id and a deadline, like a cleanup. An uploaded scene is a blob the
agent fetches over that link, so until the answer comes that agent may read that blob too
(``blobs_for``), though no job of it names the blob.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import Counter
from collections.abc import Collection
from pathlib import PurePosixPath

from renderq.controller.blob_store import BlobStore, Key, check_ref, key_of
from renderq.controller.errors import InvalidField, NoSuchResource, NotPossibleNow
from renderq.controller.farm_state import FarmState
from renderq.controller.model import Agent
from renderq.plugins.maya_ascii import parse_maya_ascii
from renderq.regular_files import open_regular
from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

log = logging.getLogger(__name__)

REPLY_TIMEOUT = 60.0
"""Seconds an agent has to analyse a scene (Blender opening a large one with its libraries)."""
MAX_TEXT_BYTES = 512 << 20
"""Most bytes of a Maya ASCII scene parsed here (a heavy .ma with baked caches is large)."""
PLUGIN_OF = {".blend": "blender", ".ma": "maya"}
"""A scene's extension -> the plugin that renders it; the scenes analysed."""
APPLICATION_OF = {
    ".c4d": "Cinema 4D", ".mb": "Maya (save it as Maya ASCII, .ma, to have it analysed)",
    ".max": "3ds Max", ".aep": "After Effects", ".hip": "Houdini", ".hiplc": "Houdini",
    ".uproject": "Unreal Engine", ".nk": "Nuke",
}  # fmt: skip
"""Scenes that only their own application reads, for the sentence that refuses them."""
UNCHECKED = "the files were not looked for: the controller may not see the storage the scene names"


class SceneAnalyses:
    """The analyses under way: each agent's answer is routed here by request id."""

    def __init__(self, state: FarmState, blobs: BlobStore) -> None:
        self._state = state
        self._blobs = blobs
        self._request_ids = itertools.count(1)
        self._waiting: dict[tuple[int, str], asyncio.Future[apb.SceneAnalyzed]] = {}
        """(request id, agent id) -> the answer that agent owes."""
        self._lent: dict[str, Counter[Key]] = {}
        """Agent id -> the blobs of the analyses it was asked for and has not answered."""

    def blobs_for(self, agent_id: str) -> Collection[Key]:
        """The blobs ``agent_id`` may read for the analyses it was asked for."""
        return self._lent.get(agent_id, Counter()).keys()

    async def analyse(self, request: fpb.AnalyzeSceneRequest) -> pb.SceneAnalysis:
        """The analysis of the scene ``request`` names. Raises InvalidField, NoSuchResource
        or NotPossibleNow with a sentence."""
        name = self._checked(request)
        suffix = PurePosixPath(name).suffix.lower()
        plugin = PLUGIN_OF.get(suffix)
        if plugin is None:
            application = APPLICATION_OF.get(suffix)
            if application is not None:
                raise NotPossibleNow(f"cannot analyse {suffix} files without {application}")
            raise NotPossibleNow(
                f"cannot analyse {name!r}: only Blender (.blend) and Maya ASCII (.ma) scenes are analysed"
            )
        if request.plugin and request.plugin != plugin:
            raise InvalidField("plugin", f"{name} is a {plugin} scene, not a {request.plugin} one")
        if plugin == "maya":
            text = await asyncio.to_thread(self._text, request)
            analysis = parse_maya_ascii(text)
            if analysis.files:
                analysis.warnings.append(UNCHECKED)
            return analysis
        return await self._ask_an_agent(request, name)

    def _checked(self, request: fpb.AnalyzeSceneRequest) -> str:
        """The scene's file name, once the request names one scene in one way."""
        if bool(request.path) == request.HasField("blob"):
            raise InvalidField("path", "name the scene by a path or by an uploaded blob (with its name); one")
        if request.path:
            if "\0" in request.path or not PurePosixPath(request.path).is_absolute():
                raise InvalidField("path", f"{request.path!r} is not an absolute path")
            return PurePosixPath(request.path).name
        check_ref(request.blob)
        pure = PurePosixPath(request.name)
        if not request.name or pure.name != request.name or "\0" in request.name or "\\" in request.name:
            raise InvalidField("name", f"{request.name!r} is not a plain file name (shot.blend)")
        if not self._blobs.has(request.blob):
            raise NoSuchResource(
                f"the controller has no blob {request.blob.xxh3_128}: upload the scene first"
            )
        return request.name

    def _text(self, request: fpb.AnalyzeSceneRequest) -> str:
        """The Maya ASCII text, from the blob store or the path (a regular file, no link)."""
        if request.path:
            try:
                with open_regular(request.path) as scene:
                    data = scene.read(MAX_TEXT_BYTES + 1)
            except OSError as exc:
                raise NotPossibleNow(
                    f"the controller cannot read {request.path}: {exc.strerror or exc}; upload the scene"
                ) from None
        else:
            data = self._blobs.read(request.blob, 0, MAX_TEXT_BYTES + 1)
        if len(data) > MAX_TEXT_BYTES:
            raise NotPossibleNow(
                f"the scene is larger than {MAX_TEXT_BYTES >> 20} MiB, too large to parse here"
            )
        return data.decode("utf-8", errors="replace")

    async def _ask_an_agent(self, request: fpb.AnalyzeSceneRequest, name: str) -> pb.SceneAnalysis:
        agent = self._agent_with("blender")
        link = self._state.links[agent.id]
        request_id = next(self._request_ids)
        future = self._waiting[(request_id, agent.id)] = asyncio.get_running_loop().create_future()
        asked = apb.AnalyzeScene(request_id=request_id, plugin="blender", path=request.path)
        lent = self._lent.setdefault(agent.id, Counter())
        if request.HasField("blob"):
            asked.blob.CopyFrom(request.blob)
            asked.name = name
            lent[key_of(request.blob)] += 1
        log.info("analysis asked request=%d agent=%s scene=%s", request_id, agent.id, name)
        try:
            link.send(apb.LinkRequest(analyze=asked))
            async with asyncio.timeout(REPLY_TIMEOUT):
                answer = await future
        except TimeoutError:
            raise NotPossibleNow(
                f"agent {agent.id} did not analyse {name} within {REPLY_TIMEOUT:g} s"
            ) from None
        finally:
            del self._waiting[(request_id, agent.id)]
            if request.HasField("blob"):
                lent[key_of(request.blob)] -= 1
                lent += Counter()  # drops the keys no analysis needs any more
        if answer.error:
            raise NotPossibleNow(f"agent {agent.id} could not analyse {name}: {answer.error}")
        return answer.analysis

    def _agent_with(self, renderer: str) -> Agent:
        """The online agent that has ``renderer`` and runs the fewest attempts."""
        able = [
            agent
            for agent in self._state.agents.values()
            if agent.online
            and agent.id in self._state.links
            and any(r.name == renderer for r in agent.hardware.renderers)
        ]
        if not able:
            raise NotPossibleNow(f"no online agent has {renderer} to analyse the scene")
        return min(able, key=lambda agent: (len(agent.holds), agent.id))

    def answered(self, agent_id: str, analyzed: apb.SceneAnalyzed) -> None:
        """An agent's answer (its link read it): to the analysis that waits for it, if any still does."""
        future = self._waiting.get((analyzed.request_id, agent_id))
        if future is None or future.done():
            log.info("analysis answer came too late request=%d agent=%s", analyzed.request_id, agent_id)
            return
        future.set_result(analyzed)
