"""Recovery of rendered clips with known sub-pixel motion."""

import numpy as np
import pytest
import scipy.signal
from conftest import shifted_frames, smooth_texture, snr_db

from vmic import combine, post
from vmic.core.phase import concatenate_sums, flow_weights, frame_phase_sums, reference_bands
from vmic.core.pyramid import SteerablePyramid
from vmic.errors import VmicError
from vmic.recovery import recover


def dominant_hz(audio, fs, lo=0.0, hi=None):
    freqs, power = scipy.signal.periodogram(audio, fs, window="hann")
    band = (freqs >= lo) & (freqs <= (hi if hi is not None else fs / 2))
    return freqs[band][np.argmax(power[band])]


@pytest.mark.parametrize("method", ["auto", "local", "bands", "align"])
def test_sinusoidal_subpixel_motion_is_recovered(sine_clip, method):
    frames, displacement, fps, freq = sine_clip
    result = recover(frames, fps=fps, combine=method)
    assert result.sr == fps
    assert result.audio.shape == displacement.shape and result.audio.dtype == np.float32
    assert np.abs(result.audio).max() <= 1.0 + 1e-6
    assert abs(dominant_hz(result.audio, fps) - freq) <= fps / len(displacement)
    # Noise-free rendering: the recovered waveform is the displacement up to gain and sign.
    truth = post.highpass(displacement, fps, post.audible_highpass_hz(fps))
    skip = 40  # filter start-up
    # align's causal filter delays the signal by a fraction of a sample that no integer lag
    # undoes (at 10 samples per period that alone caps its SNR near 17 dB).
    if method == "align":
        assert snr_db(result.audio[skip:].astype(float), truth[skip:], max_lag=10) >= 12.0
    else:
        assert snr_db(result.audio[skip:].astype(float), truth[skip:]) >= 30.0


def test_noisy_clip_recovers_above_a_minimum_snr(sine_clip):
    frames, displacement, fps, freq = sine_clip
    noisy = frames + np.random.default_rng(0).normal(0, 2.0, frames.shape)
    result = recover(noisy, fps=fps)
    truth = post.highpass(displacement, fps, post.audible_highpass_hz(fps))
    assert snr_db(result.audio[40:].astype(float), truth[40:]) >= 10.0


def _two_region_clip():
    fps, freq, n = 2200.0, 180.0, 440
    d = 0.05 * np.sin(2 * np.pi * freq * np.arange(n) / fps)
    texture = smooth_texture((64, 64), seed=7)
    left = shifted_frames(texture, d)
    right = shifted_frames(texture, -d)
    frames = left.copy()
    frames[:, :, 32:] = right[:, :, 32:]
    truth = post.highpass(d, fps, post.audible_highpass_hz(fps))
    return frames, fps, truth


@pytest.mark.parametrize("method", ["auto", "local", "bands"])
def test_opposite_sign_regions_add_up_in_every_method_but_cancel_in_align(method):
    frames, fps, truth = _two_region_clip()
    result = recover(frames, fps=fps, combine=method)
    aligned = recover(frames, fps=fps, combine="align")
    snr_method = snr_db(result.audio[40:].astype(float), truth[40:])
    snr_align = snr_db(aligned.audio[40:].astype(float), truth[40:])
    assert snr_method >= 20.0
    assert snr_align < 10.0  # the original cancels the two halves
    assert snr_method >= snr_align + 10.0


def test_local_finds_opposite_signs_without_the_truth():
    frames, fps, _ = _two_region_clip()
    local = recover(frames, fps=fps, combine="local")
    assert local.info.candidate.startswith("rank1")
    weights = local.weights[0]  # (TY, TX): weight of each tile's horizontal motion
    half = weights.shape[1] // 2
    assert np.sign(weights[:, : half - 1].sum()) == -np.sign(weights[:, half + 1 :].sum())


