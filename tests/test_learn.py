"""Learned recovery (issue 5): phase maps, the Siamese regressor, training, weights, CLI."""

import sys
from dataclasses import replace

import numpy as np
import pytest

from vmic.cli import main

torch = pytest.importorskip("torch")

from vmic.learn.siamese.data import draw_config, synth_clip_maps  # noqa: E402
from vmic.learn.siamese.infer import load_model, predict_samples  # noqa: E402
from vmic.learn.siamese.inputs import model_inputs, tile_signs  # noqa: E402
from vmic.learn.siamese.maps import MapSpec, clip_maps, frame_maps  # noqa: E402
from vmic.learn.siamese.model import SiameseRegressor, state_for_saving  # noqa: E402
from vmic.learn.siamese.train import TrainConfig, window_loss  # noqa: E402

SPEC = MapSpec(scales=2, orientations=2, grid=8)
TINY = TrainConfig(n_train=2, n_val=1, duration_s=0.08, size=48, window=32, batch=4,
                   max_steps=3, eval_every=1, patience=2, width=4, taps=2, threads=1)


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def clips():
    out = []
    for i in range(2):  # noisy tones: the prior is imperfect, so there is something to learn
        cfg = replace(draw_config("train", i), duration_s=TINY.duration_s, height=48, width=48,
                      source="tones", amplitude_px=0.01, read_noise_e=40.0, motion="global")
        maps, truth = synth_clip_maps(cfg, SPEC)
        signs = tile_signs(maps.phase, maps.energy_ref, maps.fps)
        out.append({"maps": maps, "truth": truth, "signs": signs})
    return out


@pytest.fixture
def tiny_model_file(tmp_path):
    torch.manual_seed(1)
    model = SiameseRegressor(SPEC.channels, width=4, taps=2)
    with torch.no_grad():  # a non-trivial head, so outputs depend on every weight
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    path = tmp_path / "tiny.pt"
    torch.save(state_for_saving(model, SPEC.to_dict()), path)
    return path, model


def test_maps_have_the_spec_shape(clips):
    maps = clips[0]["maps"]
    n = round(TINY.duration_s * TINY.fps)
    assert maps.phase.shape == (n, SPEC.channels, 8, 8)
    assert maps.energy.shape == maps.phase.shape
    assert maps.energy_ref.shape == (SPEC.channels, 8, 8)
    # Frame 0 is the reference: no phase change.
    assert np.abs(maps.phase[0]).max() < 1e-5
    assert np.abs(maps.phase[1:]).max() > 1e-5


def test_frame_maps_match_the_phase_module():
    # The learned path's own tile kernel must give vmic.core.phase's A**2-weighted tile phases.
    from vmic.core.phase import frame_phase_sums, reference_bands
    from vmic.core.pyramid import SteerablePyramid

    rng = np.random.default_rng(3)
    frames = rng.random((5, 40, 52)).astype(np.float32)  # tiles of unequal size
    pyramid = SteerablePyramid((40, 52), 2, 2)
    reference = reference_bands(pyramid, frames[0])
    phase, energy = frame_maps(pyramid, reference, frames, (6, 7))
    sums = frame_phase_sums(pyramid, reference, frames, (6, 7))
    expected_phase = (sums.weighted_phase / sums.energy).reshape(5, 4, 6, 7)
    expected_energy = (sums.energy / sums.pixels[None, :, None]).reshape(5, 4, 6, 7)
    assert np.abs(phase[1:]).max() > 0.01
    np.testing.assert_allclose(phase, expected_phase, atol=1e-6)
    np.testing.assert_allclose(energy, expected_energy, rtol=1e-5)


def test_clip_maps_same_with_any_pipeline_depth():
    from vmic.io.clip import open_clip

    frames = np.random.default_rng(4).random((37, 48, 48)).astype(np.float32)
    out = []
    for workers, batch in ((1, 37), (3, 5)):
        with open_clip(frames, fps=2000.0) as clip:
            out.append(clip_maps(clip, SPEC, batch_size=batch, workers=workers))
    assert out[1].phase.shape == (37, SPEC.channels, 8, 8)
    np.testing.assert_array_equal(out[0].phase, out[1].phase)
    np.testing.assert_array_equal(out[0].energy, out[1].energy)


