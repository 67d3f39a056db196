"""The pyramid equals pyrtools' complex SteerablePyramidFreq band for band."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vmic.core.fft import BACKENDS
from vmic.core.pyramid import SteerablePyramid, max_scales
from vmic.errors import VmicError

pyrtools = pytest.importorskip("pyrtools")


def _reference(image, scales, orientations):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyrtools warns about odd sizes
        return pyrtools.pyramids.SteerablePyramidFreq(
            image, height=scales, order=orientations - 1, is_complex=True
        ).pyr_coeffs


def _worst_relative_error(ours, theirs):
    worst = 0.0
    for key, band in theirs.items():
        peak = max(np.abs(band).max(), 1e-300)
        worst = max(worst, np.abs(ours[key] - band).max() / peak)
    return worst


@settings(max_examples=40, deadline=None)
@given(
    height=st.integers(8, 72),
    width=st.integers(8, 72),
    orientations=st.integers(2, 8),
    data=st.data(),
)
def test_bands_equal_pyrtools(height, width, orientations, data):
    scales = data.draw(st.integers(1, max_scales((height, width))))
    seed = data.draw(st.integers(0, 2**31 - 1))
    backend = data.draw(st.sampled_from(BACKENDS))  # every FFT back-end recovery may pick
    image = np.random.default_rng(seed).random((height, width)) * 255
    theirs = _reference(image, scales, orientations)
    ours64 = SteerablePyramid((height, width), scales, orientations, dtype=np.float64,
                              fft=backend).build(image)
    assert set(ours64) == set(theirs)
    assert _worst_relative_error(ours64, theirs) <= 1e-10
    ours32 = SteerablePyramid((height, width), scales, orientations, fft=backend).build(image)
    assert ours32[(0, 0)].dtype == np.complex64
    assert _worst_relative_error(ours32, theirs) <= 1e-5


@pytest.mark.parametrize("shape", [(32, 32), (33, 47), (40, 64), (17, 128)])
def test_every_scale_and_orientation_count(shape):
    image = np.random.default_rng(1).random(shape)
    for orientations in range(2, 9):
        for scales in range(1, max_scales(shape) + 1):
            theirs = _reference(image, scales, orientations)
            ours = SteerablePyramid(shape, scales, orientations, dtype=np.float64).build(image)
            assert _worst_relative_error(ours, theirs) <= 1e-10


def test_batch_equals_single_frames():
    frames = np.random.default_rng(2).random((5, 40, 56))
    pyr = SteerablePyramid((40, 56), 2, 4, dtype=np.float64)
    batch = pyr.build(frames)
    for i in (0, 4):
        single = pyr.build(frames[i])
        for key in single:
            np.testing.assert_allclose(batch[key][i], single[key], atol=1e-12)


@pytest.mark.parametrize("orientations", [1, 2, 4, 8])
@pytest.mark.parametrize("shape", [(64, 64), (48, 80)])
def test_reconstruction_returns_the_image(shape, orientations):
    image = np.random.default_rng(4).random(shape)
    # The radial masks are looked up in a table with linear interpolation (as in pyrtools),
    # so lo**2 + hi**2 = 1 holds to ~1e-5, not to round-off: reconstruction is that close.
    for scales in (1, max_scales(shape)):
        pyr = SteerablePyramid(shape, scales, orientations, dtype=np.float64)
        assert np.abs(pyr.reconstruct(pyr.build(image)) - image).max() < 2e-5
    pyr32 = SteerablePyramid(shape, 2, orientations)
    assert np.abs(pyr32.reconstruct(pyr32.build(image)) - image).max() < 1e-4


def test_reconstruction_matches_pyrtools_for_even_sizes():
    image = np.random.default_rng(5).random((32, 48))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = pyrtools.pyramids.SteerablePyramidFreq(image, height=3, order=3, is_complex=True)
    ours = SteerablePyramid((32, 48), 3, 4, dtype=np.float64)
    np.testing.assert_allclose(ours.reconstruct(ours.build(image)), ref.recon_pyr(), atol=1e-10)


def test_real_part_is_the_real_pyramid():
    image = np.random.default_rng(6).random((32, 32))
    real = pyrtools.pyramids.SteerablePyramidFreq(image, height=2, order=3, is_complex=False)
    ours = SteerablePyramid((32, 32), 2, 4, dtype=np.float64).build(image)
    for key in [(0, 0), (1, 3)]:
        np.testing.assert_allclose(ours[key].real, real.pyr_coeffs[key], atol=1e-10)


def test_too_many_scales_is_a_clear_error():
    with pytest.raises(VmicError, match="too many"):
        SteerablePyramid((32, 32), scales=4)
    with pytest.raises(VmicError, match="too small"):
        SteerablePyramid((6, 40), scales=1)
    with pytest.raises(VmicError, match="orientations"):
        SteerablePyramid((32, 32), 1, orientations=0)


def test_wrong_frame_shape_is_refused():
    pyr = SteerablePyramid((32, 32), 1, 2)
    with pytest.raises(VmicError, match="shape"):
        pyr.build(np.zeros((31, 32)))
