"""Tests of the synthetic drift: tracks, the canvas renderer, region translation, sidecar."""

import dataclasses
import hashlib
import json

import numpy as np
import pytest

from vmic.cli import main
from vmic.errors import VmicError
from vmic.synth import SynthConfig, drift, engine, iter_frames, render, synthesize

FS = 2200.0


def _cfg(**kw):
    base = dict(duration_s=0.05, height=48, width=48, bits=None)
    base.update(kw)
    return SynthConfig(**base)


def _canvas_scene(cfg, margin):
    """The canvas scene of ``cfg`` for a margin (rows, columns), and its random streams."""
    streams = [np.random.default_rng(c) for c in np.random.SeedSequence(cfg.seed).spawn(6)]
    shape, origin = drift.canvas_layout((cfg.height, cfg.width), margin)
    sc = engine.build_scene(cfg, streams[1], streams[2], canvas_shape=shape, origin=origin)
    s = engine.truth_signal(cfg, cfg.n_frames(), streams[0])
    return sc, s


def _full_canvas(cfg, sc, s):
    """Undrifted frames of the whole canvas (Hc, Wc), by the frame-sized (still) renderer."""
    hc, wc = sc.obj.shape
    full = dataclasses.replace(sc, origin=(0, 0), frame_shape=(hc, wc))
    return np.stack(list(engine.render_layers(dataclasses.replace(cfg, height=hc, width=wc),
                                              full, s)))


# ----------------------------------------------------------------------------- tracks

def test_sine_track_peak_and_shape():
    cfg = _cfg(duration_s=1.0, drift_px=3.0, drift_hz=2.0)
    track = drift.camera_track(cfg, 2200, np.random.default_rng(1))
    assert track.shape == (2200, 2)
    assert np.max(np.abs(track), axis=0) == pytest.approx([3.0, 3.0])
    spectrum = np.abs(np.fft.rfft(track[:, 0])) ** 2
    f = np.fft.rfftfreq(2200, 1 / FS)
    assert spectrum[f > 3.0].sum() < 0.01 * spectrum.sum()  # 2 Hz and 0.74 Hz


@pytest.mark.parametrize("direction", [0.0, 30.0, 250.0])
def test_pan_track_speed_and_direction(direction):
    cfg = _cfg(duration_s=0.5, drift_kind="pan", drift_speed_px_s=40.0,
               drift_direction_deg=direction)
    track = drift.camera_track(cfg, 1100, np.random.default_rng(0))
    assert np.array_equal(track[0], [0.0, 0.0])
    velocity = np.diff(track, axis=0) * FS
    angle = np.radians(direction)
    assert np.allclose(velocity, 40.0 * np.array([np.cos(angle), np.sin(angle)]))


@pytest.mark.parametrize("cutoff", [5.0, 20.0])
def test_walk_rms_speed_and_band(cutoff):
    cfg = _cfg(duration_s=2.0, drift_kind="walk", drift_speed_px_s=8.0, drift_cutoff_hz=cutoff)
    track = drift.camera_track(cfg, 4400, np.random.default_rng(2))
    assert np.array_equal(track[0], [0.0, 0.0])
    velocity = np.diff(track, axis=0) * FS
    assert np.sqrt(np.mean(np.sum(velocity ** 2, axis=1))) == pytest.approx(8.0)
    f = np.fft.rfftfreq(velocity.shape[0], 1 / FS)
    taper = np.hanning(velocity.shape[0])[:, None]  # no leakage from the track's ends
    power = np.sum(np.abs(np.fft.rfft(velocity * taper, axis=0)) ** 2, axis=1)
    assert power[f > 20.0 + cutoff / 2].sum() < 1e-3 * power.sum()  # out of the audio band
    assert power[f > 1.5 * cutoff].sum() < 0.02 * power.sum()
    assert np.max(np.abs(track)) > 0.05  # it moves


def test_region_tracks_opposite_and_independent():
    cfg = _cfg(motion="two_regions", region_drift_px=2.0, region_drift_hz=10.0)
    opposite = drift.region_tracks(cfg, 110, np.random.default_rng(0))
    assert opposite.shape == (2, 110, 2)
    assert np.array_equal(opposite[1], -opposite[0])
    assert np.max(np.abs(opposite[0]), axis=0) == pytest.approx([2.0, 2.0])
    independent = drift.region_tracks(dataclasses.replace(cfg, region_drift_mode="independent"),
                                      110, np.random.default_rng(0))
    assert np.array_equal(independent[0], opposite[0])
    assert not np.allclose(independent[1], -independent[0])
    assert drift.region_tracks(_cfg(), 110, np.random.default_rng(0)) is None


