"""Deprecated: moved to :mod:`selfsup_vision.evaluation.encoder_probe` (kept for one release)."""

from selfsup.deprecation import forwarder

_MOVED = ("evaluate_encoder", "extract_features")
__all__ = list(_MOVED)
__getattr__ = forwarder(__name__, "selfsup_vision.evaluation.encoder_probe", _MOVED)


if __name__ == "__main__":  # `python -m selfsup_vision.evaluate` keeps working for one release
    import warnings

    from selfsup_vision.evaluation.encoder_probe import main

    warnings.warn(
        "python -m selfsup_vision.evaluate is deprecated: use python -m selfsup_vision.evaluation.",
        DeprecationWarning,
        stacklevel=1,
    )
    main()
