"""Large motion of the camera: tracking, smoothing, compensation, and recovery through it."""

import warnings

import numpy as np
import pytest

import vmic
from vmic import metrics
from vmic.cli import main
from vmic.core.compensation import MotionCompensator
from vmic.core.motion import MOTION_THRESHOLD_PX, smooth_track, tracked_frames
from vmic.core.tracker import MotionTracker
from vmic.synth import SynthConfig, synthesize


def _canvas(size=160, seed=0):
    # A band-limited random texture: exact sub-pixel shifts by a Fourier ramp.
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft2(rng.standard_normal((size, size)))
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    spec *= np.exp(-((fx ** 2 + fy ** 2) / (2 * 0.08 ** 2)))
    return spec, fx, fy


def _view(spec, fx, fy, dx, dy, size=160, crop=96):
    # The canvas moved by (dx, dy) px, seen through a fixed window in its middle.
    moved = np.fft.irfft2(spec * np.exp(-2j * np.pi * (fx * dx + fy * dy)), (size, size))
    a = (size - crop) // 2
    return (100 + 40 * moved[a:a + crop, a:a + crop] / moved.std()).astype(np.float32)


def test_tracker_finds_whole_and_sub_pixel_shifts_of_a_window_on_a_larger_scene():
    spec, fx, fy = _canvas()
    tracker = MotionTracker(_view(spec, fx, fy, 0, 0))
    shifts = np.array([[0.0, 0.0], [0.3, -0.2], [2.7, 1.4], [-6.25, 4.5], [11.6, -9.3]])
    frames = np.stack([_view(spec, fx, fy, dx, dy) for dx, dy in shifts])
    found = tracker.track(frames)
    np.testing.assert_allclose(found, shifts, atol=0.05)


def test_refinement_removes_the_coarse_estimates_grid_dependent_bias():
    # The scene sweeps across the pixel grid, quantised to 8 bits: the coarse estimate's
    # error depends on the sub-pixel position (a wobble once the scene moves); the refined
    # one is an order of magnitude closer.
    spec, fx, fy = _canvas()
    tracker = MotionTracker(np.round(_view(spec, fx, fy, 0, 0)))
    shifts = np.stack([np.linspace(0, 3, 25), np.linspace(0, -1.3, 25)], axis=1)
    frames = np.round(np.stack([_view(spec, fx, fy, dx, dy) for dx, dy in shifts]))
    refined = tracker.track(frames)
    again = np.array([tracker.refine(f, s) for f, s in zip(frames, refined, strict=True)])
    assert np.abs(refined - shifts).max() < 0.003
    np.testing.assert_allclose(again, refined, atol=1e-3)  # refining again holds still
    tracker_coarse = MotionTracker(np.round(_view(spec, fx, fy, 0, 0)))
    tracker_coarse.refine = lambda frame, shift: shift
    error = np.abs(tracker_coarse.track(frames) - shifts).max()
    assert error > 10 * np.abs(refined - shifts).max()


def test_smoothing_keeps_slow_motion_drops_the_sound_band_and_keeps_the_ends():
    fps = 2200.0
    t = np.arange(1100) / fps
    slow = np.stack([10 * np.sin(2 * np.pi * 3 * t + 0.4), 3 + 5 * t - 8 * t ** 2], axis=1)
    sound = 0.05 * np.sin(2 * np.pi * 200 * t)[:, None]
    out = smooth_track(slow + sound, fps)
    assert np.abs(out - slow).max() < 0.03  # the ends included: no mirror-image kink
    # Gaps (frames not tracked) are interpolated before smoothing.
    gappy = slow.copy()
    gappy[~tracked_frames(np.arange(1100), 1100, fps)] = np.nan
    assert np.abs(smooth_track(gappy, fps) - slow).max() < 0.03


