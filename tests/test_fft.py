"""FFT back-ends: scipy and OpenCV give numpy's transforms; OpenCV on 5-smooth sizes."""

import numpy as np
import pytest

from vmic.core import fft
from vmic.core.pyramid import SteerablePyramid
from vmic.errors import VmicError


@pytest.mark.parametrize("dtype,tol", [(np.float32, 2e-5), (np.float64, 1e-12)])
def test_backends_agree(dtype, tol):
    rng = np.random.default_rng(0)
    real = rng.normal(size=(3, 20, 27)).astype(dtype)
    cplx = (real + 1j * rng.normal(size=real.shape)).astype(np.result_type(dtype, np.complex64))
    for name in ("rfft2", "fft2"):
        b = getattr(np.fft, name)(real.astype(np.float64))
        for backend in ("scipy", "opencv"):
            a = getattr(fft, name)(real, backend)
            assert a.dtype == cplx.dtype
            assert a.shape == b.shape
            np.testing.assert_allclose(a, b, atol=tol * np.abs(b).max())
    reference = np.fft.ifft2(cplx.astype(np.complex128))
    for backend in ("scipy", "opencv"):
        kept = cplx.copy()
        a = fft.ifft2(cplx, backend)
        np.testing.assert_array_equal(cplx, kept)  # not overwritten unless asked
        np.testing.assert_allclose(a, reference, atol=tol * np.abs(a).max())
        work = cplx.copy()
        b = fft.ifft2(work, backend, overwrite=True)
        np.testing.assert_allclose(b, a, atol=0)
        if backend == "opencv":
            assert b is work  # transformed in place, as the pyramid asks


@pytest.mark.parametrize("backend", ["scipy", "opencv"])
def test_unnormalised_inverse_skips_only_the_division(backend):
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(2, 12, 10)) + 1j * rng.normal(size=(2, 12, 10))).astype(np.complex64)
    scaled = fft.ifft2(x, backend)
    plain = fft.ifft2(x.copy(), backend, normalize=False)
    assert plain.dtype == np.complex64
    np.testing.assert_allclose(plain, scaled * 120, rtol=1e-5, atol=1e-5 * np.abs(plain).max())
    np.testing.assert_allclose(plain, np.fft.ifft2(x.astype(np.complex128)) * 120,
                               atol=1e-5 * np.abs(plain).max())


def test_opencv_backend_takes_any_leading_shape_and_one_frame():
    rng = np.random.default_rng(3)
    frames = rng.normal(size=(2, 3, 12, 10)).astype(np.float32)
    np.testing.assert_allclose(fft.rfft2(frames, "opencv"), np.fft.rfft2(frames),
                               atol=2e-5 * np.abs(np.fft.rfft2(frames)).max())
    one = frames[0, 0]
    np.testing.assert_allclose(fft.rfft2(one, "opencv"), np.fft.rfft2(one),
                               atol=2e-5 * np.abs(np.fft.rfft2(one)).max())
    # Integer frames are transformed in double precision, as numpy does.
    counts = rng.integers(0, 255, size=(9, 14))
    assert fft.rfft2(counts, "opencv").dtype == np.complex128
    np.testing.assert_allclose(fft.fft2(counts, "opencv"), np.fft.fft2(counts), atol=1e-9)


def test_pyramid_bands_do_not_depend_on_the_backend():
    frame = np.random.default_rng(1).random((40, 52))
    scipy_pyramid = SteerablePyramid(frame.shape, 3, 4, dtype=np.float64, fft="scipy")
    by_scipy = scipy_pyramid.build(frame)
    for backend in ("opencv",):
        other = SteerablePyramid(frame.shape, 3, 4, dtype=np.float64, fft=backend)
        built = other.build(frame)
        for key, band in by_scipy.items():
            np.testing.assert_allclose(built[key], band, atol=1e-12 * np.abs(band).max())
        np.testing.assert_allclose(other.reconstruct(built),
                                   scipy_pyramid.reconstruct(by_scipy), atol=1e-12)
    for unknown in ("fftw", "numpy"):
        with pytest.raises(VmicError, match="back-end"):
            SteerablePyramid(frame.shape, 2, 2, fft=unknown)


def test_choose_backend_takes_opencv_on_5_smooth_sizes_only():
    assert fft.choose_backend((192, 192)) == "opencv"
    assert fft.choose_backend((1080, 1920)) == "opencv"
    assert fft.choose_backend((191, 192)) == "scipy"
    assert fft.choose_backend((1021, 1024)) == "scipy"


def test_is_5_smooth():
    assert [n for n in range(1, 31) if fft.is_5_smooth(n)] == [
        1, 2, 3, 4, 5, 6, 8, 9, 10, 12, 15, 16, 18, 20, 24, 25, 27, 30]
    assert not fft.is_5_smooth(0)
    assert not fft.is_5_smooth(7 * 64)
