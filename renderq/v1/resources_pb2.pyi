import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_WAITING: _ClassVar[JobState]
    JOB_STATE_QUEUED: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_SUSPENDED: _ClassVar[JobState]
    JOB_STATE_COMPLETED: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]
    JOB_STATE_CANCELLED: _ClassVar[JobState]
    JOB_STATE_BLOCKED: _ClassVar[JobState]

class TaskState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TASK_STATE_UNSPECIFIED: _ClassVar[TaskState]
    TASK_STATE_PENDING: _ClassVar[TaskState]
    TASK_STATE_ASSIGNED: _ClassVar[TaskState]
    TASK_STATE_RUNNING: _ClassVar[TaskState]
    TASK_STATE_COMPLETED: _ClassVar[TaskState]
    TASK_STATE_FAILED: _ClassVar[TaskState]
    TASK_STATE_CANCELLED: _ClassVar[TaskState]
    TASK_STATE_SUSPENDED: _ClassVar[TaskState]

class FrameState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FRAME_STATE_UNSPECIFIED: _ClassVar[FrameState]
    FRAME_STATE_PENDING: _ClassVar[FrameState]
    FRAME_STATE_ASSIGNED: _ClassVar[FrameState]
    FRAME_STATE_RENDERING: _ClassVar[FrameState]
    FRAME_STATE_COMPLETED: _ClassVar[FrameState]
    FRAME_STATE_FAILED: _ClassVar[FrameState]
    FRAME_STATE_CANCELLED: _ClassVar[FrameState]
    FRAME_STATE_SUSPENDED: _ClassVar[FrameState]

class AgentStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AGENT_STATUS_UNSPECIFIED: _ClassVar[AgentStatus]
    AGENT_STATUS_ONLINE: _ClassVar[AgentStatus]
    AGENT_STATUS_OFFLINE: _ClassVar[AgentStatus]

class AgentMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AGENT_MODE_UNSPECIFIED: _ClassVar[AgentMode]
    AGENT_MODE_ENABLED: _ClassVar[AgentMode]
    AGENT_MODE_DISABLED: _ClassVar[AgentMode]
    AGENT_MODE_DRAINING: _ClassVar[AgentMode]