def test_compensation_holds_a_moving_scene_still():
    spec, fx, fy = _canvas(seed=1)
    shifts = np.array([[0.0, 0.0], [1.5, -0.75], [-3.2, 2.6], [5.0, 5.0]])
    frames = np.stack([_view(spec, fx, fy, dx, dy) for dx, dy in shifts])
    compensator = MotionCompensator((96, 96), shifts)
    still = compensator.apply(frames, 0)
    assert still.shape == (4,) + compensator.output_shape
    assert compensator.output_shape == (96 - 2 * compensator.margin,) * 2
    # Every frame, moved back, equals the first up to a grey offset (the frame's mean, which
    # the pyramid's bands ignore) and the sub-pixel interpolation of the tapered frame: exact
    # for whole pixels, under 0.3 % of the range for fractions.
    diff = still - still[0]
    diff -= diff.mean(axis=(1, 2), keepdims=True)
    scale = np.abs(still[0] - still[0].mean()).max()
    assert np.abs(diff[3]).max() < 1e-5 * scale  # a whole-pixel shift
    assert np.abs(diff).max() < 3e-3 * scale


@pytest.fixture(scope="module")
def drifting():
    common = dict(duration_s=0.3, height=96, width=96, source="tones", amplitude_px=0.05,
                  bits=8, full_well_e=10000.0, shot_noise=True, seed=2, drift_margin_px=11)
    still = synthesize(SynthConfig(**common))
    moving = synthesize(SynthConfig(**common, drift_px=6.0, drift_hz=2.0))
    return still, moving


