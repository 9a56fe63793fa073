"""Old module paths of the vision plugin forward to the skeleton's for one release."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from selfsup.encoders.torch_encoder_keys import TORCH_LAYER_KEYS
from selfsup.testing.deprecations import check_old_layout_loads

MOVED = [
    ("selfsup_vision.batches", "selfsup_vision.batch"),
    ("selfsup_vision.transforms", "selfsup_vision.augment"),
    ("selfsup_vision.transforms.simclr", "selfsup_vision.augment.simclr"),
    ("selfsup_vision.transforms.views", "selfsup_vision.augment.views"),
    ("selfsup_vision.transforms.presets", "selfsup_vision.augment.presets"),
    ("selfsup_vision.evaluate", "selfsup_vision.evaluation.encoder_probe"),
    ("selfsup_vision.losses", "selfsup.losses.mixed_barlow"),
    ("selfsup_vision.losses.mixed_barlow", "selfsup.losses.mixed_barlow"),
]


@pytest.mark.parametrize(("old", "new"), MOVED, ids=[o for o, _ in MOVED])
def test_every_public_name_is_forwarded_with_a_warning(old: str, new: str) -> None:
    module, target = importlib.import_module(old), importlib.import_module(new)
    # every name the old path had (names added at the new place since are not forwarded)
    assert set(module.__all__) <= set(target.__all__)
    for name in module.__all__:
        with pytest.warns(DeprecationWarning, match=rf"{old}\.{name} is deprecated.*{new}"):
            assert getattr(module, name) is getattr(target, name)


def test_a_config_class_path_at_the_old_place_still_resolves() -> None:
    from selfsup.plugins.registry import import_target

    with pytest.warns(DeprecationWarning, match="selfsup_vision.augment.simclr"):
        cls = import_target("selfsup_vision.transforms.simclr:SimCLRAugment")
    assert cls is importlib.import_module("selfsup_vision.augment.simclr").SimCLRAugment


def test_the_old_command_line_entry_still_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "selfsup_vision.evaluate", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--encoder-dir" in out.stdout


_TORCH_LAYER_NAMES = {new: old for old, new in TORCH_LAYER_KEYS.items()}


def _as_token_transformer(key: str) -> str:
    """The key the MAE decoder / I-JEPA predictor had when TokenTransformer wrapped an
    nn.TransformerEncoder under ``blocks``."""
    import re

    m = re.fullmatch(r"(.*\.blocks\.)blocks\.(\d+)\.(.+)", key)
    if m is None:
        return key
    prefix, i, rest = m.groups()
    return f"{prefix}blocks.layers.{i}.{_TORCH_LAYER_NAMES.get(rest, rest)}"


@pytest.mark.parametrize("method", ["mae", "ijepa"])
def test_checkpoints_written_with_token_transformer_still_load(method: str) -> None:
    import torch

    from selfsup_vision.encoders import ViTEncoder
    from selfsup_vision.methods import IJEPA, MAE

    def build() -> torch.nn.Module:
        vit = ViTEncoder(image_size=8, patch_size=2, hidden_size=16, num_layers=1, num_heads=2)
        if method == "mae":
            return MAE(encoder=vit, decoder_dim=8, decoder_layers=2, decoder_heads=2)
        return IJEPA(encoder=vit, predictor_dim=8, predictor_layers=2, predictor_heads=2)

    torch.manual_seed(0)
    legacy = check_old_layout_loads(build, _as_token_transformer)
    assert any(".blocks.layers.0.self_attn.in_proj_weight" in k for k in legacy)


def test_token_transformer_still_builds_with_a_warning() -> None:
    from selfsup.encoders import TransformerTrunk
    from selfsup_vision.encoders import TokenTransformer
    from selfsup_vision.methods.ijepa import IJEPAPredictor

    with pytest.warns(DeprecationWarning, match="TransformerTrunk"):
        trunk = TokenTransformer(16, 2, 4)
    assert isinstance(trunk, TransformerTrunk) and len(trunk.blocks) == 2
    with pytest.warns(DeprecationWarning, match="JEPAPredictor"):
        predictor = IJEPAPredictor(16, 8, 1, 2, 4)
    assert predictor.out.out_features == 16 and predictor.pos.shape == (4, 8)
