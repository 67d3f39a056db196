"""FFT back-ends: numpy and scipy give the same transforms; short clips skip scipy.fft."""

import subprocess
import sys

import numpy as np
import pytest

from vmic import fft
from vmic.errors import VmicError
from vmic.pyramid import SteerablePyramid


@pytest.mark.parametrize("dtype,tol", [(np.float32, 2e-5), (np.float64, 1e-12)])
def test_backends_agree(dtype, tol):
    rng = np.random.default_rng(0)
    real = rng.normal(size=(3, 20, 27)).astype(dtype)
    cplx = (real + 1j * rng.normal(size=real.shape)).astype(np.result_type(dtype, np.complex64))
    for name in ("rfft2", "fft2"):
        a = getattr(fft, name)(real, "numpy")
        b = getattr(fft, name)(real, "scipy")
        assert a.dtype == b.dtype == cplx.dtype
        np.testing.assert_allclose(a, b, atol=tol * np.abs(b).max())
    kept = cplx.copy()
    a = fft.ifft2(cplx, "numpy")
    np.testing.assert_array_equal(cplx, kept)  # not overwritten unless asked
    np.testing.assert_allclose(a, fft.ifft2(cplx, "scipy"), atol=tol * np.abs(a).max())
    np.testing.assert_allclose(fft.ifft2(cplx.copy(), "numpy", overwrite=True), a, atol=0)


def test_pyramid_bands_do_not_depend_on_the_backend():
    frame = np.random.default_rng(1).random((40, 52))
    by_numpy = SteerablePyramid(frame.shape, 3, 4, dtype=np.float64, fft="numpy").build(frame)
    by_scipy = SteerablePyramid(frame.shape, 3, 4, dtype=np.float64, fft="scipy").build(frame)
    for key, band in by_scipy.items():
        np.testing.assert_allclose(by_numpy[key], band, atol=1e-12 * np.abs(band).max())
    with pytest.raises(VmicError, match="back-end"):
        SteerablePyramid(frame.shape, 2, 2, fft="fftw")


def test_choose_backend_weighs_the_work():
    assert fft.choose_backend(1100, (192, 192)) == "numpy"
    assert fft.choose_backend(20000, (192, 192)) == "scipy"
    assert fft.choose_backend(1000, (1024, 1024)) == "scipy"


def test_a_short_recovery_does_not_import_scipy_fft():
    code = ("import sys, numpy as np; from vmic.recover import recover; "
            "f = np.random.default_rng(0).random((60, 48, 48)).astype(np.float32); "
            "recover(f, fps=2200.0); recover(f, fps=2200.0, combine='align'); "
            "print('scipy.fft' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
