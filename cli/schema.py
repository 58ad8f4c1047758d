"""The farm's plugin schemas, as the controller lists them: which parameters are paths
(judged where the user typed them) and which are integers (printed as integers)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from renderq.v1 import farm_service_pb2 as fpb

if TYPE_CHECKING:
    from renderq.cli.output import ParameterTypes
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub


async def parameter_types(stub: FarmServiceAsyncStub) -> ParameterTypes:
    """Per plugin, each parameter's ``ParameterType``, from ListPlugins. The controller's
    schema, not this machine's plugins: the two may be of different renderq versions."""
    plugins = (await stub.ListPlugins(fpb.ListPluginsRequest())).plugins
    return {plugin.name: {p.name: p.type for p in plugin.parameters} for plugin in plugins}


def path_parameters(types: ParameterTypes, plugin: str) -> list[str]:
    """The parameters of ``plugin`` that name files; none for a plugin the farm does not
    know (the controller then refuses the job itself)."""
    return [name for name, kind in types.get(plugin, {}).items() if kind == fpb.PARAMETER_TYPE_PATH]
