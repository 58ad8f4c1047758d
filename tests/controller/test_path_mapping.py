"""Path mapping: shared storage mounted at different places per OS. The pure rules (with
properties on generated rules and paths), the rules kept by a real controller across a
restart, and the paths of a task rewritten for the OS of the agent it is sent to."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from google.protobuf import struct_pb2
from hypothesis import given
from hypothesis import strategies as st

from renderq.controller.path_mapping import PathMapper, mappers
from renderq.plugins.base import CommandSpec
from renderq.plugins.blender import BlenderPlugin
from renderq.plugins.command import CommandPlugin
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import farm_service_pb2_grpc as fgrpc
from renderq.v1 import resources_pb2 as pb

from .conftest import ScriptedAgent, farm_client, start_controller, stop_controller, until_agent_online
from .test_api import refused


def rule(from_path: str, to_path: str, os: str = "Linux") -> pb.PathMapping:
    return pb.PathMapping(from_path=from_path, to_path=to_path, os=os)


STUDIO = [
    rule("Z:\\projects", "/mnt/projects"),
    rule("\\\\nas\\projects\\", "/mnt/projects/"),
    rule("Z:\\projects\\library", "/mnt/library"),
    rule("/Volumes/projects", "/mnt/projects"),
    rule("/mnt/projects", "Z:\\projects", "Windows"),
    rule("\\\\nas\\projects", "Z:\\projects", "Windows"),
    rule("Z:\\", "/Volumes/z", "Darwin"),
]


@pytest.mark.parametrize(
    ("os", "path", "mapped"),
    [
        ("Linux", "Z:\\projects\\shot\\in.txt", "/mnt/projects/shot/in.txt"),
        ("Linux", "z:/PROJECTS/shot/a.blend", "/mnt/projects/shot/a.blend"),
        ("Linux", "Z:\\projects", "/mnt/projects"),
        ("Linux", "Z:\\projects\\library\\tree.abc", "/mnt/library/tree.abc"),
        ("Linux", "Z:\\projectsX\\a", "Z:\\projectsX\\a"),
        ("Linux", "//NAS/projects/a\\b", "/mnt/projects/a/b"),
        ("Linux", "/Volumes/projects/x.exr", "/mnt/projects/x.exr"),
        ("Linux", "/volumes/projects/x.exr", "/volumes/projects/x.exr"),
        ("Linux", "relative\\x", "relative\\x"),
        ("Windows", "/mnt/projects/a/b.exr", "Z:\\projects\\a\\b.exr"),
        ("Windows", "\\\\nas\\projects/a", "Z:\\projects\\a"),
        ("Windows", "/mnt/projectsX", "/mnt/projectsX"),
        ("Darwin", "z:", "/Volumes/z"),
        ("Darwin", "Z:\\a\\b", "/Volumes/z/a/b"),
        ("FreeBSD", "Z:\\projects\\a", "Z:\\projects\\a"),
    ],
)
def test_the_longest_prefix_at_a_boundary_maps_a_path(os: str, path: str, mapped: str) -> None:
    assert mappers(STUDIO).get(os, PathMapper(())).map_path(path) == mapped


def test_the_rule_used_is_told() -> None:
    linux = mappers(STUDIO)["Linux"]
    assert linux.map_path_and_rule("Z:\\projects\\library\\a") == ("/mnt/library/a", STUDIO[2])
    assert linux.map_path_and_rule("/home/a") == ("/home/a", None)


@pytest.mark.parametrize(
    ("argument", "mapped"),
    [
        ("--scene=Z:\\projects\\a.blend", "--scene=/mnt/projects/a.blend"),
        ("Z:\\projects\\my shot\\a.blend", "/mnt/projects/my shot/a.blend"),
        ("key=value=z:/projects/a", "key=value=/mnt/projects/a"),
        ("copy-of-Z:\\projects\\a", "copy-of-Z:\\projects\\a"),
        ("--note=see Z:\\projects", "--note=see Z:\\projects"),
        ("-f", "-f"),
    ],
)
def test_an_argument_is_mapped_where_a_path_begins(argument: str, mapped: str) -> None:
    assert mappers(STUDIO)["Linux"].map_text(argument) == mapped


def test_path_parameters_are_mapped_before_the_plugin_builds_and_every_argument_after() -> None:
    linux = mappers(STUDIO)["Linux"]
    plugin = BlenderPlugin()
    params = plugin.validate({"scene": "Z:\\projects\\shot.blend", "output": "Z:\\projects\\out\\f_####"})
    mapped = linux.map_parameters(params, plugin.parameters)
    assert mapped["scene"] == "/mnt/projects/shot.blend" and params["scene"] == "Z:\\projects\\shot.blend"
    argv = linux.map_commands(plugin.build_commands(mapped, [1]))[0].argv
    assert argv[2] == "/mnt/projects/shot.blend" and "/mnt/projects/out/f_####" in argv
    command = CommandPlugin()
    params = command.validate({"argv": ["cat", "Z:\\projects\\in.txt"], "outputs": "Z:\\projects\\o{frame}"})
    (spec,) = linux.map_commands(command.build_commands(params, [3]))
    assert spec.argv == ["cat", "/mnt/projects/in.txt"]
    assert [(o.frame, o.path) for o in spec.expected_outputs] == [(3, "/mnt/projects/o3")]


# Properties. Rules map Windows shares and /Volumes/... to /mnt/...: no rule's target is
# under any rule's prefix, as the controller demands of the rules of one OS.
NAMES = st.text(alphabet="abcXYZ019_ .-", min_size=1, max_size=6).filter(lambda n: n.strip(" .") != "")
WINDOWS_PREFIXES = st.one_of(
    st.builds(
        lambda d, names: f"{d}:\\" + "\\".join(names), st.sampled_from("PQpq"), st.lists(NAMES, max_size=2)
    ),
    st.builds(lambda names: "\\\\nas\\" + "\\".join(names), st.lists(NAMES, min_size=1, max_size=2)),
)
POSIX_PREFIXES = st.builds(
    lambda names: "/Volumes/" + "/".join(names), st.lists(NAMES, min_size=1, max_size=2)
)


@st.composite
def linux_rules(draw: st.DrawFn) -> list[pb.PathMapping]:
    prefixes = draw(st.lists(st.one_of(WINDOWS_PREFIXES, POSIX_PREFIXES), min_size=1, max_size=5))
    return [
        rule(p + draw(st.sampled_from(["", "\\" if p[1:2] in (":", "\\") else "/"])), f"/mnt/t{i}")
        for i, p in enumerate(prefixes)
    ]


@st.composite
def scrambled(draw: st.DrawFn, text: str) -> str:
    """``text`` in another case and with either slash, as Windows reads it the same."""
    return "".join(
        draw(st.sampled_from(["\\", "/"])) if c in "\\/" else (c.swapcase() if draw(st.booleans()) else c)
        for c in text
    )


@st.composite
def paths_under(draw: st.DrawFn, rules: list[pb.PathMapping]) -> str:
    prefix = draw(st.sampled_from(rules)).from_path.rstrip("\\/")
    rest = "".join(draw(st.sampled_from(["/", "\\"])) + n for n in draw(st.lists(NAMES, max_size=3)))
    return prefix + rest


@given(st.data())
def test_mapping_twice_is_mapping_once(data: st.DataObject) -> None:
    rules = data.draw(linux_rules())
    path = data.draw(st.one_of(paths_under(rules), NAMES, POSIX_PREFIXES, WINDOWS_PREFIXES))
    linux = PathMapper(rules)
    once = linux.map_path(path)
    assert linux.map_path(once) == once
    assert linux.map_text(linux.map_text(path)) == linux.map_text(path)


@given(linux_rules(), st.lists(NAMES, max_size=3), st.sampled_from(["R:\\", "/home/", "\\\\other\\s\\", ""]))
def test_a_path_no_rule_matches_is_never_changed(
    rules: list[pb.PathMapping], names: list[str], root: str
) -> None:
    path = root + "\\".join(names)
    assert PathMapper(rules).map_path(path) == path
    assert PathMapper(rules).map_text(f"--x={path}") == f"--x={path}"


@given(st.data())
def test_a_prefix_followed_by_more_of_a_name_is_no_match(data: st.DataObject) -> None:
    one = data.draw(linux_rules())[:1]
    path = one[0].from_path.rstrip("\\/") + data.draw(NAMES)
    assert PathMapper(one).map_path(path) == path


@given(st.data())
def test_case_and_slashes_do_not_matter_on_a_windows_side_only(data: st.DataObject) -> None:
    rules = data.draw(linux_rules())
    linux = PathMapper(rules)
    target = data.draw(st.sampled_from(rules))
    path = data.draw(paths_under([target]))
    prefix = target.from_path.rstrip("\\/")
    other = data.draw(scrambled(prefix)) + path[len(prefix) :]
    if target.from_path[1:2] in (":", "\\"):
        assert linux.map_path(other) == linux.map_path(path)
    elif other[: len(prefix)] != prefix:
        assert PathMapper([target]).map_path(other) == other


# The rules kept by the controller, and applied at dispatch.
async def add(stub: fgrpc.FarmServiceStub, from_path: str, to_path: str, os: str) -> pb.PathMapping:
    request = fpb.AddPathMappingRequest(mapping=rule(from_path, to_path, os))
    return (await stub.AddPathMapping(request)).mapping


async def listed(stub: fgrpc.FarmServiceStub) -> list[tuple[str, str, str]]:
    answer = await stub.ListPathMappings(fpb.ListPathMappingsRequest())
    return [(m.os, m.from_path, m.to_path) for m in answer.mappings]


async def test_rules_are_added_replaced_listed_deleted_and_kept_across_a_restart(tmp_path: Path) -> None:
    task, port = await start_controller(tmp_path, [])
    async with farm_client(tmp_path, port) as stub:
        assert await add(stub, "Z:\\projects\\", "/mnt/old", "linux") == rule("Z:\\projects", "/mnt/old")
        await add(stub, "z:/Projects", "/mnt/projects", "LINUX")  # the same place: replaces it
        await add(stub, "/mnt/projects", "Z:\\projects", "Windows")
        await add(stub, "/tmp/gone", "C:\\gone", "windows")
        await stub.DeletePathMapping(fpb.DeletePathMappingRequest(from_path="/tmp/gone/", os="windows"))
        answer = await stub.MapPath(fpb.MapPathRequest(path="Z:\\projects\\a\\b.blend", os="linux"))
        assert (answer.path, answer.mapping.to_path) == ("/mnt/projects/a/b.blend", "/mnt/projects")
        answer = await stub.MapPath(fpb.MapPathRequest(path="/srv/a", os="darwin"))
        assert answer.path == "/srv/a" and not answer.HasField("mapping")
    await stop_controller(task)
    task, port = await start_controller(tmp_path, [])
    async with farm_client(tmp_path, port) as stub:
        expected = [("Linux", "z:/Projects", "/mnt/projects"), ("Windows", "/mnt/projects", "Z:\\projects")]
        assert await listed(stub) == expected
        answer = await stub.MapPath(fpb.MapPathRequest(path="/mnt/projects/a", os="Windows"))
        assert answer.path == "Z:\\projects\\a"
    await stop_controller(task)


REFUSED = [
    (rule("projects", "/mnt/p"), "INVALID_ARGUMENT", "mapping.from_path: 'projects' is not absolute"),
    (rule("", "/mnt/p"), "INVALID_ARGUMENT", "mapping.from_path: give the prefix"),
    (rule("Z:\\p", "/mnt/p", "beos"), "INVALID_ARGUMENT", "mapping.os: must be Linux, Windows or Darwin"),
    (rule("Z:\\p", "Y:\\p"), "INVALID_ARGUMENT", "mapping.to_path: 'Y:\\p' is not a path on Linux"),
    (rule("/mnt/p", "/mnt/p", "Windows"), "INVALID_ARGUMENT", "is not a path on Windows"),
    (rule("Z:\\p\0", "/mnt/p"), "INVALID_ARGUMENT", "mapping.from_path: holds a NUL"),
    (rule("\\\\nas", "/mnt/p"), "INVALID_ARGUMENT", "'\\\\nas' is not absolute"),
    (rule("/srv", "/srv/p"), "INVALID_ARGUMENT", "lie one under the other"),
    (rule("/mnt/x", "/srv"), "FAILED_PRECONDITION", "the rule 'Z:\\a' -> '/mnt' maps would be mapped again"),
    (rule("/srv/x", "/Volumes/p/y"), "FAILED_PRECONDITION", "mapped again by '/Volumes/p' -> '/mnt/vp'"),
]


async def test_rules_that_make_no_sense_are_refused_in_words(tmp_path: Path) -> None:
    task, port = await start_controller(tmp_path, [])
    async with farm_client(tmp_path, port) as stub:
        await add(stub, "Z:\\a", "/mnt", "Linux")
        await add(stub, "/Volumes/p", "/mnt/vp", "Linux")  # the same target is no overlap
        await add(stub, "/mnt/x", "Z:\\p", "Windows")  # another OS: never in the way
        await add(stub, "/Volumes/same", "/Volumes/same", "Darwin")  # a share at one path: onto itself
        for mapping, code, words in REFUSED:
            call = stub.AddPathMapping(fpb.AddPathMappingRequest(mapping=mapping))
            details = await refused(call, getattr(grpc.StatusCode, code))
            assert words in details, details
        request = fpb.DeletePathMappingRequest(from_path="Z:\\b", os="Linux")
        details = await refused(stub.DeletePathMapping(request), grpc.StatusCode.NOT_FOUND)
        assert (
            details
            == "there is no path mapping rule for 'Z:\\b' on Linux; its rules map '/Volumes/p', 'Z:\\a'"
        )
        details = await refused(
            stub.MapPath(fpb.MapPathRequest(path="", os="Linux")), grpc.StatusCode.INVALID_ARGUMENT
        )
        assert details == "path: give the path to map"
        assert len(await listed(stub)) == 4
    await stop_controller(task)


async def test_a_task_is_sent_with_its_paths_as_the_agents_os_mounts_them(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    await until_agent_online(farm_stub)  # a Linux agent
    await add(farm_stub, "Z:\\projects", "/mnt/projects", "Linux")
    await add(farm_stub, "/mnt/projects", "P:\\", "Windows")
    params = struct_pb2.Struct()
    argv = ["cat", "Z:\\projects\\shot\\in.txt", "--log=z:/projects/log.txt", "/mnt/projects/x"]
    params.update({"argv": argv, "outputs": "Z:\\projects\\out_{frame}.png"})
    job = pb.Job(name="t", owner="ana", plugin="command", parameters=params, frames="4")
    job.environment.update({"OCIO": "Z:\\projects\\aces\\config.ocio", "SHOT": "sh010"})
    job = (await farm_stub.CreateJob(fpb.CreateJobRequest(job=job))).job
    assign = (await scripted_agent.next_request("assign")).assign
    assert dict(assign.environment) == {"OCIO": "/mnt/projects/aces/config.ocio", "SHOT": "sh010"}
    (command,) = assign.commands
    assert list(command.argv) == [
        "cat",
        "/mnt/projects/shot/in.txt",
        "--log=/mnt/projects/log.txt",
        "/mnt/projects/x",
    ]
    assert [o.path for o in command.expected_outputs] == ["/mnt/projects/out_4.png"]
    stored = (await farm_stub.GetJob(fpb.GetJobRequest(job_id=job.id))).job
    assert list(stored.parameters["argv"]) == argv, "the job keeps its paths as written"


def test_a_commands_environment_values_are_mapped_too() -> None:
    mapper = PathMapper([rule("Z:\\projects", "/mnt/projects")])
    (mapped,) = mapper.map_commands(
        [CommandSpec(["true"], [1], environment={"OCIO": "Z:\\projects\\aces.ocio"})]
    )
    assert mapped.environment == {"OCIO": "/mnt/projects/aces.ocio"}
