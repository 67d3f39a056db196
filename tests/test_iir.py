"""vmic.iir equals scipy.signal's Butterworth design and filters to round-off."""

import numpy as np
import pytest
import scipy.signal

from vmic import iir


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize("wn", [0.005, 0.05, 0.3, 0.9])
def test_highpass_design_and_filters_match_scipy(order, wn):
    rng = np.random.default_rng(order)
    x = rng.standard_normal((3, 400))
    theirs = scipy.signal.butter(order, wn, "highpass", output="sos")
    ours = iir.butter_highpass_sos(order, wn)
    scale = np.abs(scipy.signal.sosfilt(theirs, x)).max()
    np.testing.assert_allclose(iir.sosfilt(ours, x), scipy.signal.sosfilt(theirs, x),
                               atol=1e-10 * scale)
    np.testing.assert_allclose(iir.sosfiltfilt(ours, x, 150),
                               scipy.signal.sosfiltfilt(theirs, x, padtype="even", padlen=150),
                               atol=1e-10 * scale)
    b, a = scipy.signal.butter(order, wn, "highpass")
    ob, oa = iir.butter_highpass_ba(order, wn)
    np.testing.assert_allclose(ob, b, atol=1e-12)
    np.testing.assert_allclose(oa, a, atol=1e-12)
    if order <= 3:  # the (b, a) form is ill-conditioned at high orders and low cutoffs
        np.testing.assert_allclose(iir.lfilter(ob, oa, x[0]),
                                   scipy.signal.lfilter(b, a, x[0]), atol=1e-9 * scale)


def test_bad_design_arguments():
    with pytest.raises(ValueError):
        iir.butter_highpass_sos(0, 0.1)
    with pytest.raises(ValueError):
        iir.butter_highpass_sos(3, 1.0)
    with pytest.raises(ValueError):
        iir.sosfiltfilt(iir.butter_highpass_sos(3, 0.1), np.zeros(10), padlen=10)
