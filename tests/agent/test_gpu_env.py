"""The GPUs given to a task reach it as CUDA_VISIBLE_DEVICES and the ``{gpus}`` token;
a task given none keeps the environment it would have had."""

from __future__ import annotations

import pytest

from renderq.agent.task_setup import fill_tokens, gpu_environment
from renderq.plugins.base import ParameterError
from renderq.plugins.command import CommandPlugin
from renderq.plugins.template import check_template, uses_agent_token
from renderq.v1 import agent_service_pb2 as apb
from tests.agent.conftest import FakeController

PRINT_GPUS = 'echo "cuda=[$CUDA_VISIBLE_DEVICES] order=[$CUDA_DEVICE_ORDER] gpus=[$1]"'


def command_task(attempt_id: int, gpus: list[int], environment: dict[str, str]) -> apb.AssignTask:
    """An assignment as the controller builds one for a ``command`` job that prints its GPUs."""
    plugin = CommandPlugin()
    params = plugin.validate({"argv": ["sh", "-c", PRINT_GPUS, "sh", "{gpus}"]})
    return apb.AssignTask(
        attempt_id=attempt_id,
        task_id=attempt_id,
        job_id=3,
        plugin=plugin.name,
        commands=[apb.Command(argv=c.argv, frames=c.frames) for c in plugin.build_commands(params, [1])],
        environment=environment,
        gpu_indices=gpus,
    )


def test_given_gpus_are_comma_joined_in_pci_order() -> None:
    assert gpu_environment("0,2") == {"CUDA_VISIBLE_DEVICES": "0,2", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}


def test_no_gpus_leave_the_environment_alone() -> None:
    assert gpu_environment("") == {}


def test_gpus_token_is_filled_like_the_other_agent_tokens() -> None:
    tokens = {"{gpus}": "1,3", "{renders}": "/w/renders"}
    assert (
        fill_tokens("--devices={gpus} {renders}/f{frame:04d}", tokens)
        == "--devices=1,3 /w/renders/f{frame:04d}"
    )
    assert fill_tokens("--devices={gpus}", {"{gpus}": ""}) == "--devices="


def test_gpus_token_is_accepted_in_commands_but_is_no_place() -> None:
    check_template("argv", "--gpus={gpus}", ())
    with pytest.raises(ParameterError, match="takes no format spec"):
        check_template("argv", "{gpus:02d}", ())
    assert not uses_agent_token("{gpus}/scene.blend")
    assert uses_agent_token("{project}/scene.blend")


async def test_a_task_given_gpus_sees_only_those(controller: FakeController) -> None:
    # The job's own value is overridden: the controller gave this task GPUs 1 and 3 alone.
    await controller.assign(command_task(501, [1, 3], {"CUDA_VISIBLE_DEVICES": "0,1,2,3"}))
    finished = await controller.finished(501)

    assert finished.exit_code == 0, finished.error_message
    assert "cuda=[1,3] order=[PCI_BUS_ID] gpus=[1,3]" in controller.log(501)


async def test_a_task_given_no_gpus_keeps_the_jobs_setting(controller: FakeController) -> None:
    await controller.assign(command_task(502, [], {"CUDA_VISIBLE_DEVICES": "5"}))
    finished = await controller.finished(502)

    assert finished.exit_code == 0, finished.error_message
    log = controller.log(502)
    assert "cuda=[5]" in log
    assert "gpus=[]" in log
