"""The Lightning experiment layer: methods, tasks and the module training them."""

from selfsup.experiment.method import MalformedBatchError, Method
from selfsup.experiment.module import SSLModule
from selfsup.experiment.report import RunReport, probe_table
from selfsup.experiment.sampling import SAMPLING_POLICIES, TaskSampledLoader, task_probabilities
from selfsup.experiment.task import Task

__all__ = [
    "SAMPLING_POLICIES",
    "MalformedBatchError",
    "Method",
    "RunReport",
    "SSLModule",
    "Task",
    "TaskSampledLoader",
    "probe_table",
    "task_probabilities",
]
