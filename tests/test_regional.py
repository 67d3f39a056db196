"""Regional motion: parts of the scene that move apart, tracked and removed tile by tile."""

import warnings

import numpy as np
import pytest

import vmic
import vmic.core.regional as regional
from vmic import metrics
from vmic.cli import main
from vmic.core.compensation import MotionCompensator, RegionalCompensator, tile_edges, tile_weights
from vmic.core.regional import TileTracker, tile_grid
from vmic.synth import SynthConfig, synthesize
from vmic.vibmap import vibration_map


def _texture(size=160, seed=0):
    # A band-limited random texture and its spectrum: exact sub-pixel shifts by a ramp.
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft2(rng.standard_normal((size, size)))
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    spec *= np.exp(-((fx ** 2 + fy ** 2) / (2 * 0.08 ** 2)))
    return spec, fx, fy


def _halves(left, right, size=160, crop=96):
    # The texture's left half moved by `left`, its right half by `right` (dx, dy px), seen
    # through a fixed 96 px window: two regions parting at the window's centre.
    spec, fx, fy = _texture()
    a = (size - crop) // 2
    out = np.empty((crop, crop))
    for (dx, dy), cols in ((left, slice(0, crop // 2)), (right, slice(crop // 2, crop))):
        moved = np.fft.irfft2(spec * np.exp(-2j * np.pi * (fx * dx + fy * dy)), (size, size))
        out[:, cols] = moved[a:a + crop, a:a + crop][:, cols]
    return (100 + 40 * out / np.fft.irfft2(spec, (size, size)).std()).astype(np.float32)


def test_tile_grid_weights_and_edges():
    assert tile_grid((96, 96)) == (4, 4) and tile_grid((192, 96)) == (6, 4)
    assert tile_grid((40, 40)) is None  # too small for two tiles
    edges = tile_edges(96, 4)
    assert edges.tolist() == [0, 24, 48, 72, 96]
    weights = tile_weights(96, edges)
    np.testing.assert_allclose(weights.sum(axis=0), 1.0)  # a partition of unity
    assert weights[0, :22].min() == 1.0 and weights[0, 26:].max() == 0.0  # 4 px seams


def test_tracker_follows_each_half_of_a_parting_scene():
    reference = _halves((0, 0), (0, 0))
    tracker = TileTracker(reference)
    moves = [((0.0, 0.0), (0.0, 0.0)), ((2.3, -0.6), (-1.7, 0.4)), ((6.25, 1.5), (-5.5, -2.2))]
    frames = np.stack([_halves(a, b) for a, b in moves])
    found = tracker.track(frames, np.zeros((len(moves), 2)))
    assert found.shape == (3, 4, 4, 2)
    outer = np.stack([found[:, :, 0] - np.array([m[0] for m in moves])[:, None],
                      found[:, :, 3] - np.array([m[1] for m in moves])[:, None]])
    # Tiles whose tracking windows lie within one half (the outer columns) find that half's
    # motion, or give no estimate (NaN) where their fit does not explain the tile.
    assert np.isfinite(outer).all(axis=-1).mean() >= 0.9
    assert np.nanmax(np.abs(outer)) < 0.15
    # Windows that straddle the parting halves give no estimate rather than a wrong one.
    middle = found[2, :, 1:3]
    wrong = np.minimum(np.abs(middle - moves[2][0]).max(-1), np.abs(middle - moves[2][1]).max(-1))
    assert (np.isnan(wrong) | (wrong < 0.5)).all()


def test_tile_compensation_holds_each_half_still():
    def held(left, right):
        frames = np.stack([_halves((0, 0), (0, 0)), _halves(left, right)])
        field = np.zeros((2, 4, 4, 2))
        field[1, :, :2], field[1, :, 2:] = left, right
        compensator = RegionalCompensator((96, 96), np.zeros((2, 2)), field)
        still = compensator.apply(frames, 0)
        assert compensator.output_shape == (96 - 2 * compensator.margin,) * 2
        scale = np.abs(still[0] - still[0].mean()).max()
        seam = 48 - compensator.margin  # the halves' boundary, where one covers the other
        return [max(np.abs(still[1][:, :seam - d] - still[0][:, :seam - d]).max(),
                    np.abs(still[1][:, seam + d:] - still[0][:, seam + d:]).max()) / scale
                for d in (4, 8, 20)]

    # Whole pixels: each half is moved back onto the reference exactly.
    assert max(held((3, -1), (-2, 2))) < 1e-5
    # Fractions: the halves' sharp boundary rings when shifted by a fraction of a pixel,
    # less and less away from it (the ringing moves with the slow shift: the audio's
    # high-pass removes most of it).
    near, mid, far = held((3.4, -1.2), (-2.6, 1.8))
    assert mid < 0.04 and far < 0.012 and far < mid < near
    frames = np.stack([_halves((0, 0), (0, 0)), _halves((1.5, -0.75), (1.5, -0.75))])
    scale = np.abs(frames[0] - frames[0].mean()).max()
    # Tiles that share one track are one global compensation.
    same = np.broadcast_to(np.array([[0.0, 0.0], [1.5, -0.75]])[:, None, None, :], (2, 4, 4, 2))
    a = RegionalCompensator((96, 96), np.array([[0.0, 0.0], [1.5, -0.75]]), same)
    b = MotionCompensator((96, 96), np.array([[0.0, 0.0], [1.5, -0.75]]))
    assert len(a.groups) == 1 and a.output_shape == b.output_shape
    np.testing.assert_allclose(a.apply(frames, 0), b.apply(frames, 0), atol=1e-3 * scale)


@pytest.fixture(scope="module")
def parting():
    common = dict(duration_s=0.3, height=96, width=96, source="tones", amplitude_px=0.05,
                  motion="two_regions", bits=8, full_well_e=10000.0, shot_noise=True, seed=5,
                  drift_margin_px=10)
    still = synthesize(SynthConfig(**common))
    moving = synthesize(SynthConfig(**common, region_drift_px=4.0, region_drift_hz=1.0))
    return still, moving


def test_regional_motion_is_removed_tile_by_tile(parting):
    still, moving = parting
    fps = still.sidecar["fps"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        on_still = vmic.recover(still.frames, fps=fps)
        followed = vmic.recover(moving.frames, fps=fps)
        ignored = vmic.recover(moving.frames, fps=fps, motion="off")
    snr = {name: metrics.snr_db(r.audio, still.truth, fps)
           for name, r in (("still", on_still), ("followed", followed), ("ignored", ignored))}
    assert followed.info.motion_regional and followed.info.motion_compensated
    assert not on_still.info.motion_regional and not on_still.info.regional_tiles.any()
    assert snr["ignored"] < snr["still"] - 20, snr  # parting regions wreck the phase
    assert snr["followed"] > snr["still"] - 5, snr
    # The tiles inside each region follow that region's rendered translation.
    info = followed.info
    assert info.tile_motion_px.shape == (660, 4, 4, 2) and info.regional_tiles.sum() >= 8
    assert [e.tolist() for e in info.tile_edges_px] == [[0, 24, 48, 72, 96]] * 2
    for region, col in ((0, 1), (1, 2)):
        rel = moving.regions[region] - moving.regions[region][:32].mean(axis=0)
        assert np.abs(info.tile_motion_px[:, 1:3, col] - rel[:, None]).max() < 0.6


def test_still_and_globally_drifting_clips_are_recovered_as_without_tiles(monkeypatch):
    common = dict(duration_s=0.3, height=96, width=96, source="tones", amplitude_px=0.05,
                  bits=8, seed=6, drift_margin_px=8)
    clips = [synthesize(SynthConfig(**common)),
             synthesize(SynthConfig(**common, drift_px=4.0, drift_hz=1.5))]
    fps = 2200.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with_tiles = [vmic.recover(c.frames, fps=fps) for c in clips]
        monkeypatch.setattr(regional, "tile_grid", lambda shape: None)  # no tiles tracked
        without = [vmic.recover(c.frames, fps=fps) for c in clips]
    for a, b in zip(with_tiles, without, strict=True):
        assert a.info.tile_motion_px is not None and b.info.tile_motion_px is None
        assert not a.info.motion_regional and not a.info.regional_tiles.any()
        np.testing.assert_array_equal(a.audio, b.audio)
    assert with_tiles[1].info.motion_compensated  # the drift itself is removed, globally


def test_frame_ranges_with_regional_motion_equal_one_pass(parting):
    _, moving = parting
    clip = vmic.open_clip(moving.frames, fps=2200.0)
    track = vmic.track_motion(clip)
    assert track.regional and track.compensated()
    extraction = vmic.prepare_extraction(clip, motion=track)
    assert extraction.tile_motion is not None
    parts = [vmic.extract_range(extraction, clip[a:b]) for a, b in ((0, 300), (300, 660))]
    joined = vmic.recover_from_ranges(extraction, parts)
    whole = vmic.recover(clip)
    np.testing.assert_array_equal(joined.audio, whole.audio)
    assert joined.info.motion_regional
    # (the tiles of ranges are tracked in other batches: equal up to rounding)
    np.testing.assert_allclose(joined.info.tile_motion_px, whole.info.tile_motion_px, atol=1e-9)


def test_cli_says_the_regions_parted_and_saves_the_tiles(parting, tmp_path, capsys):
    _, moving = parting
    clip = tmp_path / "parting.npy"
    np.save(clip, moving.frames)
    out, signals = tmp_path / "out.wav", tmp_path / "sig.npz"
    assert main(["recover", str(clip), "--fps", "2200", "-o", str(out), "--signals",
                 str(signals), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "parts of the scene moved apart by up to" in err and "tile by tile" in err
    saved = np.load(signals)
    assert saved["tile_motion_px"].shape == (660, 4, 4, 2) and bool(saved["motion_regional"])
    assert saved["regional_tiles"].shape == (4, 4) and saved["regional_tiles"].any()
    assert saved["tile_edges_x"].tolist() == [0, 24, 48, 72, 96]
    assert saved["motion_px"].shape == (660, 2)


def test_the_vibration_map_removes_regional_motion(parting):
    _, moving = parting
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        followed = vibration_map(moving.frames, fps=2200.0, tile_px=8)
        ignored = vibration_map(moving.frames, fps=2200.0, tile_px=8, motion="off")
    # The map covers the frame less the border the tiles' motion sweeps.
    assert followed.origin[0] > 0 and ignored.origin == (0, 0)
    assert followed.strength.shape[0] < ignored.strength.shape[0]
