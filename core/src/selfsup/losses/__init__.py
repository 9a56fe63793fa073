"""Self-supervised losses: pure functions (tensors in, scalar out) and thin ``nn.Module`` wrappers.

One family per module:

- :mod:`~selfsup.losses.info_nce` — InfoNCE / MoCo with extra negatives, logQ bias, DCL.
- :mod:`~selfsup.losses.nt_xent` — SimCLR's NT-Xent.
- :mod:`~selfsup.losses.dcl` — DCL / DCLW.
- :mod:`~selfsup.losses.barlow_twins` — Barlow Twins (global-batch statistics).
- :mod:`~selfsup.losses.mixed_barlow` — Mixed Barlow Twins' mixup regulariser.
- :mod:`~selfsup.losses.vicreg` — VICReg and its three terms.
- :mod:`~selfsup.losses.cosine` — BYOL/SimSiam negative cosine, GraphMAE scaled cosine error.
- :mod:`~selfsup.losses.masked_prediction` — masked-token cross-entropy, JEPA latent regression.
- :mod:`~selfsup.losses.matryoshka` — nested-prefix wrapper for any embedding loss.
- :mod:`~selfsup.losses.self_distillation` — DINO / iBOT self-distillation and its centre.
- :mod:`~selfsup.losses.supcon` — SupCon, multi-positive contrastive (labels or pseudo-labels).

The row log-sum-exp behind the softmax contrastive losses (dense, streamed with ``chunk_size``, or
the fused Triton kernel) lives in :mod:`selfsup.kernels.lse`; its public names are re-exported
here (``similarity_logsumexp``, ``ChunkedLogSumExp``, ``LSEBackend``, ``lse_backends``,
``register_lse_backend``).
"""

from selfsup.kernels.lse import (
    ChunkedLogSumExp,
    LSEBackend,
    lse_backends,
    register_lse_backend,
    similarity_logsumexp,
)
from selfsup.losses.barlow_twins import BarlowTwinsLoss, barlow_twins, cross_correlation
from selfsup.losses.cosine import (
    NegativeCosineLoss,
    ScaledCosineErrorLoss,
    negative_cosine,
    scaled_cosine_error,
)
from selfsup.losses.dcl import DCLLoss, dcl, vmf_weights
from selfsup.losses.info_nce import InfoNCELoss, info_nce
from selfsup.losses.masked_prediction import (
    LatentRegressionLoss,
    MaskedTokenCrossEntropyLoss,
    latent_regression,
    masked_token_cross_entropy,
)
from selfsup.losses.matryoshka import (
    MatryoshkaLoss,
    check_matryoshka_dims,
    matryoshka,
    matryoshka_prefix,
)
from selfsup.losses.mixed_barlow import mixed_barlow_regularizer
from selfsup.losses.nt_xent import NTXentLoss, nt_xent
from selfsup.losses.self_distillation import (
    DINOLoss,
    SelfDistillationCenter,
    dino_loss,
    ibot_patch_loss,
    teacher_temperature,
)
from selfsup.losses.supcon import SupConLoss, supcon
from selfsup.losses.vicreg import (
    VICRegLoss,
    covariance_term,
    invariance_term,
    variance_term,
    vicreg,
)

__all__ = [
    "BarlowTwinsLoss",
    "ChunkedLogSumExp",
    "DCLLoss",
    "DINOLoss",
    "InfoNCELoss",
    "LSEBackend",
    "LatentRegressionLoss",
    "MaskedTokenCrossEntropyLoss",
    "MatryoshkaLoss",
    "NTXentLoss",
    "NegativeCosineLoss",
    "ScaledCosineErrorLoss",
    "SelfDistillationCenter",
    "SupConLoss",
    "VICRegLoss",
    "barlow_twins",
    "covariance_term",
    "check_matryoshka_dims",
    "cross_correlation",
    "dcl",
    "dino_loss",
    "ibot_patch_loss",
    "info_nce",
    "invariance_term",
    "latent_regression",
    "lse_backends",
    "masked_token_cross_entropy",
    "mixed_barlow_regularizer",
    "matryoshka",
    "matryoshka_prefix",
    "negative_cosine",
    "nt_xent",
    "register_lse_backend",
    "scaled_cosine_error",
    "similarity_logsumexp",
    "supcon",
    "teacher_temperature",
    "variance_term",
    "vicreg",
    "vmf_weights",
]
