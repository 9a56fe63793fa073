"""Self-supervised methods for images."""

from selfsup_vision.methods.barlow_twins import BarlowTwins
from selfsup_vision.methods.byol import BYOL
from selfsup_vision.methods.dino import DINO
from selfsup_vision.methods.directpred import DirectPredictor, directpred_weight
from selfsup_vision.methods.ibot import IBOT
from selfsup_vision.methods.ijepa import IJEPA
from selfsup_vision.methods.joint_embedding import JointEmbeddingMethod
from selfsup_vision.methods.mae import MAE
from selfsup_vision.methods.moco import MoCo, MoCoV3
from selfsup_vision.methods.simclr import SimCLR
from selfsup_vision.methods.swav import SwAV
from selfsup_vision.methods.vicreg import VICReg

__all__ = [
    "BYOL",
    "BarlowTwins",
    "DINO",
    "DirectPredictor",
    "IBOT",
    "IJEPA",
    "JointEmbeddingMethod",
    "MAE",
    "MoCo",
    "MoCoV3",
    "SimCLR",
    "SwAV",
    "VICReg",
    "directpred_weight",
]
