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
        "beats": "selfsup_audio.methods.beats:BEATs",
        "beats_tokenizer": "selfsup_audio.methods.beats_tokenizer:BEATsTokenizerTraining",
        "beats_finetune": "selfsup_audio.methods.beats_finetune:BEATsFineTuning",
        "audio_dino": "selfsup_audio.methods.audio_dino:AudioDINO",
        "fsdd": "selfsup_audio.data.fsdd:FSDDDataModule",
        "synthetic_clips": "selfsup_audio.data.synthetic:SyntheticClipsDataModule",
        "audio_folder": "selfsup_audio.data.folder:AudioFolderDataModule",
        "audio_shards": "selfsup_audio.data.shards:AudioShardsDataModule",
        "fbank": "selfsup_audio.frontends.fbank:Fbank",
        "log_mel": "selfsup_audio.frontends.log_mel:LogMelSpectrogram",
        "audio_convnet": "selfsup_audio.encoders.convnet:AudioConvNet",
        "log_mel_convnet": "selfsup_audio.encoders.convnet:LogMelConvNet",
        "audio_encoder": "selfsup_audio.encoders.transformer:AudioEncoder",
        "audio_embedder": "selfsup_audio.encoders.embedder:AudioEmbedder",
        "fbank_patch_tokenizer": "selfsup_audio.encoders.patch_embed:FbankPatchTokenizer",
        "random_projection_tokenizer": (
            "selfsup_audio.tokenizers.random_projection:RandomProjectionTokenizer"
        ),
        "best_rq_tokenizer": "selfsup_audio.tokenizers.random_projection:BestRQTokenizer",
        "acoustic_tokenizer": "selfsup_audio.tokenizers.trained:AcousticTokenizer",
        "audio_classifier": "selfsup_audio.evaluation.downstream:AudioClassifier",
    },
    description=(
        "Audio: BEATs-style iterative pre-training (random-projection / BEST-RQ / distilled "
        "acoustic tokenizers, masked label prediction) on Kaldi fbanks, DINO on time crops, and "
        "COLA."
    ),
    distribution="selfsup-audio",
    configs="selfsup_audio/configs",
)
