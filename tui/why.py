"""Why a job (or the frame under the cursor) is not running, in words (``w``).

The controller answers ExplainJob from the rules its scheduler decides with; this says
what ``renderq why JOB [FRAME]`` says: what holds the job back first, then each agent
and the first reason it is passed over ("could take a task now" when none is). On the
job screen the frame under the cursor is asked about too, and its answer is added when
it is its own (a frame that runs, is done or failed): a waiting frame waits for what
the job waits for, and that is said once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.text import Text

from renderq.v1 import farm_service_pb2 as fpb

if TYPE_CHECKING:
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub

Answer = tuple[str, fpb.ExplainJobResponse]
"""What was asked about (``job 12``, ``frame 3 of job 12``) and the controller's answer."""

CAN_RUN = "could take a task now"


async def ask_why(stub: FarmServiceAsyncStub, job_id: int, frame: int | None = None) -> list[Answer]:
    """The job's answer, then the frame's when one is given and its answer differs."""
    answers = [(f"job {job_id}", await stub.ExplainJob(fpb.ExplainJobRequest(job_id=job_id)))]
    if frame is not None:
        own = await stub.ExplainJob(fpb.ExplainJobRequest(job_id=job_id, frame=frame))
        if own != answers[0][1]:
            answers.append((f"frame {frame} of job {job_id}", own))
    return answers


def why_text(answers: Sequence[Answer], frame: int | None = None) -> Text:
    """Each answer: its reasons, one a line, then a line per agent with its first reason.
    ``frame``: the frame that was asked about too; named when it has no answer of its own."""
    text = Text()
    for i, (what, answer) in enumerate(answers):
        if i:
            text.append("\n")
        for reason in answer.reasons:
            text.append(f"{what}: ", style="bold")
            text.append(f"{reason}\n", style="yellow")
        if not answer.reasons and not answer.agents:
            text.append(f"{what}: ", style="bold")
            text.append("nothing holds it back; it starts at the next dispatch\n", style="green")
        if answer.agents:
            width = max(len("AGENT"), *(len(v.agent_id) for v in answer.agents))
            text.append(f"{'AGENT':<{width}}  WHY NOT\n", style="bold")
            for verdict in answer.agents:
                text.append(f"{verdict.agent_id:<{width}}  ")
                text.append(f"{verdict.reason or CAN_RUN}\n", style="" if verdict.reason else "green")
    if frame is not None and len(answers) == 1:
        text.append(f"\nframe {frame} (under the cursor) waits for the same", style="dim")
    text.rstrip()
    return text
