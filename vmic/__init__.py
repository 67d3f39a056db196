"""vmic — the visual microphone: recover sound from high-speed video.

The pipeline, one module per stage::

    frames (vmic.io.clip) -> pyramid (vmic.core.pyramid) -> phase signals (vmic.core.phase)
    -> combination (vmic.combine) -> post-processing (vmic.post) -> audio sink (vmic.io.audio)

composed by :func:`vmic.recovery.recover` and exposed by the ``vmic`` command line.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
