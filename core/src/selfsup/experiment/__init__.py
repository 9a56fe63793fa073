"""The Lightning experiment layer: methods, tasks and the module training them."""

from selfsup.experiment.method import MalformedBatchError, Method
from selfsup.experiment.module import SSLModule
from selfsup.experiment.task import Task

__all__ = ["MalformedBatchError", "Method", "SSLModule", "Task"]