class OutputStorage(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTPUT_STORAGE_UNSPECIFIED: _ClassVar[OutputStorage]
    OUTPUT_STORAGE_PENDING: _ClassVar[OutputStorage]
    OUTPUT_STORAGE_CONTROLLER: _ClassVar[OutputStorage]
    OUTPUT_STORAGE_KEPT: _ClassVar[OutputStorage]
    OUTPUT_STORAGE_FAILED: _ClassVar[OutputStorage]

class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLE_UNSPECIFIED: _ClassVar[Role]
    ROLE_VIEWER: _ClassVar[Role]
    ROLE_OPERATOR: _ClassVar[Role]
    ROLE_ADMIN: _ClassVar[Role]
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_WAITING: JobState
JOB_STATE_QUEUED: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_SUSPENDED: JobState
JOB_STATE_COMPLETED: JobState
JOB_STATE_FAILED: JobState
JOB_STATE_CANCELLED: JobState
JOB_STATE_BLOCKED: JobState
TASK_STATE_UNSPECIFIED: TaskState
TASK_STATE_PENDING: TaskState
TASK_STATE_ASSIGNED: TaskState
TASK_STATE_RUNNING: TaskState
TASK_STATE_COMPLETED: TaskState
TASK_STATE_FAILED: TaskState
TASK_STATE_CANCELLED: TaskState
TASK_STATE_SUSPENDED: TaskState
FRAME_STATE_UNSPECIFIED: FrameState
FRAME_STATE_PENDING: FrameState
FRAME_STATE_ASSIGNED: FrameState
FRAME_STATE_RENDERING: FrameState
FRAME_STATE_COMPLETED: FrameState
FRAME_STATE_FAILED: FrameState
FRAME_STATE_CANCELLED: FrameState
FRAME_STATE_SUSPENDED: FrameState
AGENT_STATUS_UNSPECIFIED: AgentStatus
AGENT_STATUS_ONLINE: AgentStatus
AGENT_STATUS_OFFLINE: AgentStatus
AGENT_MODE_UNSPECIFIED: AgentMode
AGENT_MODE_ENABLED: AgentMode
AGENT_MODE_DISABLED: AgentMode
AGENT_MODE_DRAINING: AgentMode
OUTPUT_STORAGE_UNSPECIFIED: OutputStorage
OUTPUT_STORAGE_PENDING: OutputStorage
OUTPUT_STORAGE_CONTROLLER: OutputStorage
OUTPUT_STORAGE_KEPT: OutputStorage
OUTPUT_STORAGE_FAILED: OutputStorage
ROLE_UNSPECIFIED: Role
ROLE_VIEWER: Role
ROLE_OPERATOR: Role
ROLE_ADMIN: Role

class Requirements(_message.Message):
    __slots__ = ("min_cpu_cores", "min_ram_bytes", "min_gpu_count", "min_gpu_memory_bytes", "os", "renderers", "tags")
    MIN_CPU_CORES_FIELD_NUMBER: _ClassVar[int]
    MIN_RAM_BYTES_FIELD_NUMBER: _ClassVar[int]
    MIN_GPU_COUNT_FIELD_NUMBER: _ClassVar[int]
    MIN_GPU_MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    OS_FIELD_NUMBER: _ClassVar[int]
    RENDERERS_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    min_cpu_cores: int
    min_ram_bytes: int
    min_gpu_count: int
    min_gpu_memory_bytes: int
    os: str
    renderers: _containers.RepeatedScalarFieldContainer[str]
    tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, min_cpu_cores: _Optional[int] = ..., min_ram_bytes: _Optional[int] = ..., min_gpu_count: _Optional[int] = ..., min_gpu_memory_bytes: _Optional[int] = ..., os: _Optional[str] = ..., renderers: _Optional[_Iterable[str]] = ..., tags: _Optional[_Iterable[str]] = ...) -> None: ...

class TaskReservation(_message.Message):
    __slots__ = ("cores", "memory_bytes", "gpus")
    CORES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    GPUS_FIELD_NUMBER: _ClassVar[int]
    cores: int
    memory_bytes: int
    gpus: int
    def __init__(self, cores: _Optional[int] = ..., memory_bytes: _Optional[int] = ..., gpus: _Optional[int] = ...) -> None: ...

