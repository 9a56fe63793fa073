"""The Lightning experiment layer: methods, tasks and the module training them."""

from selfsup.experiment.method import MalformedBatchError, Method
from selfsup.experiment.module import SSLModule
from selfsup.experiment.sampling import SAMPLING_POLICIES, TaskSampledLoader, task_probabilities
from selfsup.experiment.task import Task

__all__ = [
    "SAMPLING_POLICIES",
    "MalformedBatchError",
    "Method",
    "SSLModule",
    "Task",
    "TaskSampledLoader",
    "task_probabilities",
]
