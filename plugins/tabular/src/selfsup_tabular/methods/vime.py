"""VIME (Yoon et al., NeurIPS 2020): estimate which features were corrupted, and their values."""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.checks import check_probability
from selfsup_tabular.augment.corruption import vime_corrupt, vime_corrupt_columns
from selfsup_tabular.methods.row_mlp import RowMLPMethod

__all__ = ["VIME", "vime_loss"]


def vime_loss(
    mask_logits: Tensor,
    changed: Tensor,
    num_pred: Tensor | None = None,
    num_target: Tensor | None = None,
    num_valid: Tensor | None = None,
    cat_logits: list[Tensor] | None = None,
    cat_target: Tensor | None = None,
    alpha: float = 2.0,
) -> dict[str, Tensor]:
    """VIME's self-supervised loss: mask estimation + ``alpha`` x feature reconstruction.

    With ``F`` features of ``B`` rows, the estimated mask ``\\hat m = \\sigma(s_m(f(\\tilde x)))``
    against the changed entries ``m``, and the reconstruction ``\\hat x = s_r(f(\\tilde x))``
    against the uncorrupted row ``x``:

    .. math::

        l_m = -\\frac{1}{B F} \\sum_{i,j} m_{ij} \\log \\hat m_{ij}
              + (1 - m_{ij}) \\log (1 - \\hat m_{ij}), \\qquad
        l_r = \\frac{1}{B F} \\Big[ \\sum_{i, j \\in \\text{num}} v_{ij} (x_{ij} - \\hat x_{ij})^2
              - \\sum_{i, j \\in \\text{cat}} \\log \\operatorname{softmax}(\\hat x_{ij})_{x_{ij}}
              \\Big], \\qquad L = l_m + \\alpha\\, l_r

    (the paper's Eq. 4-5: squared error for continuous features, cross-entropy for categorical
    ones, averaged over the ``d`` features), with ``v_{ij} = 0`` for a missing numerical value
    (nothing to reconstruct). ``F`` counts the numerical and the categorical columns.

    Args:
        mask_logits: ``s_m``'s logits, one per feature.
        changed: ``m``, True where the corruption changed the entry.
        num_pred, num_target: Reconstructed and original numerical values (or None).
        num_valid: Where a numerical value exists (default: everywhere).
        cat_logits: Per categorical column, its logits over the column's codes (or None).
        cat_target: Original codes of the categorical columns.
        alpha: Weight ``alpha`` of the reconstruction (default 2.0, the reference code's).

    Shapes:
        mask_logits, changed: ``(B, F)``; num_pred, num_target, num_valid: ``(B, n_num)``;
        cat_logits: ``n_cat`` tensors ``(B, C_k)``; cat_target: ``(B, n_cat)`` int with
        ``F = n_num + n_cat`` -> ``{"loss", "mask_loss", "reconstruction_loss"}`` scalars.

    Examples:
        >>> out = vime_loss(torch.zeros(4, 3), torch.zeros(4, 3, dtype=torch.bool),
        ...                 torch.zeros(4, 3), torch.zeros(4, 3))
        >>> round(float(out["loss"]), 4)  # log 2 from the undecided mask, nothing to rebuild
        0.6931
    """
    b, f = mask_logits.shape
    if changed.shape != (b, f):
        raise ValueError(f"changed must have shape {(b, f)}, got {tuple(changed.shape)}.")
    mask_loss = F.binary_cross_entropy_with_logits(mask_logits, changed.to(mask_logits.dtype))
    total = mask_logits.new_zeros(())
    width = 0
    if num_pred is not None and num_target is not None:
        err = (num_pred - num_target.to(num_pred.dtype)).pow(2)
        if num_valid is not None:
            err = err * num_valid.to(err.dtype)
        total = total + err.sum()
        width += num_pred.shape[1]
    for k, logits in enumerate(cat_logits or []):
        if cat_target is None:
            raise ValueError("cat_logits need cat_target, the original codes.")
        total = total + F.cross_entropy(logits, cat_target[:, k].long(), reduction="sum")
        width += 1
    if width != f:
        raise ValueError(
            f"the reconstruction covers {width} features but the mask {f}; give every "
            "numerical and categorical column once."
        )
    reconstruction = total / (b * f)
    return {
        "loss": mask_loss + alpha * reconstruction,
        "mask_loss": mask_loss.detach(),
        "reconstruction_loss": reconstruction.detach(),
    }