def _still_noisy_clip(seed):
    # A scene that does not move, with camera noise: nothing to detect.
    rng = np.random.default_rng(seed)
    texture = smooth_texture((64, 64), seed=seed)
    return (texture[None] + rng.normal(0, 3.0, (660, 64, 64))).astype(np.float32), 2200.0


def test_auto_gives_align_output_exactly_when_no_signal_is_detected():
    frames, fps = _still_noisy_clip(21)
    auto = recover(frames, fps=fps, combine="auto")
    aligned = recover(frames, fps=fps, combine="align")
    local = recover(frames, fps=fps, combine="local")
    assert local.info.detected is False and auto.info.fallback is True
    assert auto.info.combine == "auto" and auto.info.method == "align"
    np.testing.assert_array_equal(auto.audio, aligned.audio)
    np.testing.assert_array_equal(auto.band_signals, aligned.band_signals)
    # It was align's own configuration (one scale, one reference frame), read again.
    assert auto.info.scales == aligned.info.scales == 1
    assert auto.info.reference_average == 1
    assert auto.info.detection_z == local.info.detection_z
    # Explicit arguments reach the second reading too.
    two = recover(frames, fps=fps, combine="auto", scales=2, reference_average=4)
    np.testing.assert_array_equal(
        two.audio, recover(frames, fps=fps, combine="align", scales=2,
                           reference_average=4).audio)


def test_auto_is_local_where_a_signal_is_detected(sine_clip):
    frames, _, fps, _ = sine_clip
    noisy = frames + np.random.default_rng(0).normal(0, 2.0, frames.shape)
    auto = recover(noisy, fps=fps, combine="auto")
    local = recover(noisy, fps=fps, combine="local")
    assert auto.info.detected is True and not auto.info.fallback
    np.testing.assert_array_equal(auto.audio, local.audio)
    np.testing.assert_array_equal(auto.weights, local.weights)


def test_bands_finds_opposite_signs_without_the_truth():
    frames, fps, _ = _two_region_clip()
    result = recover(frames, fps=fps, combine="bands")
    assert result.weights.shape[:2] == (3, 2) and result.weights.shape[2:] == (4, 4)
    # Horizontal motion is seen by orientation 0 of the finest scale.
    weights = result.weights[0, 0]
    assert np.sign(weights[:, :2].sum()) == -np.sign(weights[:, 2:].sum())


