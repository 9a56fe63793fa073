"""Content encoders in the item tower: raw per-item content -> any nn.Module -> tower input.

Plain torch encoders only (the plugin installs alone); the cross-plugin run through
``selfsup fit`` with the tabular plugin's encoder is ``tests/test_recsys_content_encoders.py``.
"""

from __future__ import annotations

import glob
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from lightning.pytorch import Trainer
from torch import nn

from selfsup.experiment import MalformedBatchError, SSLModule, Task
from selfsup_recsys.batch import FeatureSpec, check_features
from selfsup_recsys.data import InteractionDataModule, build_retrieval_data
from selfsup_recsys.data.item_content import align_content, read_item_content
from selfsup_recsys.data.synthetic import synthetic_interactions
from selfsup_recsys.encoders import ContentEncoder, FeatureTower, build_content_encoder
from selfsup_recsys.methods import FeatureTwoTower
from selfsup_recsys.serving import export_embeddings, load_two_tower

LINEAR = {"class_path": "torch.nn.Linear", "init_args": {"in_features": 5, "out_features": 3}}
SPECS = [
    {"name": "item_id", "kind": "categorical", "cardinality": 10},
    {"name": "attrs", "kind": "content", "shape": [5]},
]


class Tokens(nn.Module):
    """``(B, F)`` -> ``(B, F, 2)``: one 2-d token per attribute (a token encoder's output)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor([1.0, -2.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., None] * self.scale


class _Paired(Tokens):
    """Returns ``(tokens, padding_mask)`` like a transformer encoder."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = super().forward(x)
        return tokens, torch.zeros(tokens.shape[:2], dtype=torch.bool)


def test_pooling_matches_float64_reference() -> None:
    x = torch.randn(4, 5, generator=torch.Generator().manual_seed(0))
    tokens = x.double()[..., None] * torch.tensor([1.0, -2.0], dtype=torch.float64)
    for pool, ref in (("mean", tokens.mean(1)), ("first", tokens[:, 0])):
        enc = ContentEncoder(Tokens(), (5,), pool=pool)
        assert enc.out_dim == 2
        torch.testing.assert_close(enc(x).double(), ref)
    paired = ContentEncoder(_Paired(), (5,), pool="mean")  # (tokens, mask): tokens are used
    torch.testing.assert_close(paired(x).double(), tokens.mean(1))
    with pytest.raises(ValueError, match="pool: mean or first"):
        ContentEncoder(Tokens(), (5,))
    with pytest.raises(ValueError, match="failed on an input of shape"):
        ContentEncoder(nn.Linear(4, 3), (5,))


def test_tower_content_embedding_default_rows_and_masked_skip() -> None:
    torch.manual_seed(0)
    enc = nn.Linear(5, 3)
    tower = FeatureTower(SPECS, embedding_dim=4, hidden_dims=[8], content_encoders={"attrs": enc})
    x = torch.randn(3, 5)
    x[1] = float("nan")  # item 1 has no content
    feats = {"item_id": torch.tensor([1, 2, 3]), "attrs": x}
    emb = tower.feature_embeddings(feats)
    proj = tower.dense["attrs"]
    ref = (x[[0, 2]].double() @ enc.weight.double().T + enc.bias.double()) @ proj.weight.double().T
    torch.testing.assert_close(emb[[0, 2], 1].double(), ref + proj.bias.double())
    torch.testing.assert_close(emb[1, 1], tower.default[1].detach())

    calls = []
    enc.register_forward_hook(lambda *a: calls.append(1))
    masked = tower.feature_embeddings(feats, torch.tensor([False, True]))
    assert not calls  # a feature masked for the whole batch does not run its encoder
    torch.testing.assert_close(masked[:, 1], tower.default[1].detach().expand(3, 4))
    with pytest.raises(ValueError, match="has no encoder"):
        FeatureTower(SPECS)
    with pytest.raises(ValueError, match="name no content feature"):
        FeatureTower(SPECS, content_encoders={"attrs": enc, "clip": enc})


