"""The Lightning experiment layer: methods, tasks and the module training them."""

from selfsup.experiment.method import MalformedBatchError, Method
from selfsup.experiment.module import SSLModule
from selfsup.experiment.report import RunReport, probe_table
from selfsup.experiment.resumable import ResumableLoader, make_resumable
from selfsup.experiment.sampling import SAMPLING_POLICIES, TaskSampledLoader, task_probabilities
from selfsup.experiment.schema import LazySchemaModule, SchemaState
from selfsup.experiment.task import Task
from selfsup.experiment.teacher_updates import TeacherUpdates

__all__ = [
    "SAMPLING_POLICIES",
    "LazySchemaModule",
    "MalformedBatchError",
    "Method",
    "ResumableLoader",
    "RunReport",
    "SSLModule",
    "SchemaState",
    "Task",
    "TaskSampledLoader",
    "TeacherUpdates",
    "make_resumable",
    "probe_table",
    "task_probabilities",
]