# ----------------------------------------------------------------------------- rendering

@pytest.mark.parametrize("motion", ["global", "membrane", "two_regions"])
def test_integer_drift_is_a_shifted_crop_of_the_canvas(motion):
    """A drift by whole pixels shows exactly the undrifted canvas, cropped elsewhere."""
    cfg = _cfg(duration_s=0.005, motion=motion, amplitude_px=0.3, exposure=0.5)
    sc, s = _canvas_scene(cfg, (9, 9))
    n = s.size
    track = np.stack([np.arange(n) % 7 - 3, 2 - np.arange(n) % 5], axis=1).astype(float)
    frames = np.stack(list(drift.render_canvas(cfg, sc, s, track)))
    canvas = _full_canvas(cfg, sc, s)
    top, left = sc.origin
    for i, (dx, dy) in enumerate(track.astype(int)):
        expected = canvas[i, top - dy:top - dy + 48, left - dx:left - dx + 48]
        assert np.max(np.abs(frames[i] - expected)) < 1e-12
    assert np.max(np.abs(frames[1] - canvas[1, top:top + 48, left:left + 48])) > 1e-2


def test_fractional_drift_of_a_full_object_is_a_fourier_shift():
    """Without a window edge (and with phi = 1), the frame is band-limited: layers ==
    composed translation."""
    cfg = _cfg(duration_s=0.005, object="full", amplitude_px=0.2, exposure=0.5)
    sc, s = _canvas_scene(cfg, (8, 8))
    track = np.random.default_rng(0).uniform(-3.5, 3.5, (s.size, 2))
    assert drift.composed_error(cfg, sc, s, track)["max_abs"] < 1e-12
    with_edge = _cfg(duration_s=0.005, motion="membrane", amplitude_px=0.2)
    sc, s = _canvas_scene(with_edge, (8, 8))
    # the soft window edge is not band-limited: the composed translation is not exact
    assert drift.composed_error(with_edge, sc, s, track)["max_abs"] > 1e-5


def test_zero_drift_on_a_canvas_equals_the_canvas_crop():
    cfg = _cfg(duration_s=0.005, motion="two_regions", line_delay_s=1e-5)
    sc, s = _canvas_scene(cfg, (5, 6))
    frames = np.stack(list(drift.render_canvas(cfg, sc, s)))
    full_cfg = dataclasses.replace(cfg, line_delay_s=0.0)
    expected = sc.crop(_full_canvas(full_cfg, sc, s))
    # the rolling shutter's rows are the frame's rows: compare without it, then check it acts
    plain = np.stack(list(drift.render_canvas(full_cfg, sc, s)))
    assert np.max(np.abs(plain - expected)) < 1e-12
    assert np.max(np.abs(frames - plain)) > 1e-6


def test_a_pan_takes_the_object_out_of_view():
    cfg = _cfg(drift_kind="pan", drift_speed_px_s=1300.0, object_size=0.5,
               background_contrast=0.0)
    clip = synthesize(cfg)
    assert clip.drift[-1, 0] == pytest.approx(1300.0 * 109 / FS)  # 64 px to the right
    assert np.max(np.abs(clip.frames[0] - cfg.mean_level)) > 0.1  # the object is there...
    assert np.max(np.abs(clip.frames[-1] - cfg.mean_level)) < 1e-6  # ... and has left
    side = clip.sidecar["drift"]
    assert side["canvas_shape"][1] >= 48 + 2 * 64 and side["canvas_shape"][0] < 64


def test_truth_is_independent_of_drift():
    still = synthesize(_cfg(motion="membrane"))
    for kw in (dict(drift_px=5.0), dict(drift_kind="walk", drift_speed_px_s=30.0),
               dict(drift_kind="pan", drift_speed_px_s=100.0, drift_direction_deg=45.0)):
        moving = synthesize(_cfg(motion="membrane", **kw))
        assert np.array_equal(moving.truth, still.truth)
        assert np.max(np.abs(moving.frames[-1] - still.frames[-1])) > 0.05
        assert moving.sidecar["truth"] == still.sidecar["truth"]