class OutputFile(_message.Message):
    __slots__ = ("path", "size_bytes", "xxh3_128", "storage", "object_url", "storage_error", "download_url", "thumbnail")
    PATH_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    XXH3_128_FIELD_NUMBER: _ClassVar[int]
    STORAGE_FIELD_NUMBER: _ClassVar[int]
    OBJECT_URL_FIELD_NUMBER: _ClassVar[int]
    STORAGE_ERROR_FIELD_NUMBER: _ClassVar[int]
    DOWNLOAD_URL_FIELD_NUMBER: _ClassVar[int]
    THUMBNAIL_FIELD_NUMBER: _ClassVar[int]
    path: str
    size_bytes: int
    xxh3_128: str
    storage: OutputStorage
    object_url: str
    storage_error: str
    download_url: str
    thumbnail: BlobRef
    def __init__(self, path: _Optional[str] = ..., size_bytes: _Optional[int] = ..., xxh3_128: _Optional[str] = ..., storage: _Optional[_Union[OutputStorage, str]] = ..., object_url: _Optional[str] = ..., storage_error: _Optional[str] = ..., download_url: _Optional[str] = ..., thumbnail: _Optional[_Union[BlobRef, _Mapping]] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("id", "name", "owner", "plugin", "parameters", "frames", "chunk_size", "priority", "pool", "requirements", "environment", "depends_on", "max_retries", "task_timeout", "state", "create_time", "start_time", "end_time", "frame_count", "frames_completed", "frames_failed", "frames_running", "task_count", "progress", "last_error", "state_reason", "limits", "max_agent_failures", "min_runtime", "blocked_agents", "reservation", "frame_by_frame", "files", "output_destination", "test_frames", "stop_on_test_failure", "hold_after_test", "estimate", "inputs_from")
    class EnvironmentEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    PLUGIN_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    CHUNK_SIZE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    REQUIREMENTS_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    DEPENDS_ON_FIELD_NUMBER: _ClassVar[int]
    MAX_RETRIES_FIELD_NUMBER: _ClassVar[int]
    TASK_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    FRAME_COUNT_FIELD_NUMBER: _ClassVar[int]
    FRAMES_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FAILED_FIELD_NUMBER: _ClassVar[int]
    FRAMES_RUNNING_FIELD_NUMBER: _ClassVar[int]
    TASK_COUNT_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    STATE_REASON_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    MAX_AGENT_FAILURES_FIELD_NUMBER: _ClassVar[int]
    MIN_RUNTIME_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_AGENTS_FIELD_NUMBER: _ClassVar[int]
    RESERVATION_FIELD_NUMBER: _ClassVar[int]
    FRAME_BY_FRAME_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_DESTINATION_FIELD_NUMBER: _ClassVar[int]
    TEST_FRAMES_FIELD_NUMBER: _ClassVar[int]
    STOP_ON_TEST_FAILURE_FIELD_NUMBER: _ClassVar[int]
    HOLD_AFTER_TEST_FIELD_NUMBER: _ClassVar[int]
    ESTIMATE_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FROM_FIELD_NUMBER: _ClassVar[int]
    id: int
    name: str
    owner: str
    plugin: str
    parameters: _struct_pb2.Struct
    frames: str
    chunk_size: int
    priority: int
    pool: str
    requirements: Requirements
    environment: _containers.ScalarMap[str, str]
    depends_on: _containers.RepeatedScalarFieldContainer[int]
    max_retries: int
    task_timeout: _duration_pb2.Duration
    state: JobState
    create_time: _timestamp_pb2.Timestamp
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    frame_count: int
    frames_completed: int
    frames_failed: int
    frames_running: int
    task_count: int
    progress: float
    last_error: str
    state_reason: str
    limits: _containers.RepeatedScalarFieldContainer[str]
    max_agent_failures: int
    min_runtime: _duration_pb2.Duration
    blocked_agents: _containers.RepeatedCompositeFieldContainer[BlockedAgent]
    reservation: TaskReservation
    frame_by_frame: bool
    files: _containers.RepeatedCompositeFieldContainer[FileEntry]
    output_destination: str
    test_frames: str
    stop_on_test_failure: bool
    hold_after_test: bool
    estimate: JobEstimate
    inputs_from: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, id: _Optional[int] = ..., name: _Optional[str] = ..., owner: _Optional[str] = ..., plugin: _Optional[str] = ..., parameters: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., frames: _Optional[str] = ..., chunk_size: _Optional[int] = ..., priority: _Optional[int] = ..., pool: _Optional[str] = ..., requirements: _Optional[_Union[Requirements, _Mapping]] = ..., environment: _Optional[_Mapping[str, str]] = ..., depends_on: _Optional[_Iterable[int]] = ..., max_retries: _Optional[int] = ..., task_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., state: _Optional[_Union[JobState, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., frame_count: _Optional[int] = ..., frames_completed: _Optional[int] = ..., frames_failed: _Optional[int] = ..., frames_running: _Optional[int] = ..., task_count: _Optional[int] = ..., progress: _Optional[float] = ..., last_error: _Optional[str] = ..., state_reason: _Optional[str] = ..., limits: _Optional[_Iterable[str]] = ..., max_agent_failures: _Optional[int] = ..., min_runtime: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., blocked_agents: _Optional[_Iterable[_Union[BlockedAgent, _Mapping]]] = ..., reservation: _Optional[_Union[TaskReservation, _Mapping]] = ..., frame_by_frame: _Optional[bool] = ..., files: _Optional[_Iterable[_Union[FileEntry, _Mapping]]] = ..., output_destination: _Optional[str] = ..., test_frames: _Optional[str] = ..., stop_on_test_failure: _Optional[bool] = ..., hold_after_test: _Optional[bool] = ..., estimate: _Optional[_Union[JobEstimate, _Mapping]] = ..., inputs_from: _Optional[_Iterable[int]] = ...) -> None: ...

class JobEstimate(_message.Message):
    __slots__ = ("frames_measured", "total_render_time", "time_left", "cost")
    FRAMES_MEASURED_FIELD_NUMBER: _ClassVar[int]
    TOTAL_RENDER_TIME_FIELD_NUMBER: _ClassVar[int]
    TIME_LEFT_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    frames_measured: int
    total_render_time: _duration_pb2.Duration
    time_left: _duration_pb2.Duration
    cost: float
    def __init__(self, frames_measured: _Optional[int] = ..., total_render_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., time_left: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., cost: _Optional[float] = ...) -> None: ...

class SceneAnalysis(_message.Message):
    __slots__ = ("analyser", "frame_start", "frame_end", "frame_step", "fps", "resolution_x", "resolution_y", "resolution_percentage", "engine", "cameras", "output_path", "output_format", "files", "warnings")
    ANALYSER_FIELD_NUMBER: _ClassVar[int]
    FRAME_START_FIELD_NUMBER: _ClassVar[int]
    FRAME_END_FIELD_NUMBER: _ClassVar[int]
    FRAME_STEP_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_X_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_Y_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_PERCENTAGE_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    CAMERAS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_PATH_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FORMAT_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    analyser: str
    frame_start: int
    frame_end: int
    frame_step: int
    fps: float
    resolution_x: int
    resolution_y: int
    resolution_percentage: int
    engine: str
    cameras: _containers.RepeatedCompositeFieldContainer[SceneCamera]
    output_path: str
    output_format: str
    files: _containers.RepeatedCompositeFieldContainer[ExternalFile]
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, analyser: _Optional[str] = ..., frame_start: _Optional[int] = ..., frame_end: _Optional[int] = ..., frame_step: _Optional[int] = ..., fps: _Optional[float] = ..., resolution_x: _Optional[int] = ..., resolution_y: _Optional[int] = ..., resolution_percentage: _Optional[int] = ..., engine: _Optional[str] = ..., cameras: _Optional[_Iterable[_Union[SceneCamera, _Mapping]]] = ..., output_path: _Optional[str] = ..., output_format: _Optional[str] = ..., files: _Optional[_Iterable[_Union[ExternalFile, _Mapping]]] = ..., warnings: _Optional[_Iterable[str]] = ...) -> None: ...

class SceneCamera(_message.Message):
    __slots__ = ("name", "active")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    name: str
    active: bool
    def __init__(self, name: _Optional[str] = ..., active: _Optional[bool] = ...) -> None: ...

class ExternalFile(_message.Message):
    __slots__ = ("path", "resolved_path", "kind", "exists", "size_bytes")
    PATH_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_PATH_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    EXISTS_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    path: str
    resolved_path: str
    kind: str
    exists: bool
    size_bytes: int
    def __init__(self, path: _Optional[str] = ..., resolved_path: _Optional[str] = ..., kind: _Optional[str] = ..., exists: _Optional[bool] = ..., size_bytes: _Optional[int] = ...) -> None: ...

class BlobRef(_message.Message):
    __slots__ = ("xxh3_128", "size_bytes")
    XXH3_128_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    xxh3_128: str
    size_bytes: int
    def __init__(self, xxh3_128: _Optional[str] = ..., size_bytes: _Optional[int] = ...) -> None: ...

class FileEntry(_message.Message):
    __slots__ = ("path", "blob", "mode", "unpack")
    PATH_FIELD_NUMBER: _ClassVar[int]
    BLOB_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    UNPACK_FIELD_NUMBER: _ClassVar[int]
    path: str
    blob: BlobRef
    mode: int
    unpack: bool
    def __init__(self, path: _Optional[str] = ..., blob: _Optional[_Union[BlobRef, _Mapping]] = ..., mode: _Optional[int] = ..., unpack: _Optional[bool] = ...) -> None: ...

class PathMapping(_message.Message):
    __slots__ = ("from_path", "to_path", "os")
    FROM_PATH_FIELD_NUMBER: _ClassVar[int]
    TO_PATH_FIELD_NUMBER: _ClassVar[int]
    OS_FIELD_NUMBER: _ClassVar[int]
    from_path: str
    to_path: str
    os: str
    def __init__(self, from_path: _Optional[str] = ..., to_path: _Optional[str] = ..., os: _Optional[str] = ...) -> None: ...

class BlockedAgent(_message.Message):
    __slots__ = ("agent_id", "failures", "reason")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    failures: int
    reason: str
    def __init__(self, agent_id: _Optional[str] = ..., failures: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class Task(_message.Message):
    __slots__ = ("id", "job_id", "index", "frames", "state", "agent_id", "attempt_id", "attempt_count", "progress", "exit_code", "error_message", "peak_rss_bytes", "cpu_time", "start_time", "end_time", "attempt_ids", "memory_reservation_bytes", "gpu_indices", "out_of_memory")
    ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_COUNT_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PEAK_RSS_BYTES_FIELD_NUMBER: _ClassVar[int]
    CPU_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_IDS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_RESERVATION_BYTES_FIELD_NUMBER: _ClassVar[int]
    GPU_INDICES_FIELD_NUMBER: _ClassVar[int]
    OUT_OF_MEMORY_FIELD_NUMBER: _ClassVar[int]
    id: int
    job_id: int
    index: int
    frames: _containers.RepeatedScalarFieldContainer[int]
    state: TaskState
    agent_id: str
    attempt_id: int
    attempt_count: int
    progress: float
    exit_code: int
    error_message: str
    peak_rss_bytes: int
    cpu_time: _duration_pb2.Duration
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    attempt_ids: _containers.RepeatedScalarFieldContainer[int]
    memory_reservation_bytes: int
    gpu_indices: _containers.RepeatedScalarFieldContainer[int]
    out_of_memory: bool
    def __init__(self, id: _Optional[int] = ..., job_id: _Optional[int] = ..., index: _Optional[int] = ..., frames: _Optional[_Iterable[int]] = ..., state: _Optional[_Union[TaskState, str]] = ..., agent_id: _Optional[str] = ..., attempt_id: _Optional[int] = ..., attempt_count: _Optional[int] = ..., progress: _Optional[float] = ..., exit_code: _Optional[int] = ..., error_message: _Optional[str] = ..., peak_rss_bytes: _Optional[int] = ..., cpu_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., attempt_ids: _Optional[_Iterable[int]] = ..., memory_reservation_bytes: _Optional[int] = ..., gpu_indices: _Optional[_Iterable[int]] = ..., out_of_memory: _Optional[bool] = ...) -> None: ...

class Frame(_message.Message):
    __slots__ = ("job_id", "number", "state", "task_id", "agent_id", "attempt_id", "attempt_count", "failure_count", "progress", "render_time", "peak_rss_bytes", "exit_code", "error_message", "outputs", "start_time", "end_time", "test", "warnings")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_COUNT_FIELD_NUMBER: _ClassVar[int]
    FAILURE_COUNT_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RENDER_TIME_FIELD_NUMBER: _ClassVar[int]
    PEAK_RSS_BYTES_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    TEST_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    number: int
    state: FrameState
    task_id: int
    agent_id: str
    attempt_id: int
    attempt_count: int
    failure_count: int
    progress: float
    render_time: _duration_pb2.Duration
    peak_rss_bytes: int
    exit_code: int
    error_message: str
    outputs: _containers.RepeatedCompositeFieldContainer[OutputFile]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    test: bool
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, job_id: _Optional[int] = ..., number: _Optional[int] = ..., state: _Optional[_Union[FrameState, str]] = ..., task_id: _Optional[int] = ..., agent_id: _Optional[str] = ..., attempt_id: _Optional[int] = ..., attempt_count: _Optional[int] = ..., failure_count: _Optional[int] = ..., progress: _Optional[float] = ..., render_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., peak_rss_bytes: _Optional[int] = ..., exit_code: _Optional[int] = ..., error_message: _Optional[str] = ..., outputs: _Optional[_Iterable[_Union[OutputFile, _Mapping]]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., test: _Optional[bool] = ..., warnings: _Optional[_Iterable[str]] = ...) -> None: ...

class Gpu(_message.Message):
    __slots__ = ("index", "model", "memory_bytes")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    index: int
    model: str
    memory_bytes: int
    def __init__(self, index: _Optional[int] = ..., model: _Optional[str] = ..., memory_bytes: _Optional[int] = ...) -> None: ...

class Renderer(_message.Message):
    __slots__ = ("name", "version", "path")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    path: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., path: _Optional[str] = ...) -> None: ...

class Hardware(_message.Message):
    __slots__ = ("hostname", "cpu_cores", "ram_bytes", "os", "arch", "gpus", "renderers")
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    CPU_CORES_FIELD_NUMBER: _ClassVar[int]
    RAM_BYTES_FIELD_NUMBER: _ClassVar[int]
    OS_FIELD_NUMBER: _ClassVar[int]
    ARCH_FIELD_NUMBER: _ClassVar[int]
    GPUS_FIELD_NUMBER: _ClassVar[int]
    RENDERERS_FIELD_NUMBER: _ClassVar[int]
    hostname: str
    cpu_cores: int
    ram_bytes: int
    os: str
    arch: str
    gpus: _containers.RepeatedCompositeFieldContainer[Gpu]
    renderers: _containers.RepeatedCompositeFieldContainer[Renderer]
    def __init__(self, hostname: _Optional[str] = ..., cpu_cores: _Optional[int] = ..., ram_bytes: _Optional[int] = ..., os: _Optional[str] = ..., arch: _Optional[str] = ..., gpus: _Optional[_Iterable[_Union[Gpu, _Mapping]]] = ..., renderers: _Optional[_Iterable[_Union[Renderer, _Mapping]]] = ...) -> None: ...

class Load(_message.Message):
    __slots__ = ("cpu_percent", "ram_used_bytes", "load_average")
    CPU_PERCENT_FIELD_NUMBER: _ClassVar[int]
    RAM_USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    LOAD_AVERAGE_FIELD_NUMBER: _ClassVar[int]
    cpu_percent: float
    ram_used_bytes: int
    load_average: float
    def __init__(self, cpu_percent: _Optional[float] = ..., ram_used_bytes: _Optional[int] = ..., load_average: _Optional[float] = ...) -> None: ...

class Agent(_message.Message):
    __slots__ = ("id", "address", "status", "mode", "hardware", "load", "slots", "slots_used", "pool", "tags", "running_task_ids", "version", "last_seen_time", "cost_per_hour", "problem", "allowed_plugins", "announced", "overrides", "cores_reserved", "memory_reserved_bytes", "gpus_in_use")
    ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    HARDWARE_FIELD_NUMBER: _ClassVar[int]
    LOAD_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    SLOTS_USED_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    RUNNING_TASK_IDS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_TIME_FIELD_NUMBER: _ClassVar[int]
    COST_PER_HOUR_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_PLUGINS_FIELD_NUMBER: _ClassVar[int]
    ANNOUNCED_FIELD_NUMBER: _ClassVar[int]
    OVERRIDES_FIELD_NUMBER: _ClassVar[int]
    CORES_RESERVED_FIELD_NUMBER: _ClassVar[int]
    MEMORY_RESERVED_BYTES_FIELD_NUMBER: _ClassVar[int]
    GPUS_IN_USE_FIELD_NUMBER: _ClassVar[int]
    id: str
    address: str
    status: AgentStatus
    mode: AgentMode
    hardware: Hardware
    load: Load
    slots: int
    slots_used: int
    pool: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    running_task_ids: _containers.RepeatedScalarFieldContainer[int]
    version: str
    last_seen_time: _timestamp_pb2.Timestamp
    cost_per_hour: float
    problem: str
    allowed_plugins: _containers.RepeatedScalarFieldContainer[str]
    announced: AgentSettings
    overrides: AgentSettings
    cores_reserved: int
    memory_reserved_bytes: int
    gpus_in_use: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, id: _Optional[str] = ..., address: _Optional[str] = ..., status: _Optional[_Union[AgentStatus, str]] = ..., mode: _Optional[_Union[AgentMode, str]] = ..., hardware: _Optional[_Union[Hardware, _Mapping]] = ..., load: _Optional[_Union[Load, _Mapping]] = ..., slots: _Optional[int] = ..., slots_used: _Optional[int] = ..., pool: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., running_task_ids: _Optional[_Iterable[int]] = ..., version: _Optional[str] = ..., last_seen_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cost_per_hour: _Optional[float] = ..., problem: _Optional[str] = ..., allowed_plugins: _Optional[_Iterable[str]] = ..., announced: _Optional[_Union[AgentSettings, _Mapping]] = ..., overrides: _Optional[_Union[AgentSettings, _Mapping]] = ..., cores_reserved: _Optional[int] = ..., memory_reserved_bytes: _Optional[int] = ..., gpus_in_use: _Optional[_Iterable[int]] = ...) -> None: ...

