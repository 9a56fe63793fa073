"""``python -m selfsup_vision.evaluation``: kNN + linear probe of an exported encoder."""

from selfsup_vision.evaluation.encoder_probe import main

main()
