"""The frame-range API: prepare, extract each range, join and recover, as one pass does."""

import pickle

import numpy as np
import pytest
from conftest import REPO, shifted_frames, smooth_texture

import vmic
from vmic.errors import VmicError
from vmic.io.clip import Clip, open_clip

RANGES = [(0, 100), (100, 101), (101, 330), (330, 660)]


def _clip_range(source, fps, a, b):
    # A range of the clip: clip[a:b] where Clip slices, else the same selection opened.
    if hasattr(Clip, "__getitem__"):
        return open_clip(source, fps=fps)[a:b]
    return open_clip(source, fps=fps, start=a, n_frames=b - a)


def _noisy_sine(seed=0, amplitude=0.05, n=660):
    fps = 2200.0
    d = amplitude * np.sin(2 * np.pi * 220.0 * np.arange(n) / fps)
    frames = shifted_frames(smooth_texture((48, 64), seed=3), d)
    noise = np.random.default_rng(seed).normal(0, 2.0, frames.shape)
    return (frames + noise).astype(np.float32), fps


def _still(seed=21):
    rng = np.random.default_rng(seed)
    texture = smooth_texture((64, 64), seed=seed)
    return (texture[None] + rng.normal(0, 3.0, (660, 64, 64))).astype(np.float32), 2200.0


def _by_ranges(frames, fps, combine, **options):
    clip = open_clip(frames, fps=fps)
    extraction = vmic.prepare_extraction(clip, combine=combine)
    # Each range could be extracted in another process: the extraction travels pickled.
    extraction = pickle.loads(pickle.dumps(extraction))
    parts = [vmic.extract_range(extraction, _clip_range(frames, fps, a, b)) for a, b in RANGES]
    return vmic.recover_from_ranges(extraction, parts, **options)


@pytest.mark.parametrize("combine", ["auto", "local", "bands", "align"])
@pytest.mark.parametrize("clip", ["signal", "still"])
def test_three_calls_equal_one_pass(combine, clip):
    # Per-frame sums do not depend on how frames are batched, nor the reference on whether
    # it is averaged from the stream's head or read apart (float64 sums of float32 grey
    # levels are exact), so the results are equal, not merely close.
    frames, fps = _noisy_sine() if clip == "signal" else _still()
    whole = vmic.recover(frames, fps=fps, combine=combine)
    parts = _by_ranges(frames, fps, combine)
    np.testing.assert_array_equal(parts.audio, whole.audio)
    np.testing.assert_array_equal(parts.band_signals, whole.band_signals)
    assert parts.info.method == whole.info.method
    assert parts.info.fallback == whole.info.fallback
    if combine == "auto":
        assert whole.info.fallback is (clip == "still")


def test_post_options_apply_to_the_joined_ranges():
    frames, fps = _noisy_sine()
    options = dict(highpass_hz=50.0, bandpass_hz=(100.0, 600.0), denoise="wiener")
    whole = vmic.recover(frames, fps=fps, **options)
    np.testing.assert_array_equal(_by_ranges(frames, fps, "auto", **options).audio, whole.audio)


def test_joining_refuses_bad_parts():
    frames, fps = _noisy_sine(n=200)
    clip = open_clip(frames, fps=fps)
    extraction = vmic.prepare_extraction(clip, combine="local")
    a, b, c = (vmic.extract_range(extraction, _clip_range(frames, fps, lo, hi))
               for lo, hi in [(0, 50), (50, 120), (100, 200)])
    with pytest.raises(VmicError, match="in order"):
        vmic.recover_from_ranges(extraction, [b, a])
    with pytest.raises(VmicError, match="overlaps"):
        vmic.recover_from_ranges(extraction, [a, b, c])
    with pytest.raises(VmicError, match="gap"):
        vmic.recover_from_ranges(extraction, [a, c])
    with pytest.raises(VmicError, match="non-empty list"):
        vmic.recover_from_ranges(extraction, [])
    with pytest.raises(VmicError, match="not RangeSums"):
        vmic.recover_from_ranges(extraction, [a, np.zeros(3)])
    other = vmic.prepare_extraction(clip, combine="local", reference_frame=1)
    with pytest.raises(VmicError, match="other settings"):
        vmic.recover_from_ranges(other, [a])
    align = vmic.prepare_extraction(clip, combine="align")
    with pytest.raises(VmicError, match="other settings"):
        vmic.recover_from_ranges(align, [a])
    with pytest.raises(VmicError, match="not a range of the clip"):
        vmic.extract_range(extraction, open_clip(frames[:, :32], fps=fps))
    with pytest.raises(VmicError, match="opened Clip"):
        vmic.prepare_extraction(frames)


