"""Old module paths of the tabular plugin forward to the skeleton's for one release."""

from __future__ import annotations

import pytest

from selfsup.encoders.torch_encoder_keys import TORCH_LAYER_KEYS
from selfsup.testing.deprecations import check_forwarded, check_old_layout_loads

MOVED = [
    ("selfsup_tabular.downstream", "selfsup_tabular.evaluation.downstream"),
    ("selfsup_tabular.encoders", "selfsup_tabular.batch"),
]


@pytest.mark.parametrize(("old", "new"), MOVED, ids=[o for o, _ in MOVED])
def test_every_public_name_is_forwarded_with_a_warning(old: str, new: str) -> None:
    # selfsup_tabular.encoders stays a package: only the batch checks left it
    names = ["check_tabular_batch", "encode_rows", "is_frame"] if old.endswith("encoders") else None
    assert check_forwarded(old, new, names)


@pytest.mark.parametrize(
    ("new", "names"),
    [
        ("selfsup_tabular.data.labels", ["TargetEncoder"]),
        ("selfsup_tabular.data.preprocessing_state", ["PreprocessingState", "fitted_preprocessor"]),
    ],
)
def test_names_split_out_of_preprocessing_are_forwarded(new: str, names: list[str]) -> None:
    assert check_forwarded("selfsup_tabular.data.preprocessing", new, names) == names


_TORCH_LAYER_NAMES = {new: old for old, new in TORCH_LAYER_KEYS.items()}


def _as_token_transformer(key: str) -> str:
    """The key T-JEPA had when its encoder and predictor stacked nn.TransformerEncoderLayers
    (``transformer.layers.{i}``)."""
    import re

    m = re.fullmatch(r"(.*\.)(?:transformer|blocks)\.blocks\.(\d+)\.(.+)", key)
    if m is None:
        return key
    prefix, i, rest = m.groups()
    return f"{prefix}transformer.layers.{i}.{_TORCH_LAYER_NAMES.get(rest, rest)}"


def test_tjepa_checkpoints_written_with_token_transformer_still_load() -> None:
    import torch

    from selfsup_tabular.methods import TJEPA

    def build() -> TJEPA:
        return TJEPA(
            num_numerical=3,
            cardinalities=[4],
            d_token=8,
            num_heads=2,
            ffn_dim=12,
            encoder_layers=2,
            predictor_dim=8,
            predictor_layers=1,
            predictor_heads=2,
        )

    torch.manual_seed(0)
    legacy = check_old_layout_loads(build, _as_token_transformer)
    assert "predictor.transformer.layers.0.linear1.weight" in legacy
    assert "encoder.transformer.layers.1.self_attn.in_proj_weight" in legacy
    # the shapes the old TokenTransformer had: an MLP of twice the width (encoder: ffn_dim 12)
    old_layers = {
        "predictor.transformer.layers.0.": torch.nn.TransformerEncoderLayer(8, 2, 16),
        "encoder.transformer.layers.1.": torch.nn.TransformerEncoderLayer(8, 2, 12),
    }
    for prefix, layer in old_layers.items():
        for name, value in layer.state_dict().items():
            assert legacy[prefix + name].shape == value.shape, prefix + name


def test_token_transformer_still_builds_with_a_warning() -> None:
    from selfsup.encoders import TransformerTrunk
    from selfsup_tabular.encoders import TokenTransformer
    from selfsup_tabular.methods.tjepa import TJEPAPredictor

    with pytest.warns(DeprecationWarning, match="TransformerTrunk"):
        trunk = TokenTransformer(8, num_layers=1, num_heads=2)
    assert isinstance(trunk, TransformerTrunk) and trunk.blocks[0].mlp[0].out_features == 16
    with pytest.warns(DeprecationWarning, match="JEPAPredictor"):
        predictor = TJEPAPredictor(8, 5, 16, 1, 2)
    assert predictor.out.out_features == 8 and predictor.pos.shape == (5, 16)