def test_flow_maps_measure_the_displacement_in_px():
    # A rigid shift at 30 deg: every tile's map is the shift along that direction (px).
    cfg = replace(draw_config("train", 0), duration_s=0.05, height=48, width=48,
                  source="tones", amplitude_px=0.05, read_noise_e=0.0, shot_noise=False,
                  motion="global", direction_deg=30.0, object="full")
    maps, truth = synth_clip_maps(cfg, MapSpec(3, 2, 8, "flow"))
    assert maps.phase.shape == (truth.size, 1, 8, 8)
    assert maps.energy_ref.shape == (1, 8, 8) and np.all(maps.energy_ref > 0)
    w = maps.energy_ref[0]
    along = (maps.phase[:, 0] * w).sum(axis=(1, 2)) / w.sum()
    along = along * np.sign(np.dot(along, truth - truth[0]))  # the direction's sign is free
    shift = truth - truth[0]
    slope = np.polyfit(shift, along, 1)[0]
    assert 0.9 < slope < 1.1
    assert np.abs(along - shift).max() < 0.05 * np.abs(shift).max()


def test_unknown_map_inputs_are_refused():
    from vmic.errors import VmicError

    with pytest.raises(VmicError, match="flow"):
        MapSpec(inputs="pixels")


def test_splits_never_share_seeds():
    seeds = {split: {draw_config(split, i).seed for i in range(50)}
             for split in ("train", "val", "test")}
    assert not seeds["train"] & seeds["val"]
    assert not seeds["train"] & seeds["test"]
    assert not seeds["val"] & seeds["test"]


def test_tile_signs_undo_known_flips():
    rng = np.random.default_rng(0)
    t = np.arange(400) / 2000.0
    s = np.sin(2 * np.pi * 300 * t)
    flips = np.where(rng.random((2, 3, 3)) < 0.5, -1.0, 1.0).astype(np.float32)
    phase = (s[:, None, None, None] * flips + 0.05 * rng.standard_normal((400, 2, 3, 3)))
    energy = np.ones((2, 3, 3), dtype=np.float32)
    signs = tile_signs(phase.astype(np.float32), energy, 2000.0)
    aligned = signs * flips
    assert np.all(aligned == aligned.flat[0])  # all tiles now agree (up to one global sign)


def test_model_is_odd_in_the_motion(tiny_model_file):
    _, model = tiny_model_file
    rng = np.random.default_rng(2)
    phase = torch.from_numpy(rng.standard_normal((5, 4, 8, 8)).astype(np.float32))
    features = torch.from_numpy(rng.standard_normal((5, 8, 8, 8)).astype(np.float32))
    ref = model.encode_reference(torch.zeros(1, 8, 8, 8))
    w = torch.ones(1, 4, 8, 8)
    with torch.no_grad():
        y = model.frame_outputs(phase, features, ref, w)
        y_neg = model.frame_outputs(-phase, features, ref, w)
        y_zero = model.frame_outputs(0 * phase, features, ref, w)
    assert torch.allclose(y_neg, -y)
    assert torch.all(y_zero == 0)
    assert torch.all(y != 0)


def test_tiny_model_trains_and_loss_falls(clips):
    torch.manual_seed(0)
    model = SiameseRegressor(SPEC.channels, width=4, taps=0)
    # Start away from the prior so there is something to learn.
    with torch.no_grad():
        model.head[2].bias.copy_(torch.tensor([1.0, -1.0, 0.3, -0.3]))
    tensors = []
    for clip in clips:
        phase, features, features_ref, weights = model_inputs(clip["maps"], clip["signs"])
        tensors.append((phase, features, features_ref, weights, clip["truth"]))
    batch = [torch.from_numpy(np.stack([t[i][:64] if i in (0, 1, 4) else t[i]
                                        for t in tensors]).astype(np.float32))
             for i in range(5)]
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(25):
        loss = window_loss(model(*batch[:4]), batch[4])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    assert np.isfinite(losses).all()
    assert losses[-1] < 0.8 * losses[0]