def test_readme_step_by_step_reproduces_align():
    # The pieces of recover(..., combine="align"), one by one.
    from vmic import post
    from vmic.combine import align_to_reference
    from vmic.core.phase import original_band_signals, phase_sums, reference_bands

    frames, fps = _noisy_sine(n=300)
    clip = vmic.open_clip(frames, fps=fps)
    pyr = vmic.SteerablePyramid(clip.frame_shape, scales=1, orientations=2)
    ref = reference_bands(pyr, clip.read_frame(0))           # (K, h, w) complex per scale
    sums = phase_sums(pyr, ref, clip.iter_batches(64))       # per-frame sums, any range
    signals = original_band_signals(sums)                    # (S, K, T), radians
    audio = post.scale_original(post.original_highpass(align_to_reference(signals)))
    np.testing.assert_array_equal(audio.astype(np.float32),
                                  vmic.recover(frames, fps=fps, combine="align").audio)


def test_audio_in_px_is_the_motion():
    frames, fps = _noisy_sine(amplitude=0.05)
    scaled = vmic.recover(frames, fps=fps, combine="local")
    px = vmic.recover(frames, fps=fps, combine="local", units="px")
    assert scaled.info.units == "scaled" and px.info.units == "px" and px.info.gain_px == 1.0
    np.testing.assert_allclose(px.audio, scaled.audio * scaled.info.gain_px, rtol=1e-5,
                               atol=1e-7)
    # A 0.05 px sine: the px output's amplitude is about 0.05 (after the 20 Hz high-pass).
    amplitude = np.sqrt(2) * px.audio[40:].std()
    assert 0.04 < amplitude < 0.06
    with pytest.raises(VmicError, match="units"):
        vmic.recover(frames, fps=fps, combine="align", units="px")
    with pytest.raises(VmicError, match="units"):
        vmic.recover(frames, fps=fps, units="volts")


def test_recovery_info_is_typed_and_complete():
    frames, fps = _noisy_sine()
    local = vmic.recover(frames, fps=fps, combine="local").info
    assert isinstance(local, vmic.RecoveryInfo)
    assert local.combine == local.method == "local"
    assert local.candidate in ("rigid",) or local.candidate.startswith("rank1")
    assert local.detected is True and local.weights_unit and local.gain_px > 0
    align = vmic.recover(frames, fps=fps, combine="align").info
    assert align.method == "align" and align.candidate is None and align.gain_px is None
    assert align.weights_unit is None and align.detected is None and align.fallback is False
    still, fps = _still()
    auto = vmic.recover(still, fps=fps).info
    assert auto.combine == "auto" and auto.method == "align" and auto.fallback is True
    assert auto.candidate is not None and auto.detected is False and auto.gain_px is None


def test_frames_with_nan_or_inf_and_wrong_types_are_refused():
    frames, fps = _noisy_sine(n=200)
    bad = frames.copy()
    bad[50, 3, 4] = np.nan
    bad[120:130] = np.inf
    with pytest.raises(VmicError, match=r"frames? (\(s\) hold NaN or inf values \(frames )?50"):
        vmic.recover(bad, fps=fps)
    with pytest.raises(VmicError, match="clip must be a path"):
        vmic.recover(list(frames), fps=fps)


def test_ranges_of_a_video_file_equal_one_pass():
    path = REPO / "samples" / "melody_global.avi"
    if not path.is_file():
        pytest.skip("no shipped samples")
    whole = vmic.recover(path)
    clip = vmic.open_clip(path)
    extraction = vmic.prepare_extraction(clip)
    n = clip.n_frames
    parts = [vmic.extract_range(extraction, _clip_range(path, None, a, min(a + 700, n)))
             for a in range(0, n, 700)]
    np.testing.assert_array_equal(vmic.recover_from_ranges(extraction, parts).audio,
                                  whole.audio)
    clip.close()
