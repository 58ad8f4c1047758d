import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from renderq.v1 import resources_pb2 as _resources_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LinkRequest(_message.Message):
    __slots__ = ("hello", "assign", "cancel", "ack", "drain", "proof", "cleanup", "blob", "want_output", "analyze", "assign_many")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    ASSIGN_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    DRAIN_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    CLEANUP_FIELD_NUMBER: _ClassVar[int]
    BLOB_FIELD_NUMBER: _ClassVar[int]
    WANT_OUTPUT_FIELD_NUMBER: _ClassVar[int]
    ANALYZE_FIELD_NUMBER: _ClassVar[int]
    ASSIGN_MANY_FIELD_NUMBER: _ClassVar[int]
    hello: ControllerHello
    assign: AssignTask
    cancel: CancelTask
    ack: Ack
    drain: Drain
    proof: ControllerProof
    cleanup: CleanupWorkspaces
    blob: BlobChunk
    want_output: OutputWanted
    analyze: AnalyzeScene
    assign_many: AssignTasks
    def __init__(self, hello: _Optional[_Union[ControllerHello, _Mapping]] = ..., assign: _Optional[_Union[AssignTask, _Mapping]] = ..., cancel: _Optional[_Union[CancelTask, _Mapping]] = ..., ack: _Optional[_Union[Ack, _Mapping]] = ..., drain: _Optional[_Union[Drain, _Mapping]] = ..., proof: _Optional[_Union[ControllerProof, _Mapping]] = ..., cleanup: _Optional[_Union[CleanupWorkspaces, _Mapping]] = ..., blob: _Optional[_Union[BlobChunk, _Mapping]] = ..., want_output: _Optional[_Union[OutputWanted, _Mapping]] = ..., analyze: _Optional[_Union[AnalyzeScene, _Mapping]] = ..., assign_many: _Optional[_Union[AssignTasks, _Mapping]] = ...) -> None: ...

