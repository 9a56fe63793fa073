"""Self-supervised methods for audio."""

from selfsup_audio.methods.audio_dino import AudioDINO
from selfsup_audio.methods.beats import BEATs
from selfsup_audio.methods.beats_finetune import BEATsFineTuning
from selfsup_audio.methods.beats_tokenizer import BEATsTokenizerTraining
from selfsup_audio.methods.cola import COLA

__all__ = ["AudioDINO", "BEATs", "BEATsFineTuning", "BEATsTokenizerTraining", "COLA"]