def test_split_frame_ranges_give_identical_sums(sine_clip):
    frames, _, fps, _ = sine_clip
    pyr = SteerablePyramid(frames.shape[1:], 2, 4)
    reference = reference_bands(pyr, frames[0])
    weights = flow_weights(pyr, frames[0])
    tiles = (3, 4)
    whole = frame_phase_sums(pyr, reference, frames, tiles, weights)
    parts = concatenate_sums([frame_phase_sums(pyr, reference, frames[a:b], tiles, weights)
                              for a, b in [(0, 100), (100, 101), (101, len(frames))]])
    np.testing.assert_allclose(parts.weighted_phase, whole.weighted_phase, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(parts.flow, whole.flow, rtol=1e-6, atol=1e-9)


def test_reference_frame_choice_changes_only_offset(sine_clip):
    frames, displacement, fps, freq = sine_clip
    first = recover(frames, fps=fps, reference_frame=0).audio
    later = recover(frames, fps=fps, reference_frame=17).audio
    assert abs(np.corrcoef(first[40:], later[40:])[0, 1]) > 0.99


def test_align_matches_an_independent_transcription_of_the_original(sine_clip):
    # vmSoundFromVideo step by step, written directly from its listing with numpy only.
    frames, _, fps, _ = sine_clip
    frames = frames[:200] + np.random.default_rng(1).normal(0, 1.0, frames[:200].shape)
    pyr = SteerablePyramid(frames.shape[1:], 2, 2, dtype=np.float64)
    ref = pyr.build(frames[0], residuals=False)
    signals = np.zeros((2, 2, len(frames)))
    for q, frame in enumerate(frames):
        cur = pyr.build(frame, residuals=False)
        for (s, k), band in cur.items():
            amp = np.abs(band)
            dphase = np.mod(np.pi + np.angle(band) - np.angle(ref[(s, k)]), 2 * np.pi) - np.pi
            signals[s, k, q] = np.mean(dphase * amp**2) / np.sum(amp)
    total = np.zeros(len(frames))
    for s in range(2):
        for k in range(2):
            a, b = signals[s, k], signals[0, 0]
            c = np.convolve(a, b[::-1])
            total += np.roll(a, len(b) - (int(np.argmax(c)) + 1))
    bb, aa = scipy.signal.butter(3, 0.05, "high")
    x = scipy.signal.lfilter(bb, aa, total)
    x[:10] = x.mean()
    x = 2 * x / (x.max() - x.min())
    x -= x.max() - 1.0
    ours = recover(frames, fps=fps, scales=2, orientations=2, combine="align",
                   dtype=np.float64).audio
    assert np.corrcoef(ours, x)[0, 1] >= 0.99
    np.testing.assert_allclose(ours, x, atol=1e-4)


def test_rank1_fit_finds_signs_and_noise_without_truth():
    rng = np.random.default_rng(3)
    source = rng.standard_normal(2000)
    loadings = np.array([1.0, -0.5, 2.0, -1.5, 0.2])
    noise = np.array([0.5, 0.5, 1.0, 0.1, 2.0])
    signals = loadings[:, None] * source + noise[:, None] * rng.standard_normal((5, 2000))
    est_loadings, est_noise = combine.rank1_fit(signals)
    sign = np.sign(est_loadings[2])
    np.testing.assert_allclose(sign * est_loadings, loadings, rtol=0.1, atol=0.05)
    # A strongly loaded signal leaves little variance to its noise: absolute tolerance.
    np.testing.assert_allclose(est_noise, noise**2, rtol=0.2, atol=0.05)
    combined, weights = combine.rank1_combine(signals)
    assert np.corrcoef(combined, source)[0, 1] ** 2 > 0.97
    # Maximum-SNR weights beat a plain sum.
    assert abs(np.corrcoef(signals.sum(axis=0), source)[0, 1]) < abs(
        np.corrcoef(combined, source)[0, 1])


def test_featureless_and_tiny_inputs_are_refused(sine_clip):
    frames, _, fps, _ = sine_clip
    with pytest.raises(VmicError, match="featureless"):
        recover(np.full((10, 32, 32), 100.0), fps=fps)
    with pytest.raises(VmicError, match="at least 2 frames"):
        recover(frames[:1], fps=fps)
    with pytest.raises(VmicError, match="too many"):
        recover(frames, fps=fps, scales=6)
    with pytest.raises(VmicError, match="capture rate"):
        recover(frames)
    with pytest.raises(VmicError, match="unknown combination"):
        recover(frames, fps=fps, combine="nope")


def test_averaged_reference_recovers_more_from_a_noisy_clip(sine_clip):
    # One noisy reference frame puts its noise into every pixel's motion weight.
    frames, displacement, fps, _ = sine_clip
    noisy = frames + np.random.default_rng(0).normal(0, 16.0, frames.shape)
    truth = post.highpass(displacement, fps, post.audible_highpass_hz(fps))
    single = recover(noisy, fps=fps, reference_average=1)
    averaged = recover(noisy, fps=fps)
    assert averaged.info.reference_average == 32 and single.info.reference_average == 1
    snr_single = snr_db(single.audio[40:].astype(float), truth[40:])
    snr_averaged = snr_db(averaged.audio[40:].astype(float), truth[40:])
    assert snr_averaged >= snr_single + 1.0


def test_align_keeps_the_original_single_reference_frame(sine_clip):
    frames, _, fps, _ = sine_clip
    assert recover(frames, fps=fps, combine="align").info.reference_average == 1
    with pytest.raises(VmicError, match="average"):
        recover(frames, fps=fps, reference_average=0)