class LinkResponse(_message.Message):
    __slots__ = ("hello", "events", "heartbeat", "goodbye", "cleaned", "want_blob", "output", "analyzed")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    GOODBYE_FIELD_NUMBER: _ClassVar[int]
    CLEANED_FIELD_NUMBER: _ClassVar[int]
    WANT_BLOB_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    ANALYZED_FIELD_NUMBER: _ClassVar[int]
    hello: AgentHello
    events: AgentEvents
    heartbeat: Heartbeat
    goodbye: AgentGoodbye
    cleaned: CleanupDone
    want_blob: BlobWanted
    output: BlobChunk
    analyzed: SceneAnalyzed
    def __init__(self, hello: _Optional[_Union[AgentHello, _Mapping]] = ..., events: _Optional[_Union[AgentEvents, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., goodbye: _Optional[_Union[AgentGoodbye, _Mapping]] = ..., cleaned: _Optional[_Union[CleanupDone, _Mapping]] = ..., want_blob: _Optional[_Union[BlobWanted, _Mapping]] = ..., output: _Optional[_Union[BlobChunk, _Mapping]] = ..., analyzed: _Optional[_Union[SceneAnalyzed, _Mapping]] = ...) -> None: ...

class AgentGoodbye(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class AgentEvents(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[AgentEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[AgentEvent, _Mapping]]] = ...) -> None: ...

class ControllerHello(_message.Message):
    __slots__ = ("controller_id", "version", "nonce")
    CONTROLLER_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    controller_id: str
    version: str
    nonce: bytes
    def __init__(self, controller_id: _Optional[str] = ..., version: _Optional[str] = ..., nonce: _Optional[bytes] = ...) -> None: ...

class ControllerProof(_message.Message):
    __slots__ = ("proof",)
    PROOF_FIELD_NUMBER: _ClassVar[int]
    proof: bytes
    def __init__(self, proof: _Optional[bytes] = ...) -> None: ...

class AgentHello(_message.Message):
    __slots__ = ("agent_id", "version", "session_id", "hardware", "slots", "pool", "tags", "known_attempt_ids", "port", "cost_per_hour", "nonce", "proof", "allowed_plugins", "takes_assign_many")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    HARDWARE_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    KNOWN_ATTEMPT_IDS_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    COST_PER_HOUR_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_PLUGINS_FIELD_NUMBER: _ClassVar[int]
    TAKES_ASSIGN_MANY_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    version: str
    session_id: str
    hardware: _resources_pb2.Hardware
    slots: int
    pool: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    known_attempt_ids: _containers.RepeatedScalarFieldContainer[int]
    port: int
    cost_per_hour: float
    nonce: bytes
    proof: bytes
    allowed_plugins: _containers.RepeatedScalarFieldContainer[str]
    takes_assign_many: bool
    def __init__(self, agent_id: _Optional[str] = ..., version: _Optional[str] = ..., session_id: _Optional[str] = ..., hardware: _Optional[_Union[_resources_pb2.Hardware, _Mapping]] = ..., slots: _Optional[int] = ..., pool: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., known_attempt_ids: _Optional[_Iterable[int]] = ..., port: _Optional[int] = ..., cost_per_hour: _Optional[float] = ..., nonce: _Optional[bytes] = ..., proof: _Optional[bytes] = ..., allowed_plugins: _Optional[_Iterable[str]] = ..., takes_assign_many: _Optional[bool] = ...) -> None: ...

class Command(_message.Message):
    __slots__ = ("argv", "frames", "expected_outputs", "environment")
    class EnvironmentEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ARGV_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    argv: _containers.RepeatedScalarFieldContainer[str]
    frames: _containers.RepeatedScalarFieldContainer[int]
    expected_outputs: _containers.RepeatedCompositeFieldContainer[ExpectedOutput]
    environment: _containers.ScalarMap[str, str]
    def __init__(self, argv: _Optional[_Iterable[str]] = ..., frames: _Optional[_Iterable[int]] = ..., expected_outputs: _Optional[_Iterable[_Union[ExpectedOutput, _Mapping]]] = ..., environment: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ExpectedOutput(_message.Message):
    __slots__ = ("frame", "path")
    FRAME_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    frame: int
    path: str
    def __init__(self, frame: _Optional[int] = ..., path: _Optional[str] = ...) -> None: ...

class AssignTask(_message.Message):
    __slots__ = ("attempt_id", "task_id", "job_id", "plugin", "commands", "environment", "timeout", "gpu_indices", "owner", "files", "shares", "queued")
    class EnvironmentEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ATTEMPT_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    PLUGIN_FIELD_NUMBER: _ClassVar[int]
    COMMANDS_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    GPU_INDICES_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    SHARES_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    attempt_id: int
    task_id: int
    job_id: int
    plugin: str
    commands: _containers.RepeatedCompositeFieldContainer[Command]
    environment: _containers.ScalarMap[str, str]
    timeout: _duration_pb2.Duration
    gpu_indices: _containers.RepeatedScalarFieldContainer[int]
    owner: str
    files: _containers.RepeatedCompositeFieldContainer[_resources_pb2.FileEntry]
    shares: _containers.RepeatedScalarFieldContainer[str]
    queued: bool
    def __init__(self, attempt_id: _Optional[int] = ..., task_id: _Optional[int] = ..., job_id: _Optional[int] = ..., plugin: _Optional[str] = ..., commands: _Optional[_Iterable[_Union[Command, _Mapping]]] = ..., environment: _Optional[_Mapping[str, str]] = ..., timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., gpu_indices: _Optional[_Iterable[int]] = ..., owner: _Optional[str] = ..., files: _Optional[_Iterable[_Union[_resources_pb2.FileEntry, _Mapping]]] = ..., shares: _Optional[_Iterable[str]] = ..., queued: _Optional[bool] = ...) -> None: ...

class AssignTasks(_message.Message):
    __slots__ = ("tasks",)
    TASKS_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[AssignTask]
    def __init__(self, tasks: _Optional[_Iterable[_Union[AssignTask, _Mapping]]] = ...) -> None: ...

class CleanupWorkspaces(_message.Message):
    __slots__ = ("request_id", "job_ids")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_IDS_FIELD_NUMBER: _ClassVar[int]
    request_id: int
    job_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, request_id: _Optional[int] = ..., job_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class CleanupDone(_message.Message):
    __slots__ = ("request_id", "workspaces_removed", "bytes_freed", "error")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACES_REMOVED_FIELD_NUMBER: _ClassVar[int]
    BYTES_FREED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    request_id: int
    workspaces_removed: int
    bytes_freed: int
    error: str
    def __init__(self, request_id: _Optional[int] = ..., workspaces_removed: _Optional[int] = ..., bytes_freed: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...

class BlobWanted(_message.Message):
    __slots__ = ("blob", "offset")
    BLOB_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    blob: _resources_pb2.BlobRef
    offset: int
    def __init__(self, blob: _Optional[_Union[_resources_pb2.BlobRef, _Mapping]] = ..., offset: _Optional[int] = ...) -> None: ...

class BlobChunk(_message.Message):
    __slots__ = ("blob", "offset", "data", "error")
    BLOB_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    blob: _resources_pb2.BlobRef
    offset: int
    data: bytes
    error: str
    def __init__(self, blob: _Optional[_Union[_resources_pb2.BlobRef, _Mapping]] = ..., offset: _Optional[int] = ..., data: _Optional[bytes] = ..., error: _Optional[str] = ...) -> None: ...

class OutputWanted(_message.Message):
    __slots__ = ("job_id", "owner", "path", "blob", "offset")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    BLOB_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    owner: str
    path: str
    blob: _resources_pb2.BlobRef
    offset: int
    def __init__(self, job_id: _Optional[int] = ..., owner: _Optional[str] = ..., path: _Optional[str] = ..., blob: _Optional[_Union[_resources_pb2.BlobRef, _Mapping]] = ..., offset: _Optional[int] = ...) -> None: ...

class CancelTask(_message.Message):
    __slots__ = ("attempt_id", "reason")
    ATTEMPT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    attempt_id: int
    reason: str
    def __init__(self, attempt_id: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class Ack(_message.Message):
    __slots__ = ("sequence",)
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    def __init__(self, sequence: _Optional[int] = ...) -> None: ...

class Drain(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("load", "running_attempt_ids")
    LOAD_FIELD_NUMBER: _ClassVar[int]
    RUNNING_ATTEMPT_IDS_FIELD_NUMBER: _ClassVar[int]
    load: _resources_pb2.Load
    running_attempt_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, load: _Optional[_Union[_resources_pb2.Load, _Mapping]] = ..., running_attempt_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class AgentEvent(_message.Message):
    __slots__ = ("sequence", "time", "attempt_id", "started", "log", "progress", "frame_completed", "finished")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_ID_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    LOG_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    FRAME_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    time: _timestamp_pb2.Timestamp
    attempt_id: int
    started: TaskStarted
    log: LogChunk
    progress: TaskProgress
    frame_completed: FrameCompleted
    finished: TaskFinished
    def __init__(self, sequence: _Optional[int] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., attempt_id: _Optional[int] = ..., started: _Optional[_Union[TaskStarted, _Mapping]] = ..., log: _Optional[_Union[LogChunk, _Mapping]] = ..., progress: _Optional[_Union[TaskProgress, _Mapping]] = ..., frame_completed: _Optional[_Union[FrameCompleted, _Mapping]] = ..., finished: _Optional[_Union[TaskFinished, _Mapping]] = ...) -> None: ...

class TaskStarted(_message.Message):
    __slots__ = ("pid", "workspace")
    PID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    pid: int
    workspace: str
    def __init__(self, pid: _Optional[int] = ..., workspace: _Optional[str] = ...) -> None: ...

class LogChunk(_message.Message):
    __slots__ = ("data", "offset")
    DATA_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    offset: int
    def __init__(self, data: _Optional[bytes] = ..., offset: _Optional[int] = ...) -> None: ...

class TaskProgress(_message.Message):
    __slots__ = ("frame", "frame_progress")
    FRAME_FIELD_NUMBER: _ClassVar[int]
    FRAME_PROGRESS_FIELD_NUMBER: _ClassVar[int]
    frame: int
    frame_progress: float
    def __init__(self, frame: _Optional[int] = ..., frame_progress: _Optional[float] = ...) -> None: ...

class FrameCompleted(_message.Message):
    __slots__ = ("frame", "outputs", "render_time", "thumbnails", "warnings")
    FRAME_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    RENDER_TIME_FIELD_NUMBER: _ClassVar[int]
    THUMBNAILS_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    frame: int
    outputs: _containers.RepeatedCompositeFieldContainer[_resources_pb2.OutputFile]
    render_time: _duration_pb2.Duration
    thumbnails: _containers.RepeatedCompositeFieldContainer[Thumbnail]
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, frame: _Optional[int] = ..., outputs: _Optional[_Iterable[_Union[_resources_pb2.OutputFile, _Mapping]]] = ..., render_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., thumbnails: _Optional[_Iterable[_Union[Thumbnail, _Mapping]]] = ..., warnings: _Optional[_Iterable[str]] = ...) -> None: ...

class Thumbnail(_message.Message):
    __slots__ = ("path", "png")
    PATH_FIELD_NUMBER: _ClassVar[int]
    PNG_FIELD_NUMBER: _ClassVar[int]
    path: str
    png: bytes
    def __init__(self, path: _Optional[str] = ..., png: _Optional[bytes] = ...) -> None: ...

class AnalyzeScene(_message.Message):
    __slots__ = ("request_id", "plugin", "path", "blob", "name")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PLUGIN_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    BLOB_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    request_id: int
    plugin: str
    path: str
    blob: _resources_pb2.BlobRef
    name: str
    def __init__(self, request_id: _Optional[int] = ..., plugin: _Optional[str] = ..., path: _Optional[str] = ..., blob: _Optional[_Union[_resources_pb2.BlobRef, _Mapping]] = ..., name: _Optional[str] = ...) -> None: ...

class SceneAnalyzed(_message.Message):
    __slots__ = ("request_id", "analysis", "error")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ANALYSIS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    request_id: int
    analysis: _resources_pb2.SceneAnalysis
    error: str
    def __init__(self, request_id: _Optional[int] = ..., analysis: _Optional[_Union[_resources_pb2.SceneAnalysis, _Mapping]] = ..., error: _Optional[str] = ...) -> None: ...

class TaskFinished(_message.Message):
    __slots__ = ("exit_code", "error_message", "failed_frames", "duration", "cpu_time", "peak_rss_bytes", "cancelled", "timed_out", "out_of_memory")
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FAILED_FRAMES_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    CPU_TIME_FIELD_NUMBER: _ClassVar[int]
    PEAK_RSS_BYTES_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    TIMED_OUT_FIELD_NUMBER: _ClassVar[int]
    OUT_OF_MEMORY_FIELD_NUMBER: _ClassVar[int]
    exit_code: int
    error_message: str
    failed_frames: _containers.RepeatedScalarFieldContainer[int]
    duration: _duration_pb2.Duration
    cpu_time: _duration_pb2.Duration
    peak_rss_bytes: int
    cancelled: bool
    timed_out: bool
    out_of_memory: bool
    def __init__(self, exit_code: _Optional[int] = ..., error_message: _Optional[str] = ..., failed_frames: _Optional[_Iterable[int]] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., cpu_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., peak_rss_bytes: _Optional[int] = ..., cancelled: _Optional[bool] = ..., timed_out: _Optional[bool] = ..., out_of_memory: _Optional[bool] = ...) -> None: ...
