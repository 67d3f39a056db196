"""vmic — the visual microphone: recover sound from high-speed video.

The pipeline, one module per stage::

    frames (vmic.io) -> pyramid (vmic.core.pyramid) -> phase sums (vmic.core.phase,
    vmic.extraction) -> combination (vmic.combine) -> post-processing (vmic.post)
    -> audio (vmic.io.audio)

composed by :func:`recover` and exposed by the ``vmic`` command line. The names below are
imported on first use (``lazy_loader``), so ``import vmic`` stays light::

    import vmic
    result = vmic.recover("clip.avi", fps=2200)   # result.audio, result.sr, result.info

    clip = vmic.open_clip("clip.avi", fps=2200)    # the same, from frame ranges
    extraction = vmic.prepare_extraction(clip)
    parts = [vmic.extract_range(extraction, clip[a:b]) for a, b in ((0, 600), (600, 1100))]
    result = vmic.recover_from_ranges(extraction, parts)
"""

import lazy_loader

__version__ = "0.1.0"

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "recovery": ["recover", "recover_from_ranges", "Recovery", "RecoveryInfo"],
        "extraction": ["prepare_extraction", "extract_range"],
        "tracking": ["track_motion"],
        "io.clip": ["open_clip", "Clip"],
        "core.pyramid": ["SteerablePyramid"],
        "metrics": ["score"],
        "errors": ["VmicError"],
        "io.audio": ["read_wav", "write_wav"],
    },
)
