"""Waveform -> time-frequency frontends (torchaudio is imported when one is built)."""

from selfsup_audio.frontends.log_mel import LogMelSpectrogram

__all__ = ["LogMelSpectrogram"]