def test_recovery_through_drift_comes_close_to_the_still_clip(drifting):
    still, moving = drifting
    fps = still.sidecar["fps"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        on_still = vmic.recover(still.frames, fps=fps)
        followed = vmic.recover(moving.frames, fps=fps)
        ignored = vmic.recover(moving.frames, fps=fps, motion="off")
    snr = {name: metrics.snr_db(r.audio, still.truth, fps)
           for name, r in (("still", on_still), ("followed", followed), ("ignored", ignored))}
    assert not on_still.info.motion_compensated and followed.info.motion_compensated
    assert snr["ignored"] < snr["still"] - 10  # drift wrecks the uncompensated recovery
    assert snr["followed"] > snr["still"] - 3, snr
    # The track found is the rendered drift (relative to the reference frames).
    rel = moving.drift - moving.drift[:32].mean(axis=0)
    assert np.abs(followed.info.motion_px - rel).max() < 0.2
    assert ignored.info.motion_px is None
    assert followed.info.lost_frames is not None and not followed.info.lost_frames.any()


def test_a_still_clip_is_recovered_exactly_as_without_tracking(drifting):
    still, _ = drifting
    fps = still.sidecar["fps"]
    followed = vmic.recover(still.frames, fps=fps)
    plain = vmic.recover(still.frames, fps=fps, motion="off")
    np.testing.assert_array_equal(followed.audio, plain.audio)
    assert followed.info.motion_px is not None
    assert np.abs(followed.info.motion_px).max() < MOTION_THRESHOLD_PX


def test_the_first_pass_stops_summing_once_the_scene_has_moved(drifting, monkeypatch):
    from vmic import passes

    _, moving = drifting
    fps = moving.sidecar["fps"]
    skipped = []
    seen = passes.MotionWatch.seen

    def spy(watch, part):
        seen(watch, part)
        skipped.append(watch.skip_sums)

    monkeypatch.setattr(passes.MotionWatch, "seen", spy)
    watched = vmic.recover(moving.frames, fps=fps)
    assert skipped[-1] and watched.info.motion_compensated
    monkeypatch.setattr(passes, "WATCH_PX", np.inf)  # sums every frame of the first pass
    skipped.clear()
    unwatched = vmic.recover(moving.frames, fps=fps)
    assert not any(skipped)
    np.testing.assert_array_equal(watched.audio, unwatched.audio)


def test_a_jolt_that_smooths_away_reads_the_frames_again(drifting, monkeypatch):
    from vmic.core.motion import MotionTrack

    _, moving = drifting
    fps = moving.sidecar["fps"]
    # The watch stops the sums, but the smoothed track calls for no compensation.
    monkeypatch.setattr(MotionTrack, "moving", lambda track, threshold_px=0.2: False)
    jolted = vmic.recover(moving.frames, fps=fps)
    plain = vmic.recover(moving.frames, fps=fps, motion="off")
    assert not jolted.info.motion_compensated
    np.testing.assert_array_equal(jolted.audio, plain.audio)


def test_frame_ranges_with_a_motion_track_equal_one_pass(drifting):
    _, moving = drifting
    fps = moving.sidecar["fps"]
    clip = vmic.open_clip(moving.frames, fps=fps)
    track = vmic.track_motion(clip)
    extraction = vmic.prepare_extraction(clip, motion=track)
    parts = [vmic.extract_range(extraction, clip[a:b]) for a, b in ((0, 250), (250, 660))]
    joined = vmic.recover_from_ranges(extraction, parts)
    np.testing.assert_array_equal(joined.audio, vmic.recover(clip).audio)
    assert joined.info.motion_compensated


def test_a_pan_out_of_view_silences_those_frames_with_a_warning():
    cfg = SynthConfig(duration_s=0.3, height=64, width=64, source="tones", amplitude_px=0.05,
                      bits=8, seed=3, drift_kind="pan", drift_speed_px_s=80.0)
    clip = synthesize(cfg)
    with pytest.warns(UserWarning, match=r"out of view in frames \d+-659"):
        result = vmic.recover(clip.frames, fps=cfg.fps)
    lost = result.info.lost_frames
    assert lost[-1] and not lost[0]
    assert not result.audio[lost].any() and result.audio[~lost].any()


def test_bad_motion_arguments_are_refused(drifting):
    still, _ = drifting
    with pytest.raises(vmic.VmicError, match="motion mode"):
        vmic.recover(still.frames, fps=2200.0, motion="yes")
    with pytest.raises(vmic.VmicError, match="prepare_extraction"):
        vmic.recover(still.frames, fps=2200.0, motion=np.zeros((660, 2)))
    clip = vmic.open_clip(still.frames, fps=2200.0)
    with pytest.raises(vmic.VmicError, match=r"motion must hold .* \(660, 2\)"):
        vmic.prepare_extraction(clip, motion=np.zeros((10, 2)))


def test_cli_says_it_removed_the_motion_and_saves_the_track(drifting, tmp_path, capsys):
    _, moving = drifting
    clip = tmp_path / "moving.npy"
    np.save(clip, moving.frames)
    out, signals = tmp_path / "out.wav", tmp_path / "sig.npz"
    assert main(["recover", str(clip), "--fps", "2200", "-o", str(out), "--signals",
                 str(signals), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "the camera moved by up to" in err and "border cropped" in err
    saved = np.load(signals)
    assert saved["motion_px"].shape == (660, 2) and bool(saved["motion_compensated"])
    assert saved["lost_frames"].shape == (660,) and not saved["lost_frames"].any()


def test_a_tracked_roi_follows_the_scene_without_losing_its_border():
    common = dict(duration_s=0.3, height=128, width=128, source="tones", amplitude_px=0.05,
                  bits=8, full_well_e=10000.0, shot_noise=True, seed=4, drift_margin_px=10)
    still = synthesize(SynthConfig(**common))
    moving = synthesize(SynthConfig(**common, drift_px=5.0, drift_hz=2.0))
    fps, roi = 2200.0, (32, 32, 64, 64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        on_still = vmic.recover(still.frames, fps=fps, roi=roi)
        fixed = vmic.recover(moving.frames, fps=fps, roi=roi)
        tracked = vmic.recover(moving.frames, fps=fps, roi=roi, track_roi=True)
    snr = {name: metrics.snr_db(r.audio, still.truth, fps)
           for name, r in (("still", on_still), ("fixed", fixed), ("tracked", tracked))}
    assert fixed.info.motion_compensated and tracked.info.motion_compensated
    assert tracked.info.frame_shape == (64, 64) and tracked.info.motion_margin_px == 0
    assert fixed.info.frame_shape[0] < 64  # the fixed ROI loses the border the motion sweeps
    assert snr["tracked"] > snr["still"] - 2, snr
    with pytest.raises(vmic.VmicError, match="track_roi needs an roi"):
        vmic.recover(moving.frames, fps=fps, track_roi=True)


def test_cli_track_needs_an_roi(tmp_path, capsys):
    clip = tmp_path / "c.npy"
    np.save(clip, np.zeros((10, 32, 32), np.uint8))
    assert main(["recover", str(clip), "--fps", "2200", "--track", "-o",
                 str(tmp_path / "o.wav")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["vmic: error: --track needs --roi (the region that follows the motion) and "
                   "motion that is followed (not --motion off)"]
    assert not (tmp_path / "o.wav").exists()
