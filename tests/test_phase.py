"""Phase sums: the fast atan2 and the per-tile reductions against plain numpy."""

import numba
import numpy as np

from vmic.core.kernels import fast_atan2 as _fast_atan2
from vmic.core.phase import frame_phase_sums, reference_bands, tile_grid
from vmic.core.pyramid import SteerablePyramid


@numba.njit
def _atan2_all(y, x):
    out = np.empty(x.size)
    for i in range(x.size):
        out[i] = _fast_atan2(y[i], x[i])
    return out


def test_fast_atan2_matches_numpy_everywhere():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(200_000) * 10.0 ** rng.uniform(-3, 3, 200_000)).astype(np.float32)
    y = (rng.standard_normal(200_000) * 10.0 ** rng.uniform(-3, 3, 200_000)).astype(np.float32)
    x[:4], y[:4] = [0, 0, -1, 1], [0, 1, 0, 0]
    ours = _atan2_all(y, x)
    exact = np.arctan2(y.astype(np.float64), x.astype(np.float64))
    wrapped = np.angle(np.exp(1j * (ours - exact)))  # -pi and pi are the same angle
    assert np.abs(wrapped).max() < 1e-6
    assert ours[0] == 0.0


def test_tile_sums_equal_a_numpy_transcription():
    rng = np.random.default_rng(1)
    frames = rng.random((3, 40, 52)).astype(np.float32) * 200
    pyr = SteerablePyramid((40, 52), 2, 3)
    reference = reference_bands(pyr, frames[0])
    tiles = (3, 4)
    sums = frame_phase_sums(pyr, reference, frames, tiles)
    spectra = pyr.spectra(frames)
    for s in range(2):
        bands = pyr.scale_bands(spectra, s).astype(np.complex128)
        dphi = np.angle(bands * np.conj(reference[s].astype(np.complex128)))
        amp2 = np.abs(bands) ** 2
        rows, cols = tile_grid(pyr.band_shapes[s], tiles)
        for ty in range(tiles[0]):
            for tx in range(tiles[1]):
                mask = (rows[:, None] == ty) & (cols[None, :] == tx)
                expected = (dphi * amp2)[..., mask].sum(-1)
                np.testing.assert_allclose(sums.weighted_phase[:, s, :, ty, tx], expected,
                                           rtol=1e-4, atol=1e-3 * np.abs(expected).max())
                np.testing.assert_allclose(sums.energy[:, s, :, ty, tx],
                                           amp2[..., mask].sum(-1), rtol=1e-4)