class AgentSettings(_message.Message):
    __slots__ = ("slots", "tags", "pool", "cost_per_hour")
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    COST_PER_HOUR_FIELD_NUMBER: _ClassVar[int]
    slots: int
    tags: TagList
    pool: str
    cost_per_hour: float
    def __init__(self, slots: _Optional[int] = ..., tags: _Optional[_Union[TagList, _Mapping]] = ..., pool: _Optional[str] = ..., cost_per_hour: _Optional[float] = ...) -> None: ...

class TagList(_message.Message):
    __slots__ = ("tags",)
    TAGS_FIELD_NUMBER: _ClassVar[int]
    tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, tags: _Optional[_Iterable[str]] = ...) -> None: ...

class Token(_message.Message):
    __slots__ = ("id", "name", "role", "create_time", "created_by", "revoke_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    REVOKE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    role: Role
    create_time: _timestamp_pb2.Timestamp
    created_by: str
    revoke_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., role: _Optional[_Union[Role, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_by: _Optional[str] = ..., revoke_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AuditRecord(_message.Message):
    __slots__ = ("sequence", "time", "caller", "token_id", "role", "method", "target", "request", "peer", "outcome", "error")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    PEER_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    time: _timestamp_pb2.Timestamp
    caller: str
    token_id: str
    role: Role
    method: str
    target: str
    request: str
    peer: str
    outcome: str
    error: str
    def __init__(self, sequence: _Optional[int] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., caller: _Optional[str] = ..., token_id: _Optional[str] = ..., role: _Optional[_Union[Role, str]] = ..., method: _Optional[str] = ..., target: _Optional[str] = ..., request: _Optional[str] = ..., peer: _Optional[str] = ..., outcome: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class Limit(_message.Message):
    __slots__ = ("name", "capacity", "in_use", "holder_job_ids")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    IN_USE_FIELD_NUMBER: _ClassVar[int]
    HOLDER_JOB_IDS_FIELD_NUMBER: _ClassVar[int]
    name: str
    capacity: int
    in_use: int
    holder_job_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, name: _Optional[str] = ..., capacity: _Optional[int] = ..., in_use: _Optional[int] = ..., holder_job_ids: _Optional[_Iterable[int]] = ...) -> None: ...
