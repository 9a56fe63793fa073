"""FT-Transformer-style feature tokenizer with [REG] tokens (batch checks: `batch.py`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from selfsup_tabular.encoders.numerical import NUMERICAL_EMBEDDINGS, PeriodicEmbedding

__all__ = ["FeatureTokenizer"]


class FeatureTokenizer(nn.Module):
    """One token per feature plus ``R`` [REG] tokens (FT-Transformer, arXiv 2106.11959).

    .. math::

        t_j = x_j w_j + b_j + p_j \\ (m_j + p_j \\text{ if missing}), \\qquad
        t_k = E_k[c_k] + b_k + p_k \\ (\\text{categorical})

    (with ``numerical_embedding="periodic"``, ``x_j w_j + b_j`` is replaced by the
    :class:`~selfsup_tabular.encoders.PeriodicEmbedding` ``e_j(x_j)``), with ``p`` learned
    feature-identity embeddings and ``E_k`` an embedding of ``card_k + 2`` codes (0 missing,
    1 unknown). The [REG] tokens are learned, input-independent vectors
    prepended to the sequence: positions ``0..R-1`` are [REG], position ``R + j`` is feature ``j``
    (numericals first, then categoricals). Masks over features must be shifted by ``R``.

    Args:
        num_numerical: Numerical features ``n_num``.
        cardinalities: Vocabulary size per categorical feature.
        d_token: Token width ``d`` (default 64).
        num_registers: [REG] tokens ``R`` (default 1).
        numerical_embedding: ``"linear"`` (default, FT-Transformer / T-JEPA) or ``"periodic"``
            (:class:`~selfsup_tabular.encoders.PeriodicEmbedding`, "PLR", arXiv 2203.05556).
        frequencies: Periodic frequencies per feature (default 16; periodic only).
        frequency_scale: Their initial standard deviation (default 1.0; periodic only).

    Shapes:
        batch (:func:`selfsup_tabular.batch.check_tabular_batch`) -> ``(B, R + F, d)``,
        ``F = n_num + n_cat``.
    """

    def __init__(
        self,
        num_numerical: int,
        cardinalities: Sequence[int],
        d_token: int = 64,
        num_registers: int = 1,
        numerical_embedding: str = "linear",
        frequencies: int = 16,
        frequency_scale: float = 1.0,
    ) -> None:
        super().__init__()
        if numerical_embedding not in NUMERICAL_EMBEDDINGS:
            raise ValueError(
                f"numerical_embedding must be one of {NUMERICAL_EMBEDDINGS}, got "
                f"{numerical_embedding!r}."
            )
        self.numerical_embedding = numerical_embedding
        if num_numerical < 0 or num_registers < 0 or d_token < 1:
            raise ValueError("num_numerical, num_registers must be >= 0 and d_token >= 1.")
        self.num_numerical = int(num_numerical)
        self.cardinalities = [int(c) for c in cardinalities]
        self.num_features = self.num_numerical + len(self.cardinalities)
        if self.num_features == 0:
            raise ValueError("FeatureTokenizer needs at least one feature.")
        self.num_registers = int(num_registers)
        self.d_token = int(d_token)
        d = self.d_token
        bound = 1 / math.sqrt(d)
        n_num = self.num_numerical
        # Parameters exist only for the kinds of column the table has: one that no step uses
        # stops DistributedDataParallel ("parameters that were not used in producing the loss").
        if n_num:
            if numerical_embedding == "linear":
                self.num_weight = nn.Parameter(torch.empty(n_num, d).uniform_(-bound, bound))
                self.num_bias = nn.Parameter(torch.empty(n_num, d).uniform_(-bound, bound))
            else:
                self.periodic = PeriodicEmbedding(n_num, d, frequencies, frequency_scale)
            self.num_missing = nn.Parameter(torch.empty(n_num, d).uniform_(-bound, bound))
        sizes = [c + 2 for c in self.cardinalities]
        offsets = torch.tensor([0] + sizes[:-1], dtype=torch.long).cumsum(0)
        self.register_buffer("cat_offsets", offsets[: len(sizes)], persistent=False)
        if sizes:
            self.cat_embedding = nn.Embedding(sum(sizes), d)
            nn.init.uniform_(self.cat_embedding.weight, -bound, bound)
            self.cat_bias = nn.Parameter(torch.empty(len(sizes), d).uniform_(-bound, bound))
        self.feature_embedding = nn.Parameter(torch.zeros(self.num_features, d))
        nn.init.trunc_normal_(self.feature_embedding, std=0.02)
        self.registers = nn.Parameter(torch.zeros(self.num_registers, d))
        nn.init.trunc_normal_(self.registers, std=0.02)
        self.register_load_state_dict_pre_hook(_drop_unbuilt_parameters)

    def feature_tokens(self, batch: Mapping[str, Tensor]) -> Tensor:
        """Tokens of the features only, ``(B, F, d)``."""
        parts = []
        if self.num_numerical:
            x = batch["x_num"]
            if self.numerical_embedding == "periodic":
                tok = self.periodic(x)
            else:
                tok = x.unsqueeze(-1) * self.num_weight + self.num_bias
            miss = batch["num_missing"].unsqueeze(-1)
            parts.append(torch.where(miss, self.num_missing.expand_as(tok), tok))
        if self.cardinalities:
            codes = batch["x_cat"] + self.cat_offsets
            parts.append(self.cat_embedding(codes) + self.cat_bias)
        return torch.cat(parts, dim=1) + self.feature_embedding

    def forward(self, batch: Mapping[str, Tensor]) -> Tensor:
        tokens = self.feature_tokens(batch)
        reg = self.registers.expand(tokens.shape[0], -1, -1)
        return torch.cat([reg, tokens], dim=1)


#: Entries older tokenizers saved for a kind of column the table did not have, with the number
#: of rows they had then: no row (numbers, category biases) or the one placeholder embedding row.
_PLACEHOLDERS = {
    "num_weight": 0,
    "num_bias": 0,
    "num_missing": 0,
    "cat_bias": 0,
    "cat_embedding.weight": 1,
}


def _drop_unbuilt_parameters(
    module: nn.Module, state_dict: dict[str, Tensor], prefix: str, *args: object
) -> None:
    # checkpoints written before these parameters became optional hold placeholders for them;
    # anything else under those names is left for the strict load to report
    own = dict(module.named_parameters())
    for name, rows in _PLACEHOLDERS.items():
        value = state_dict.get(prefix + name)
        if name not in own and isinstance(value, Tensor) and value.shape[0] == rows:
            del state_dict[prefix + name]
