"""vmic — the visual microphone: recover sound from high-speed video.

The pipeline, one module per stage::

    frames (vmic.frames) -> pyramid (vmic.pyramid) -> phase signals (vmic.phase)
    -> combination (vmic.combine) -> post-processing (vmic.post) -> audio sink (vmic.audio)

composed by :func:`vmic.recover.recover` and exposed by the ``vmic`` command line.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
