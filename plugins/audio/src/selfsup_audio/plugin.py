"""The ``audio`` plugin record, read by :func:`selfsup.plugins.discover`.

Imports only :mod:`selfsup.plugins`: components (and torchaudio) load on first use.
"""

from selfsup.plugins import Plugin

__all__ = ["PLUGIN"]

PLUGIN = Plugin(
    name="audio",
    modality="audio",
    components={
        "cola": "selfsup_audio.methods.cola:COLA",
        "log_mel": "selfsup_audio.frontends.log_mel:LogMelSpectrogram",
        "audio_convnet": "selfsup_audio.encoders.convnet:AudioConvNet",
    },
    description="Audio: COLA contrastive learning on log-mel spectrograms of waveform crops.",
    distribution="selfsup-audio",
)