def test_saved_weights_reload_identically(tiny_model_file, clips):
    path, model = tiny_model_file
    loaded, spec = load_model(path)
    assert spec == SPEC
    assert loaded.taps == 2
    maps = clips[0]["maps"]
    a = predict_samples(model.eval(), maps, signs=clips[0]["signs"])
    b = predict_samples(loaded, maps, signs=clips[0]["signs"])
    assert np.array_equal(a, b)
    assert np.std(a) > 0
    # weights_only loading: the file holds tensors and plain values only
    state = torch.load(path, weights_only=True)
    assert state["format"] == "vmic-siamese-1"


def test_bad_model_file_is_one_line_error(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a model")
    clip = tmp_path / "c.npy"
    np.save(clip, np.zeros((4, 48, 48), np.float32))
    rc = main(["recover", str(clip), "--fps", "1000", "-o", str(tmp_path / "o.wav"),
               "--method", "learned", "--model", str(bad), "--quiet"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "is not a weights file" in err and "Traceback" not in err


def _render_sample(tmp_path, duration_s=0.1):
    from vmic.synth import render

    cfg = replace(draw_config("test", 0), duration_s=duration_s, height=48, width=48,
                  read_noise_e=0.0, amplitude_px=0.05)
    clip = tmp_path / "sample.npy"
    render(clip, tmp_path / "sample_truth.wav", cfg)
    return clip, tmp_path / "sample_truth.wav"


def test_recover_method_learned_end_to_end(tmp_path, tiny_model_file):
    import soundfile as sf

    path, _ = tiny_model_file
    clip, _ = _render_sample(tmp_path)
    out = tmp_path / "learned.wav"
    rc = main(["recover", str(clip), "-o", str(out), "--method", "learned", "--model",
               str(path), "--quiet"])
    assert rc == 0
    audio, rate = sf.read(str(out))
    assert rate == 2200
    assert audio.shape == (220,)
    assert np.abs(audio).max() == pytest.approx(1.0, abs=1e-6)


def test_shipped_model_recovers_a_sample(tmp_path):
    from vmic import metrics
    from vmic.learn.siamese.infer import default_model_path, recover_learned

    if not default_model_path().is_file():
        pytest.skip("no shipped weights yet")
    clip, truth_path = _render_sample(tmp_path, duration_s=0.25)
    truth, _ = sf_read(truth_path)
    result = recover_learned(str(clip))
    assert result.info.combine == result.info.method == "learned"
    assert result.band_signals.shape == (0, 0, truth.size)
    assert metrics.snr_db(result.audio, truth, result.sr) > 10.0


def sf_read(path):
    import soundfile as sf

    return sf.read(str(path))


def test_train_command_writes_weights_and_plot(tmp_path):
    out = tmp_path / "m.pt"
    plot = tmp_path / "loss.png"
    rc = main(["train", "--out", str(out), "--clips", "1", "--val-clips", "1", "--duration",
               "0.05", "--steps", "2", "--eval-every", "1", "--width", "4", "--taps", "1",
               "--threads", "1", "--plot", str(plot), "--quiet"])
    assert rc == 0
    assert out.stat().st_size > 0 and plot.stat().st_size > 0
    model, spec = load_model(out)
    assert isinstance(model, SiameseRegressor)
    assert (spec.inputs, spec.scales, model.channels) == ("flow", 3, 1)  # the CLI's default


def test_learned_without_torch_names_the_extra(tmp_path, monkeypatch, capsys):
    clip = tmp_path / "c.npy"
    np.save(clip, np.zeros((4, 48, 48), np.float32))
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    rc = main(["recover", str(clip), "--fps", "1000", "-o", str(tmp_path / "o.wav"),
               "--method", "learned", "--quiet"])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "vmic[learn]" in err[0]
    rc = main(["train", "--out", str(tmp_path / "m.pt"), "--quiet"])
    assert rc == 2
    assert "vmic[learn]" in capsys.readouterr().err