def test_drift_is_not_bounded_by_the_field_amplitude_limit():
    clip = synthesize(_cfg(duration_s=0.01, motion="membrane", amplitude_px=0.05,
                           drift_px=25.0, drift_hz=40.0))
    assert np.max(np.abs(clip.drift)) == pytest.approx(25.0)
    with pytest.raises(VmicError, match="too large"):
        synthesize(_cfg(motion="membrane", amplitude_px=2.5))


def test_still_twin_with_the_same_margin_renders_the_same_scene():
    """A pan starts at zero drift: its first frame equals the still clip on the same canvas."""
    moving = synthesize(_cfg(bits=8, shot_noise=True, drift_kind="pan", drift_speed_px_s=200.0,
                             drift_margin_px=16))
    still = synthesize(_cfg(bits=8, shot_noise=True, drift_margin_px=16))
    assert still.drift is None and "drift" in still.sidecar
    assert np.array_equal(moving.frames[0], still.frames[0])
    assert not np.array_equal(moving.frames[-1], still.frames[-1])
    assert moving.sidecar["crb"]["snr_db"] == still.sidecar["crb"]["snr_db"]
    with pytest.raises(VmicError, match="--drift-margin"):
        synthesize(_cfg(drift_px=10.0, drift_margin_px=5))


def test_regions_move_on_their_own():
    cfg = _cfg(duration_s=0.005, motion="two_regions", amplitude_px=0.0, object_size=0.8)
    sc, s = _canvas_scene(cfg, (8, 8))
    n = s.size
    # equal region offsets partition the object: the same frames as one object
    zero = np.zeros((2, n, 2))
    camera = np.tile([[1.25, -0.5]], (n, 1))
    one = np.stack(list(drift.render_canvas(cfg, sc, s, camera)))
    two = np.stack(list(drift.render_canvas(cfg, sc, s, camera, zero)))
    assert np.max(np.abs(one - two)) < 1e-12
    # region A moves 2 px left, region B 2 px right (whole px): their insides are shifted crops
    regions = np.zeros((2, n, 2))
    regions[0, :, 0], regions[1, :, 0] = -2.0, 2.0
    frames = np.stack(list(drift.render_canvas(cfg, sc, s, None, regions)))
    canvas = _full_canvas(cfg, sc, s)
    top, left = sc.origin
    rows = slice(20, 28)
    # columns >= 8.5 px from the moved seams and 5.7 px inside the edge (tails < 1e-7)
    a_cols, b_cols = slice(8, 14), slice(34, 40)
    for cols, dx in ((a_cols, -2), (b_cols, 2)):
        shifted = canvas[:, top:top + 48, left - dx:left - dx + 48]
        assert np.max(np.abs(frames[:, rows, cols] - shifted[:, rows, cols])) < 1e-7
    # the regions part: the background shows at the seam
    seam = (1 - sc.crop(sc.window))[rows, 22:26]
    assert np.all(seam < 1e-3)
    assert np.max(np.abs(frames[0][rows, 22:26] - canvas[0, top:top + 48,
                                                        left:left + 48][rows, 22:26])) > 1e-2


def test_regions_need_two_regions_and_sidecar_holds_their_tracks():
    with pytest.raises(VmicError, match="two_regions"):
        synthesize(_cfg(region_drift_px=1.0))
    clip = synthesize(_cfg(motion="two_regions", region_drift_px=1.5, drift_px=0.5))
    regions = clip.sidecar["drift"]["regions"]
    assert clip.regions.shape == (2, 110, 2)
    assert np.allclose(regions["A"]["dx"], clip.regions[0, :, 0], atol=5.1e-5)
    assert np.allclose(regions["B"]["dy"], clip.regions[1, :, 1], atol=5.1e-5)
    assert regions["mode"] == "opposite"


# ----------------------------------------------------------------------------- sidecar, CLI

