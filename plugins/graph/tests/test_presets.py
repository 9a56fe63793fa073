"""GraphMAE2 and GraphMAEGraphLevel are presets of GraphMAE (``@preset``): the same typed
signature with other defaults, exactly the defaults of the subclasses that re-listed every
argument before."""

from __future__ import annotations

import inspect
import io
import typing

import pytest
import torch
from jsonargparse import ArgumentParser

from selfsup_graph.encoders import GATEncoder, GCNEncoder, edges_for, reads_csr, shared_csr
from selfsup_graph.methods import GraphMAE, GraphMAE2, GraphMAEGraphLevel
from selfsup_graph.methods.presets import preset

# GraphMAE's defaults, and what each preset changed, written out from the signatures of the
# hand-written subclasses (selfsup_graph.methods.graphmae before the presets).
GRAPHMAE = {
    "in_channels": 1433,
    "hidden_channels": 512,
    "num_layers": 2,
    "num_heads": 4,
    "num_out_heads": 1,
    "encoder": "gat",
    "decoder": "gat",
    "encoder_module": None,
    "activation": "prelu",
    "in_drop": 0.2,
    "attn_drop": 0.1,
    "negative_slope": 0.2,
    "residual": False,
    "norm": None,
    "mask_rate": 0.5,
    "replace_rate": 0.05,
    "alpha": 3.0,
    "drop_edge_rate": 0.0,
    "remask": "fixed",
    "num_remask": 3,
    "remask_rate": 0.5,
    "latent_weight": 0.0,
    "momentum": 0.996,
    "ema_delay_steps": 0,
    "latent_nodes": "all",
    "projector_hidden": 256,
    "pooling": None,
    "undirected": True,
    "ema_timing": "after_step",
}
OLD_DEFAULTS = {
    GraphMAE: GRAPHMAE,
    GraphMAE2: {
        **GRAPHMAE,
        "hidden_channels": 1024,
        "num_heads": 8,
        "replace_rate": 0.0,
        "latent_weight": 0.15,
        "momentum": 0.0,
    },
    GraphMAEGraphLevel: {
        **GRAPHMAE,
        "in_channels": 7,
        "hidden_channels": 32,
        "num_layers": 5,
        "encoder": "gin",
        "decoder": "gin",
        "norm": "batchnorm",
        "mask_rate": 0.75,
        "replace_rate": 0.1,
        "alpha": 2.0,
        "pooling": "sum",
    },
}
PRESETS = [GraphMAE2, GraphMAEGraphLevel]


@pytest.mark.parametrize("cls", list(OLD_DEFAULTS), ids=lambda c: c.__name__)
def test_defaults_are_those_of_the_old_subclasses(cls: type) -> None:
    params = inspect.signature(cls).parameters
    assert list(params) == list(GRAPHMAE)  # same names, same order (positional calls agree)
    for name, default in OLD_DEFAULTS[cls].items():
        got = params[name].default
        assert got == default and type(got) is type(default), name


@pytest.mark.parametrize("cls", PRESETS, ids=lambda c: c.__name__)
def test_presets_keep_graphmae_types_and_class_identity(cls: type) -> None:
    assert issubclass(cls, GraphMAE) and cls.__module__ == "selfsup_graph.methods.graphmae"
    assert typing.get_type_hints(cls.__init__) == typing.get_type_hints(GraphMAE.__init__)
    assert cls.__init__.__qualname__ == f"{cls.__name__}.__init__"
    params = inspect.signature(cls).parameters
    assert not any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params.values())
    changed = {n for n in GRAPHMAE if OLD_DEFAULTS[cls][n] != GRAPHMAE[n]}
    assert set(cls.preset_defaults) == changed


@pytest.mark.parametrize("cls", PRESETS, ids=lambda c: c.__name__)
def test_jsonargparse_sees_every_argument_with_type_default_and_help(cls: type) -> None:
    parser = ArgumentParser()
    parser.add_class_arguments(cls, "method")
    assert vars(parser.get_defaults().method) == OLD_DEFAULTS[cls]
    help_text = io.StringIO()
    parser.print_help(help_text)
    text = " ".join(help_text.getvalue().split())
    assert "--method.encoder {gat,gcn,gin}" in text
    assert "Encoder width ``h``" in text  # GraphMAE's Args help reaches the preset
    hidden = OLD_DEFAULTS[cls]["hidden_channels"]
    assert f"(type: int, default: {hidden})" in text
    with pytest.raises(SystemExit):  # types are checked: a string is not an int
        parser.parse_args(["--method.hidden_channels", "wide"])


def test_preset_builds_what_graphmae_builds_with_the_same_arguments() -> None:
    kw = {"in_channels": 6, "hidden_channels": 8, "num_heads": 2}
    torch.manual_seed(0)
    a = GraphMAE2(**kw)
    torch.manual_seed(0)
    b = GraphMAE(**{**kw, "replace_rate": 0.0, "latent_weight": 0.15, "momentum": 0.0})
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for key in sa:
        torch.testing.assert_close(sa[key], sb[key], rtol=0, atol=0)


def test_preset_refuses_unknown_arguments_and_own_init() -> None:
    with pytest.raises(TypeError, match="hiden_channels"):
        preset(hiden_channels=3)(type("Typo", (GraphMAE,), {}))
    with pytest.raises(TypeError, match="must not define __init__"):
        preset(hidden_channels=3)(type("Own", (GraphMAE,), {"__init__": GraphMAE.__init__}))


def test_edge_format_is_the_encoders() -> None:
    edge_index = torch.tensor([[0, 1, 2], [1, 2, 0]])
    fused, plain = GATEncoder(6, 8, 8, heads=2), GATEncoder(6, 8, 8, heads=2, fused=False)
    assert reads_csr(fused) and not reads_csr(plain) and not reads_csr(GCNEncoder(6, 8, 8))
    assert shared_csr(edge_index, 3, plain, GCNEncoder(6, 8, 8)) is None
    csr = shared_csr(edge_index, 3, plain, fused)
    assert csr is not None and csr.num_rows == 3 and csr.src.numel() == 3 + 3  # + self-loops
    assert edges_for(fused, edge_index, csr) is csr
    assert edges_for(plain, edge_index, csr) is edge_index
