"""Tests of vmic.denoise: length and rate kept, SNR gained, silence finite, band parsing."""

from __future__ import annotations

import numpy as np
import pytest

from vmic.denoise import (
    DENOISE_METHODS,
    denoise,
    noise_profile,
    stft_size,
)
from vmic.errors import VmicError
from vmic.post import bandpass, check_band, parse_band

ACTIVE = tuple(m for m in DENOISE_METHODS if m != "none")


def snr_db(clean: np.ndarray, estimate: np.ndarray) -> float:
    return 10 * np.log10(np.sum(clean ** 2) / np.sum((estimate - clean) ** 2))


def tone_in_noise(n: int, sr: float, noise_rms: float, seed: int = 0):
    t = np.arange(n) / sr
    clean = np.sin(2 * np.pi * 0.07 * sr * t)
    noisy = clean + noise_rms * np.random.default_rng(seed).standard_normal(n)
    return clean, noisy


@pytest.mark.parametrize("method", DENOISE_METHODS)
@pytest.mark.parametrize("n", [1, 15, 16, 50, 51, 257, 1001, 4097])
@pytest.mark.parametrize("rate", [600.0, 2200.0, 20000.0])
def test_length_and_dtype_unchanged(method, n, rate):
    _, noisy = tone_in_noise(n, rate, 0.5, seed=n)
    out = denoise(noisy, rate, method=method)
    assert out.shape == (n,)
    assert out.dtype == np.float64
    assert np.all(np.isfinite(out))


def test_sample_rate_unchanged_through_wav(tmp_path):
    from vmic.io.audio import read_wav, write_wav

    rate = 2200.0
    _, noisy = tone_in_noise(3333, rate, 0.5)
    for method in DENOISE_METHODS:
        path = tmp_path / f"{method}.wav"
        write_wav(path, denoise(noisy, rate, method=method), rate)
        audio, read_rate = read_wav(path)
        assert read_rate == 2200
        assert audio.size == noisy.size


@pytest.mark.parametrize("method", ACTIVE)
@pytest.mark.parametrize("rate", [600.0, 2200.0, 20000.0])
def test_snr_improves_on_tone_in_white_noise(method, rate):
    clean, noisy = tone_in_noise(int(2 * rate), rate, 1.0)
    before = snr_db(clean, noisy)
    after = snr_db(clean, denoise(noisy, rate, method=method))
    assert after > before + 3.0, (before, after)


def test_none_is_identity_copy():
    x = np.arange(100, dtype=np.float32)
    out = denoise(x, 1000.0, method="none")
    assert out.dtype == np.float64 and np.array_equal(out, x)
    out[0] = -1
    assert x[0] == 0


@pytest.mark.parametrize("method", ACTIVE)
def test_deterministic_and_input_untouched(method):
    _, noisy = tone_in_noise(2000, 2200.0, 0.7)
    kept = noisy.copy()
    a = denoise(noisy, 2200.0, method=method)
    b = denoise(noisy, 2200.0, method=method)
    assert np.array_equal(a, b)
    assert np.array_equal(noisy, kept)


@pytest.mark.parametrize("method", ACTIVE)
@pytest.mark.parametrize("offset", [0.0, 5.0])
def test_silence_stays_finite(method, offset):
    out = denoise(np.full(999, offset), 600.0, method=method)
    assert np.all(np.isfinite(out))
    assert np.allclose(out, offset)


@pytest.mark.parametrize("method", ACTIVE)
def test_zero_phase_no_delay(method):
    # A strong tone passes with no lag: cross-correlation peaks at lag 0.
    rate = 2200.0
    clean, noisy = tone_in_noise(4400, rate, 0.3)
    out = denoise(noisy, rate, method=method)
    lags = np.arange(-20, 21)
    corr = [np.dot(np.roll(out, k)[100:-100], clean[100:-100]) for k in lags]
    assert lags[int(np.argmax(corr))] == 0


def test_noise_profile_estimates_mean_power_and_ignores_steady_tone():
    rng = np.random.default_rng(3)
    power = rng.exponential(2.0, size=(65, 400))  # white noise, mean power 2
    power[20] += 500.0  # a tone in every frame
    power[40:44] += 300.0  # a held chord: three neighbouring tones
    power[47] += 300.0
    profile = noise_profile(power, quantile=0.1)
    assert np.all(np.abs(profile - 2.0) < 0.5)
    raw = noise_profile(power, quantile=0.1, smooth_bins=1)
    assert raw[20] > 100  # without smoothing the tone counts as noise


def test_stft_size_adapts():
    assert stft_size(50, 2200.0) == 8
    assert stft_size(10 ** 6, 600.0) == 64
    assert stft_size(10 ** 6, 2200.0) == 256
    assert stft_size(10 ** 6, 20000.0) == 2048
    assert stft_size(200, 20000.0) == 32


@pytest.mark.parametrize("kwargs, message", [
    ({"method": "median"}, "unknown denoise method"),
    ({"method": "wiener", "over_subtraction": 2}, "no parameter"),
    ({"method": "gate", "floor": 2.0}, "floor"),
    ({"method": "wiener", "quantile": 1.5}, "quantile"),
])
def test_bad_parameters(kwargs, message):
    with pytest.raises(VmicError, match=message):
        denoise(np.zeros(100), 1000.0, **kwargs)


def test_bad_signals():
    with pytest.raises(VmicError, match="non-finite"):
        denoise(np.array([0.0, np.nan] * 50), 1000.0, method="wiener")
    with pytest.raises(VmicError, match="shape"):
        denoise(np.zeros((2, 100)), 1000.0, method="wiener")
    with pytest.raises(VmicError, match="sample rate"):
        denoise(np.zeros(100), 0.0, method="wiener")


def test_parse_band():
    assert parse_band("80,1000") == (80.0, 1000.0)
    assert parse_band(" 20.5 , 300 ") == (20.5, 300.0)
    assert parse_band("80,1000", sr=2200.0) == (80.0, 1000.0)
    for bad in ["", "80", "80,", "a,b", "1000,80", "0,100", "-5,100", "1,2,3", "nan,5",
                "80,inf"]:
        with pytest.raises(VmicError, match="band"):
            parse_band(bad)
    with pytest.raises(VmicError, match="Nyquist"):
        parse_band("80,1100", sr=2200.0)


def test_one_band_validator_for_parsing_and_filtering():
    # parse_band and post.bandpass refuse the same bands with the same check
    for lo, hi in [(0.0, 100.0), (100.0, 80.0), (80.0, 1100.0), (float("nan"), 5.0)]:
        with pytest.raises(VmicError, match="band"):
            check_band(lo, hi, sr=2200.0)
        with pytest.raises(VmicError, match="band"):
            bandpass(np.zeros(64), 2200.0, lo, hi)
    with pytest.raises(VmicError, match="--bandpass"):
        parse_band("80,1100", sr=2200.0, name="--bandpass")


def test_options_are_keyword_only():
    with pytest.raises(TypeError):
        denoise(np.zeros(100), 1000.0, "wiener")  # method is keyword-only
