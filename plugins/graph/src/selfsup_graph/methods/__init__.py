"""Self-supervised methods for graphs."""

from typing import TYPE_CHECKING, Any

from selfsup.deprecation import moved_attribute
from selfsup_graph.methods.bgrl import BGRL
from selfsup_graph.methods.dgi import DGI, dgi_loss
from selfsup_graph.methods.grace import GRACE
from selfsup_graph.methods.graphcl import GraphCL
from selfsup_graph.methods.graphmae import GraphMAE, GraphMAE2, GraphMAEGraphLevel
from selfsup_graph.methods.mvgrl import MVGRL, MVGRLEncoder

if TYPE_CHECKING:
    from selfsup_graph.batch import GraphInput

__all__ = [
    "BGRL",
    "DGI",
    "GRACE",
    "GraphCL",
    "GraphInput",
    "GraphMAE",
    "GraphMAE2",
    "GraphMAEGraphLevel",
    "MVGRL",
    "MVGRLEncoder",
    "dgi_loss",
]

# moved to selfsup_graph.batch; forwarded with a DeprecationWarning for one release
_MOVED = {"GraphInput": "selfsup_graph.batch"}


def __getattr__(name: str) -> Any:
    return moved_attribute(__name__, _MOVED, name)
