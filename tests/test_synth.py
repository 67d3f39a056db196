"""Tests of vmic.synth: determinism, exact rendered motion, camera model, CRB, recovery."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from vmic import metrics
from vmic.cli import main
from vmic.synth import SynthConfig, engine, render, sources, synthesize

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FS = 2200.0


def _small(**kw):
    base = dict(duration_s=0.1, height=64, width=64)
    base.update(kw)
    return SynthConfig(**base)


def _scene_of(cfg):
    streams = np.random.SeedSequence(cfg.seed).spawn(5)
    return engine.build_scene(cfg, np.random.default_rng(streams[1]),
                              np.random.default_rng(streams[2]))


def _shift_estimates(cfg, frames, iterations=3):
    """Per-frame least-squares shift (px) along the motion direction, Gauss-Newton on the exact
    Fourier shift of the (known) texture; for a full-frame global clip."""
    sc = _scene_of(cfg)
    out = []
    for frame in frames.astype(np.float64):
        s = 0.0
        for _ in range(iterations):
            model = next(engine.render_layers(cfg, sc, np.array([s, s]), np.zeros((2, 2))))
            grad = -engine.directional_derivative(model, sc.direction)
            s += float(np.sum(grad * (frame - model)) / np.sum(grad * grad))
        out.append(s)
    return np.array(out)


def test_same_seed_same_bytes(tmp_path):
    cfg = _small(source="speech", motion="membrane", read_noise_e=8, shot_noise=True)
    for name in ("a", "b"):
        render(tmp_path / f"{name}.npy", tmp_path / f"{name}.wav", cfg)
        render(tmp_path / f"{name}.avi", tmp_path / f"{name}v.wav", cfg)
    for suffix in (".npy", ".wav", ".avi"):
        assert (tmp_path / f"a{suffix}").read_bytes() == (tmp_path / f"b{suffix}").read_bytes()
    side_a, side_b = (json.loads((tmp_path / f"{n}.json").read_text()) for n in "ab")
    assert side_a["truth"].pop("file") == "av.wav" and side_b["truth"].pop("file") == "bv.wav"
    assert side_a == side_b
    other = synthesize(_small(source="speech", motion="membrane", read_noise_e=8,
                              shot_noise=True, seed=1))
    assert not np.array_equal(other.frames, np.load(tmp_path / "a.npy"))


@pytest.mark.parametrize("direction", [0.0, 30.0, 90.0])
@pytest.mark.parametrize("amplitude", [0.005, 0.1, 0.7])
def test_rendered_global_motion_equals_truth(direction, amplitude):
    cfg = _small(duration_s=0.01, bits=None, object="full", amplitude_px=amplitude,
                 direction_deg=direction, source="chirp")
    clip = synthesize(cfg)
    estimates = _shift_estimates(cfg, clip.frames)
    assert np.max(np.abs(estimates - clip.truth)) < 1e-3
    assert np.max(np.abs(clip.truth)) == pytest.approx(amplitude)


def test_taylor_field_matches_fourier_shift():
    """A global motion rendered through the Taylor (field) path equals the Fourier shift."""
    fourier = synthesize(_small(duration_s=0.02, bits=None, amplitude_px=0.8,
                                direction_deg=20.0))
    taylor = synthesize(_small(duration_s=0.02, bits=None, amplitude_px=0.8,
                               direction_deg=20.0, line_delay_s=1e-15))
    assert np.max(np.abs(fourier.frames - taylor.frames)) < 1e-5


@pytest.mark.parametrize("motion", ["membrane", "two_regions"])
def test_field_motion_follows_shape(motion):
    cfg = _small(duration_s=0.02, bits=None, motion=motion, amplitude_px=0.02)
    clip = synthesize(cfg)
    sc = _scene_of(cfg)
    base = sc.window * sc.obj + (1 - sc.window) * sc.background
    grad = sc.window * engine.directional_derivative(sc.obj, sc.direction)
    # local first-order estimate of phi * s in a 5x5 patch around the reference point...
    x, y = (int(round(v)) for v in sc.reference)
    patch = (slice(y - 2, y + 3), slice(x - 2, x + 3))
    g = grad[patch]
    est = np.array([-np.sum(g * (f - base)[patch]) / np.sum(g * g) for f in clip.frames])
    expected = clip.truth * sc.phi[patch].mean()
    assert np.max(np.abs(est - expected)) < 2e-3 * 0.02 / 0.02 + 5e-4
    # ... and the mirrored point moves with the opposite sign (two regions) or not at all
    # beyond the object (background is static)
    outside = sc.window < 1e-9
    assert np.max(np.abs(clip.frames[:, outside] - clip.frames[0, outside])) < 1e-6
    if motion == "two_regions":
        xm = int(round(2 * (sc.window.shape[1] - 1) / 2 - x))
        patch_b = (slice(y - 2, y + 3), slice(xm - 2, xm + 3))
        gb = grad[patch_b]
        est_b = np.array([-np.sum(gb * (f - base)[patch_b]) / np.sum(gb * gb)
                          for f in clip.frames])
        assert np.corrcoef(est_b, clip.truth)[0, 1] < -0.99


def test_exposure_integration_is_a_box_average():
    f0 = 700.0
    cfg = _small(duration_s=0.02, bits=None, object="full", amplitude_px=0.05,
                 tones_hz=(f0,), exposure=1.0, exposure_samples=8)
    clip = synthesize(cfg)
    est = _shift_estimates(cfg, clip.frames, iterations=1)
    offsets = engine.sub_frame_delays(cfg)
    gain = abs(np.mean(np.exp(2j * np.pi * f0 * offsets / cfg.fps)))
    fit = float(np.dot(est, clip.truth) / np.dot(clip.truth, clip.truth))
    assert fit == pytest.approx(gain, abs=2e-3)
    assert gain < 0.9


def test_rolling_shutter_delays_each_row():
    delay = 0.01 / FS  # row r sees the motion 0.01 r frames later
    cfg = _small(duration_s=0.02, bits=None, object="full", amplitude_px=0.05, tones_hz=(600.0,),
                 line_delay_s=delay)
    clip = synthesize(cfg)
    sc = _scene_of(cfg)
    grad = engine.directional_derivative(sc.obj, sc.direction)
    for row in (0, 63):
        g = grad[row]
        est = np.array([-np.dot(g, f[row] - sc.obj[row]) / np.dot(g, g)
                        for f in clip.frames.astype(np.float64)])
        expected = engine.fractional_delays(clip.truth, [row * delay * FS])[0]
        assert np.max(np.abs(est - expected)) < 1e-3
    assert np.max(np.abs(engine.fractional_delays(clip.truth, [0.63])[0] - clip.truth)) > 0.01


def test_image_texture_and_drift(tmp_path):
    import cv2

    image = (np.random.default_rng(0).uniform(0, 255, (40, 50))).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "tex.png"), image)
    cfg = _small(duration_s=0.05, bits=None, texture="image", image=str(tmp_path / "tex.png"),
                 drift_px=0.5, drift_hz=20.0)
    clip = synthesize(cfg)
    still = synthesize(_small(duration_s=0.05, bits=None, texture="image",
                              image=str(tmp_path / "tex.png")))
    assert np.array_equal(clip.truth, still.truth)  # drift is not part of the truth
    sc = _scene_of(cfg)
    outside = sc.window < 1e-9
    moved = np.abs(clip.frames[-1] - clip.frames[0])[outside].max()
    assert moved > 1e-3 and np.abs(still.frames[-1] - still.frames[0])[outside].max() < 1e-6


def test_camera_quantisation_and_dtypes():
    for bits, dtype in ((8, np.uint8), (10, np.uint16), (12, np.uint16), (16, np.uint16)):
        clip = synthesize(_small(duration_s=0.005, bits=bits, read_noise_e=5, shot_noise=True))
        assert clip.frames.dtype == dtype
        assert clip.frames.max() <= 2 ** bits - 1
        assert clip.frames.max() > 2 ** (bits - 1)  # the scene spans more than half the range
    assert synthesize(_small(duration_s=0.005, bits=None)).frames.dtype == np.float32


def test_cramer_rao_bound_matches_an_efficient_estimator():
    """Known texture, additive white noise: the per-frame LS estimate reaches the bound."""
    cfg = _small(duration_s=0.5, bits=None, object="full", amplitude_px=0.02,
                 read_noise_e=200.0)
    clip = synthesize(cfg)
    crb = clip.sidecar["crb"]
    sc = _scene_of(cfg)
    grad = engine.directional_derivative(sc.obj, sc.direction)
    est = np.array([-np.sum(grad * (f - sc.obj)) / np.sum(grad * grad)
                    for f in clip.frames.astype(np.float64)])
    var = float(np.var(est - clip.truth))
    # 1100 frames: the sample variance is within +-4.3% (1 sigma) of the true one
    assert var == pytest.approx(crb["var_px2"], rel=0.15)
    # SNR bound = band power / (bound variance x band fraction)
    expected = 10 * math.log10(crb["signal_power_px2"] / (crb["var_px2"]
                                                          * crb["band_fraction"]))
    assert crb["snr_db"] == pytest.approx(expected)
    assert crb["band_hz"] == [metrics.DEFAULT_LO_HZ, 0.45 * cfg.fps]


def test_noiseless_float_clip_recovers_above_30_db():
    from vmic.recovery import recover

    cfg = SynthConfig(duration_s=0.5, height=64, width=64, bits=None, object="full",
                      amplitude_px=0.05)
    clip = synthesize(cfg)
    rec = recover(clip.frames, fps=cfg.fps)  # the defaults
    assert metrics.snr_db(rec.audio, clip.truth, cfg.fps) >= 30.0


@pytest.mark.parametrize("kind", sources.SOURCE_KINDS[:-1])
def test_sources_are_unit_peak_and_in_band(kind):
    rng = np.random.default_rng(3)
    x = sources.make_source(kind, 2200, FS, rng)
    assert x.shape == (2200,) and np.max(np.abs(x)) == pytest.approx(1.0)
    assert abs(x.mean()) < 1e-9
    if kind in ("tones", "chirp", "speech"):
        spectrum = np.abs(np.fft.rfft(x)) ** 2
        f = np.fft.rfftfreq(x.size, 1 / FS)
        assert spectrum[f > 0.45 * FS].sum() < 1e-3 * spectrum.sum()


def test_resonance_peaks_at_its_frequency():
    rng = np.random.default_rng(0)
    x = sources.white(44000, rng)
    y = sources.resonate(x, FS, 300.0, 20.0)
    f = np.fft.rfftfreq(y.size, 1 / FS)
    ratio = np.abs(np.fft.rfft(y)) / np.maximum(np.abs(np.fft.rfft(x)), 1e-12)
    smooth = np.convolve(ratio, np.ones(101) / 101, mode="same")
    assert abs(f[np.argmax(smooth)] - 300.0) < 10.0


@pytest.mark.shared
def test_wav_source_from_shared_melody(tmp_path):
    melody = SHARED / "audio" / "melody_2200hz.wav"
    if not melody.is_file():
        pytest.skip("../shared/audio/melody_2200hz.wav is absent")
    x = sources.from_wav(melody, 4400.0, n=4400)
    assert x.shape == (4400,) and np.max(np.abs(x)) == pytest.approx(1.0)
    assert main(["synth", str(tmp_path / "m.npy"), "--wav", str(melody), "--duration", "0.05",
                 "--quiet"]) == 0
    side = json.loads((tmp_path / "m.json").read_text())
    assert side["params"]["source"] == "wav" and side["n_frames"] == 110


def test_cli_synth_outputs_and_open_clip(tmp_path, capsys):
    from vmic.io.clip import open_clip

    out = tmp_path / "clip.avi"
    assert main(["synth", str(out), "--truth", str(tmp_path / "t.wav"), "--duration", "0.05",
                 "--size", "48x40", "--read-noise", "3", "--seed", "7", "--quiet"]) == 0
    assert "Cramér-Rao" in capsys.readouterr().out
    side = json.loads((tmp_path / "clip.json").read_text())
    assert side["fps"] == 2200.0 and side["playback_fps"] == 30.0 and side["seed"] == 7
    assert side["crb"]["snr_db"] is not None and "command" in side
    assert not list(tmp_path.glob(".*part*"))
    clip = open_clip(out)
    assert clip.capture_fps == 2200.0 and clip.n_frames == 110 and clip.frame_shape == (40, 48)
    frames = np.concatenate([b for _, b in clip.iter_batches(64)])
    clip.close()
    expected = synthesize(SynthConfig(duration_s=0.05, height=40, width=48, read_noise_e=3.0,
                                      seed=7)).frames
    assert np.array_equal(frames, expected.astype(np.float32))
    # folder of 16-bit PNG
    assert main(["synth", str(tmp_path / "pngs"), "--bits", "16", "--duration", "0.01",
                 "--quiet"]) == 0
    assert len(list((tmp_path / "pngs").glob("frame_*.png"))) == 22
    assert (tmp_path / "pngs.json").is_file()


@pytest.mark.parametrize("argv, words", [
    (["x.txt"], "unsupported output"),
    (["x.avi", "--bits", "12"], "8 bit only"),
    (["x", "--bits", "0"], "float"),
    (["x.npy", "--source", "wav"], "--wav"),
    (["x.npy", "--tones", "1500"], "tone"),
    (["x.npy", "--motion", "membrane", "--amplitude", "5"], "too large"),
    (["x.npy", "--wav", "missing.wav"], "no such audio"),
])
def test_cli_synth_bad_input_is_one_line(tmp_path, capsys, argv, words):
    argv = [str(tmp_path / argv[0]), *argv[1:], "--quiet"]
    assert main(["synth", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("vmic: error:") and words in err and "\n" not in err
