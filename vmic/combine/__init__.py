"""Combination: many band (and tile) motion signals into one audio signal.

Methods
-------
``align``
    ``vmSoundFromVideo``'s: each band signal circularly shifted to the lag of maximum
    cross-correlation with band (scale 0, orientation 0), then summed. Bands whose motion
    has the opposite sign are shifted by half a period rather than flipped, and all bands
    count the same however noisy they are.
``bands`` and ``local``
    A blind rank-1 fit (one-factor analysis): every signal is modelled as
    ``x_i(t) = a_i * s(t) + n_i(t)`` with independent noise of variance ``psi_i``.
    Loadings ``a_i`` (with their signs) and noise variances are estimated from the
    signals' covariance alone, no truth needed, and the signals are combined with the
    weights that maximise SNR under that model, ``w_i = a_i / psi_i``. ``bands`` fits the
    whole-frame band signals; ``local`` fits every tile of every band, so regions that move
    with opposite signs or different amplitudes (membrane modes, two parts of an object)
    add up instead of cancelling, and featureless or noisy tiles get little weight.
    ``local`` fits on tile signals weighted by the spectrum they share above their white
    noise (:func:`common_spectrum_gain`) and chooses between a rigid estimate and fits on
    several grids by how well disjoint parts of the tiles agree (:func:`local_combine`);
    where none agree clearly, by a cross-fitted split test (:func:`crossfit_split_test`),
    which also says whether any common signal was detected.
``auto``
    The default: ``local`` where it detected a signal, and ``align``'s own output where it
    did not, from one pass over the clip.

Each method is an object in :data:`METHODS` (:mod:`vmic.combine.registry`), one module per
method, that says what extraction it needs and how it combines the sums.
"""

from vmic.combine import auto as _auto  # noqa: F401  (registers "auto")
from vmic.combine import bands as _bands  # noqa: F401  (registers "bands")
from vmic.combine.align import align_to_reference
from vmic.combine.fits import rank1_combine, rank1_fit
from vmic.combine.local import DETECTION_Z, crossfit_split_test, local_combine
from vmic.combine.motion import coarsen, global_motion, motion_direction, sum_by_block
from vmic.combine.registry import (
    METHODS,
    Combined,
    CombineMethod,
    get_method,
    register_method,
)
from vmic.combine.spectral import apply_spectral_gain, common_spectrum_gain
from vmic.combine.splits import quadrant_split, split_half_snr, split_sample_snr, tile_quarters

__all__ = ["align_to_reference", "rank1_fit", "rank1_combine", "local_combine", "global_motion",
           "split_half_snr", "split_sample_snr", "tile_quarters", "coarsen",
           "sum_by_block", "motion_direction", "common_spectrum_gain", "apply_spectral_gain",
           "quadrant_split", "crossfit_split_test", "DETECTION_Z", "METHODS", "CombineMethod",
           "Combined", "get_method", "register_method"]