def test_frozen_encoder_gets_no_gradient_and_stays_in_eval_mode() -> None:
    net = nn.Sequential(nn.Linear(5, 6), nn.Dropout(0.5), nn.Linear(6, 3))
    frozen = build_content_encoder({"encoder": net, "trainable": False}, (5,))
    tower = FeatureTower(
        SPECS, embedding_dim=4, hidden_dims=[8], content_encoders={"attrs": frozen}
    )
    tower.train()
    assert not frozen.encoder.training  # dropout of a frozen encoder stays off
    x = {"item_id": torch.tensor([1, 2]), "attrs": torch.randn(2, 5)}
    tower(x).sum().backward()
    assert all(p.grad is None for p in net.parameters())
    assert tower.dense["attrs"].weight.grad is not None  # the projection still trains

    trainable = FeatureTower(
        SPECS, embedding_dim=4, hidden_dims=[8], content_encoders={"attrs": nn.Linear(5, 3)}
    )
    trainable(x).sum().backward()
    assert trainable.content["attrs"].encoder.weight.grad is not None


def test_checkpoint_initialisation_with_prefix(tmp_path: Path) -> None:
    source = nn.Linear(5, 3)
    path = tmp_path / "pre.ckpt"
    state = {f"tasks.t.method.encoder.{k}": v for k, v in source.state_dict().items()}
    torch.save({"state_dict": {**state, "other.w": torch.zeros(1)}}, path)
    cfg = {"encoder": LINEAR, "checkpoint": str(path), "trainable": False}
    enc = build_content_encoder({**cfg, "checkpoint_prefix": "tasks.t.method.encoder."}, (5,))
    torch.testing.assert_close(enc.encoder.weight, source.weight)
    with pytest.raises(ValueError, match="Pass checkpoint_prefix"):
        build_content_encoder(cfg, (5,))
    with pytest.raises(FileNotFoundError):
        build_content_encoder({**cfg, "checkpoint": str(tmp_path / "none.pt")}, (5,))
    colon = {"encoder": {**LINEAR, "class_path": "torch.nn:Linear"}}  # "module:Class" also works
    assert isinstance(build_content_encoder(colon, (5,)).encoder, nn.Linear)
    with pytest.raises(ValueError, match="unknown content encoder option"):
        build_content_encoder({"encoder": LINEAR, "frozen": True}, (5,))
    with pytest.raises(ValueError, match="not installed"):
        build_content_encoder({"encoder": {"class_path": "selfsup_nowhere.Enc"}}, (5,))
    with pytest.raises(ValueError, match="needs encoder"):
        build_content_encoder({"trainable": True}, (5,))