def test_sidecar_holds_the_track(tmp_path):
    cfg = _cfg(bits=8, drift_kind="walk", drift_speed_px_s=20.0)
    side = render(tmp_path / "w.npy", None, cfg)
    _, _, _, track, regions = iter_frames(cfg, tracks=True)
    assert regions is None
    entry = side["drift"]
    assert entry["kind"] == "walk" and entry["units"] == "px"
    assert len(entry["dx"]) == len(entry["dy"]) == 110
    assert np.max(np.abs(np.array(entry["dx"]) - track[:, 0])) <= 5.0001e-5
    assert entry["rms_speed_px_s"] == pytest.approx(20.0)
    assert "undrifted" in side["crb"]["drift"]
    text = (tmp_path / "w.json").read_text()
    assert json.loads(text) == json.loads(json.dumps(side))
    assert len(text.splitlines()) < 200  # tracks on one line each
    still = render(tmp_path / "s.npy", None, _cfg(bits=8))
    assert "drift" not in still and "drift" not in still["crb"]


def test_cli_drift_flags(tmp_path, capsys):
    out = tmp_path / "p.npy"
    assert main(["synth", str(out), "--duration", "0.02", "--size", "40x32", "--drift-kind",
                 "pan", "--drift-speed", "100", "--drift-direction", "90", "--quiet"]) == 0
    side = json.loads((tmp_path / "p.json").read_text())
    assert side["params"]["drift_kind"] == "pan" and side["params"]["drift_speed_px_s"] == 100
    assert side["drift"]["dy"][-1] == pytest.approx(100 * 43 / FS, abs=1e-4)
    assert "--drift-kind pan" in side["command"]
    frames = np.load(out)
    assert frames.shape == (44, 32, 40)


@pytest.mark.parametrize("argv, words", [
    (["--drift", "2", "--drift-kind", "pan"], "--drift-speed"),
    (["--drift-speed", "2"], "--drift-kind pan or walk"),
    (["--region-drift", "1"], "two_regions"),
    (["--drift-kind", "walk", "--drift-speed", "3", "--drift-cutoff", "25"], "--drift-cutoff"),
    (["--drift", "6", "--drift-margin", "4"], "--drift-margin"),
])
def test_cli_drift_bad_input_is_one_line(tmp_path, capsys, argv, words):
    assert main(["synth", str(tmp_path / "x.npy"), *argv, "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("vmic: error:") and words in err and "\n" not in err
    assert not list(tmp_path.iterdir())


# Frames of still clips are those of the renderer before drift was rendered on a canvas
# (sha256 of the frames' bytes, first 16 hex digits).
STILL_HASHES = {
    "global8": (dict(shot_noise=True, read_noise_e=3), "14614fff1a72dd33"),
    "membrane_f": (dict(bits=None, motion="membrane", source="chirp", exposure=0.5),
                   "492a28c95b1ee6f0"),
    "two_regions16": (dict(bits=16, motion="two_regions", texture="print", line_delay_s=1e-6),
                      "ae6c707aa41ba534"),
    "rect_membrane": (dict(bits=None, object="rect", motion="membrane", mode=(2, 1)),
                      "44d9ee74c1f4bc1c"),
    "full_two": (dict(bits=None, object="full", motion="two_regions", amplitude_px=0.5),
                 "3d3c892b41cfd5ed"),
}


@pytest.mark.parametrize("name", sorted(STILL_HASHES))
def test_still_clips_are_unchanged(name):
    kw, digest = STILL_HASHES[name]
    frames = synthesize(SynthConfig(duration_s=0.02, height=40, width=48, **kw)).frames
    assert hashlib.sha256(np.ascontiguousarray(frames).tobytes()).hexdigest()[:16] == digest


def test_drift_with_exposure_rolling_shutter_and_quantisation():
    """Every camera option composes with drift; the drift is the same with or without them."""
    kw = dict(duration_s=0.01, motion="membrane", drift_kind="pan", drift_speed_px_s=300.0,
              drift_direction_deg=-60.0)
    plain = synthesize(_cfg(**kw))
    camera = synthesize(_cfg(**kw, bits=12, exposure=0.8, line_delay_s=2e-6, shot_noise=True,
                             read_noise_e=3.0))
    assert camera.frames.dtype == np.uint16 and camera.frames.shape == plain.frames.shape
    assert np.array_equal(camera.drift, plain.drift)
    scaled = camera.frames.astype(float) / 4095
    assert np.corrcoef(scaled[-1].ravel(), plain.frames[-1].ravel())[0, 1] > 0.95