class VIME(RowMLPMethod):
    """VIME self-supervised pre-training: from a corrupted row, tell which entries were
    corrupted and what the row was.

    Each entry of a row is chosen with probability ``p_m`` and replaced by the same feature of
    another row (the feature's empirical marginal; :func:`~selfsup_tabular.augment.vime_corrupt`).
    The encoder ``f`` (a ReLU MLP) feeds two heads: a mask estimator ``s_m`` (one logit per
    feature) and a feature estimator ``s_r`` (the value of each numerical feature, logits over
    the codes of each categorical one); the loss is :func:`vime_loss`,
    ``l_m + alpha * l_r``. Evaluation features (:meth:`embed`) are ``f(x)`` of the clean row;
    :meth:`export_encoder` gives ``f`` as a :class:`~selfsup_tabular.methods.SCARFEncoder`.

    Defaults follow the reference code: ``p_m = 0.3``, ``alpha = 2.0``, one encoder layer (its
    width there is the input width; here ``hidden_dim``), linear heads. Tensor and table mode,
    materialisation from a preprocessor and marginals from a donor pool
    (:meth:`set_marginals`) work as in :class:`~selfsup_tabular.methods.SCARF`. In table mode
    a numerical entry counts as corrupted when its value or missing flag changed, and its
    reconstruction is skipped where the original is missing. Randomness comes from torch's
    global RNG.

    Args:
        num_features: Tensor mode: number of (numeric, pre-processed) features ``F`` (default 0:
            table mode).
        hidden_dim: Width of ``f`` (default 256).
        encoder_layers: Linear layers of ``f`` (default 1).
        mask_prob: ``p_m`` (default 0.3).
        alpha: Weight of the reconstruction loss (default 2.0).
        num_numerical: Table mode: numerical columns of encoded batches (default 0).
        cardinalities: Table mode: vocabulary size per categorical column (default None).
        cat_embed_dim: Table mode: embedding width per categorical column (default 8).

    Shapes:
        batch: tensor mode ``(B, F)`` floating point, finite, ``B >= 2`` (or an ``(x, y)``
            pair); table mode an encoded dict (or ``(dict, y)``).
        embed: the same (table mode: or a ``pandas.DataFrame``) -> ``(B, hidden_dim)``.

    Raises:
        MalformedBatchError: a batch of the wrong width or type, or fewer than 2 rows.
        ValueError: ``mask_prob`` outside ``[0, 1]``, ``alpha < 0``.

    Examples:
        >>> method = VIME(num_features=5, hidden_dim=16)
        >>> sorted(method.training_losses(torch.randn(8, 5)))
        ['loss', 'mask_loss', 'reconstruction_loss']
        >>> method.embed(torch.randn(3, 5)).shape
        torch.Size([3, 16])
    """

    def __init__(
        self,
        num_features: int = 0,
        hidden_dim: int = 256,
        encoder_layers: int = 1,
        mask_prob: float = 0.3,
        alpha: float = 2.0,
        num_numerical: int = 0,
        cardinalities: list[int] | None = None,
        cat_embed_dim: int = 8,
    ) -> None:
        super().__init__()
        check_probability("mask_prob", mask_prob, inclusive_high=True)
        if alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {alpha}.")
        self.mask_prob = mask_prob
        self.alpha = alpha
        self._init_schema(
            num_features, hidden_dim, encoder_layers, num_numerical, cardinalities, cat_embed_dim
        )

    def build_heads(self) -> None:
        n_num = self.num_features if not self.table_mode else self.num_numerical
        self.mask_estimator = nn.Linear(self.hidden_dim, self.num_features)
        self.feature_estimator = nn.Linear(self.hidden_dim, n_num) if n_num else None
        # categorical codes: 0 missing, 1 unknown, then the vocabulary (TabularPreprocessor)
        self.category_estimators = nn.ModuleList(
            nn.Linear(self.hidden_dim, c + 2) for c in self.cardinalities
        )

    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        x = self.training_rows(batch)
        if isinstance(x, dict):
            corrupted, changed = vime_corrupt_columns(x, self.mask_prob, self.marginals)
        else:
            corrupted, changed = vime_corrupt(x, self.mask_prob, self.marginals)
        h = self.encoder(self.input(corrupted))
        num_pred = None if self.feature_estimator is None else self.feature_estimator(h)
        if isinstance(x, dict):
            num_target = x.get("x_num")
            num_valid = None if "num_missing" not in x else ~x["num_missing"]
            cat_logits = [head(h) for head in self.category_estimators]
            cat_target = x.get("x_cat")
        else:
            num_target, num_valid, cat_logits, cat_target = x, None, None, None
        return vime_loss(
            self.mask_estimator(h),
            changed,
            num_pred,
            num_target,
            num_valid,
            cat_logits,
            cat_target,
            self.alpha,
        )