def test_content_files_and_catalog_alignment(tmp_path: Path) -> None:
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    pd.DataFrame({"item": [7, 8, 9], **{f"a{j}": x[:, j] for j in range(4)}}).to_csv(
        tmp_path / "c.csv", index=False
    )
    np.savez(tmp_path / "c.npz", keys=np.array([7, 8, 9]), values=x)
    torch.save({"keys": [7, 8, 9], "values": torch.from_numpy(x)}, tmp_path / "c.pt")
    torch.save({7: torch.from_numpy(x[0]), 8: torch.from_numpy(x[1])}, tmp_path / "d.pt")
    for name in ("c.csv", "c.npz", "c.pt"):
        keys, values = read_item_content(tmp_path / name)
        assert keys == [7, 8, 9]
        torch.testing.assert_close(values, torch.from_numpy(x))
    assert read_item_content(tmp_path / "d.pt")[0] == [7, 8]
    np.save(tmp_path / "c.npy", x)
    with pytest.raises(ValueError, match="no item ids"):
        read_item_content(tmp_path / "c.npy")
    with pytest.warns(UserWarning, match="have no content"):
        aligned = align_content([9, 5, 7], [7, 9], torch.from_numpy(x[:2]), "attrs")
    torch.testing.assert_close(aligned[[0, 2]], torch.from_numpy(x[[1, 0]]))
    assert bool(torch.isnan(aligned[1]).all())
    bad = torch.from_numpy(x.copy())
    bad[0, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN/inf"):
        align_content([7, 8, 9], [7, 8, 9], bad, "attrs")
    with pytest.raises(ValueError, match="none of its"):
        align_content(["a"], [7], torch.from_numpy(x[:1]), "attrs")


def test_batch_checks_reject_bad_content() -> None:
    specs = [FeatureSpec(**s) for s in SPECS]  # type: ignore[arg-type]
    ok = {"item_id": torch.tensor([1, 2]), "attrs": torch.randn(2, 5)}
    assert check_features(ok, specs, "item") == 2
    with pytest.raises(MalformedBatchError, match=r"shape \(B, 5\)"):
        check_features({**ok, "attrs": torch.randn(2, 4)}, specs, "item")
    half = ok["attrs"].clone()
    half[0, 0] = float("nan")
    with pytest.raises(MalformedBatchError, match="all NaN for an item without content"):
        check_features({**ok, "attrs": half}, specs, "item")
    with pytest.raises(MalformedBatchError, match="floating point"):
        check_features({**ok, "attrs": torch.ones(2, 5, dtype=torch.long)}, specs, "item")
    with pytest.raises(ValueError, match="needs a non-empty shape"):
        FeatureSpec("attrs", "content")


def _data() -> tuple[object, torch.Tensor]:
    inter, items, users = synthetic_interactions(num_users=40, num_items=30, per_user=6)
    content = torch.randn(30, 5, generator=torch.Generator().manual_seed(1))
    data = build_retrieval_data(
        inter, items, users, item_columns={"genres": "bag"}, user_columns={"age": "categorical"},
        item_content={"attrs": (list(range(30)), content)},
    )  # fmt: skip
    return data, content


def test_two_tower_gathers_content_by_item_row_and_round_trips(tmp_path: Path) -> None:
    data, content = _data()
    batch = data.batch(data.train[:8], torch.arange(6))
    torch.testing.assert_close(batch["item"]["attrs"], content[data.train[:8, 1]])
    torch.testing.assert_close(batch["ssl_item"]["attrs"], content[:6])
    method = FeatureTwoTower(
        data.users.specs, data.items.specs, embedding_dim=4, hidden_dims=[8], output_dim=4,
        ssl="cfm", frequency_buckets=64, content_encoders={"attrs": {"encoder": LINEAR}},
    )  # fmt: skip
    method.set_feature_correlation(data.item_mi)
    opt = torch.optim.Adam(method.parameters(), lr=0.01)
    before = method.item_tower.content["attrs"].encoder.weight.detach().clone()
    for _ in range(3):
        loss = method.training_losses(batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert not torch.equal(before, method.item_tower.content["attrs"].encoder.weight)
    torch.save(method.state_dict(), tmp_path / "model.pt")
    served = load_two_tower(str(tmp_path / "model.pt"))  # encoder rebuilt from the saved config
    torch.testing.assert_close(
        export_embeddings(served, data)["item"], export_embeddings(method, data)["item"]
    )
    with pytest.raises(ValueError, match="has no encoder"):
        FeatureTwoTower(data.users.specs, data.items.specs)
    live = FeatureTwoTower(
        data.users.specs, data.items.specs, content_encoders={"attrs": nn.Linear(5, 3)}
    )
    with pytest.raises(ValueError, match="has no encoder"):
        FeatureTwoTower().load_state_dict(live.state_dict())  # live modules are not saved
    again = FeatureTwoTower(content_encoders={"attrs": nn.Linear(5, 3)})
    again.load_state_dict(live.state_dict())


def test_fit_with_content_file_through_data_module(tmp_path: Path) -> None:
    inter, items, users = synthetic_interactions(num_users=40, num_items=30, per_user=6)
    inter.to_csv(tmp_path / "inter.csv", index=False)
    values = torch.randn(29, 4, 5)  # a (4, 5) "clip" per item; item 29 has none
    torch.save({"keys": list(range(29)), "values": values}, tmp_path / "clips.pt")
    dm = InteractionDataModule(
        dataset="interactions", path="inter.csv", data_root=str(tmp_path),
        item_content={"clip": "clips.pt"}, batch_size=16, ssl_batch_size=8,
    )  # fmt: skip
    encoder = {"class_path": "torch.nn.Linear", "init_args": {"in_features": 5, "out_features": 3}}
    method = FeatureTwoTower(
        embedding_dim=4, hidden_dims=[8], output_dim=4, ssl="rfm", frequency_buckets=64,
        content_encoders={"clip": {"encoder": encoder, "pool": "mean", "trainable": False}},
    )  # fmt: skip
    module = SSLModule([Task("ml", method, dm)], optimizer=lambda p: torch.optim.Adam(p, lr=0.01))
    trainer = Trainer(
        max_epochs=1, accelerator="cpu", logger=False, enable_progress_bar=False,
        enable_model_summary=False, limit_val_batches=0, default_root_dir=str(tmp_path),
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(module)
    assert method.item_tower.specs[-1] == FeatureSpec("clip", "content", shape=(4, 5))
    served = load_two_tower(glob.glob(str(tmp_path / "**" / "*.ckpt"), recursive=True)[0])
    emb = export_embeddings(served, dm.load())["item"]
    assert emb.shape == (30, 4) and bool(torch.isfinite(emb).all())
