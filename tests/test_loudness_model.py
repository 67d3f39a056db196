"""The CNN-LSTM loudness predictor (vmic.learn.loudness.model) and `vmic loudness --method
cnn-lstm`."""

import csv

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from vmic.cli import main  # noqa: E402
from vmic.learn.loudness.model import (  # noqa: E402
    CNNLSTM,
    load_weights,
    predict_clips,
    resize_frames,
    save_weights,
    space_time_images,
)
from vmic.learn.loudness.train import (  # noqa: E402
    build_dataset,
    impact_scores,
    pretrain_cnn,
    train_end_to_end,
    train_frozen,
)
from vmic.synth.impacts import ImpactParams, render_impacts, write_impact_clip  # noqa: E402

TINY = ImpactParams(height_px=32, width_px=32, floor_y_px=28.0, n_frames=24,
                    radius_px=(1.5, 3.0), drop_px=(4.0, 12.0), n_objects=(1, 2),
                    gravity_px_s2=150.0, subframes=2)


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def tiny_data():
    return build_dataset("train", 6, size=16, params=TINY)


def test_space_time_images():
    frames = torch.arange(4, dtype=torch.uint8).reshape(1, 4, 1, 1).expand(1, 4, 2, 2) * 85
    x = space_time_images(frames.contiguous())
    assert x.shape == (1, 4, 3, 2, 2) and x.dtype == torch.float32
    levels = x[0, :, :, 0, 0]  # (T, [prev, cur, next])
    expected = torch.tensor([[0, 0, 85], [0, 85, 170], [85, 170, 255], [170, 255, 255]]) / 127.5 - 1
    torch.testing.assert_close(levels, expected.float())
    assert x.min() >= -1 and x.max() <= 1


def test_resize_frames_keeps_levels():
    frames = np.full((3, 32, 48), 1000.0)
    small = resize_frames(frames, 8, intensity_max=2000.0)
    assert small.shape == (3, 8, 8) and small.dtype == np.uint8
    assert np.all(small == 128)


def _mse(model, data):
    return float(np.mean((predict_clips(model, data["frames"]) - data["db"]) ** 2))


def test_tiny_cnn_lstm_loss_falls(tiny_data):
    torch.manual_seed(0)
    model = CNNLSTM(size=16, width=4, features=16, hidden=8)
    model.db_mean.fill_(float(tiny_data["db"].mean()))
    model.db_std.fill_(float(tiny_data["db"].std()))
    before = _mse(model, tiny_data)
    losses = train_end_to_end(model, tiny_data, steps=100, batch=4, window=12, lr=1e-2)
    after = _mse(model, tiny_data)
    assert np.all(np.isfinite(losses))
    # Falls, and ends below the mean predictor (whose MSE is the variance of the truth).
    assert after < 0.8 * before and after < 0.8 * float(tiny_data["db"].var())


def test_frozen_variant_keeps_cnn_and_trains_lstm(tiny_data):
    torch.manual_seed(0)
    model = CNNLSTM(size=16, width=4, features=16, hidden=8)
    pre = pretrain_cnn(model, tiny_data, steps=30, batch=4, window=12, lr=1e-2)
    assert np.mean(pre[-6:]) < np.mean(pre[:3])
    cnn_before = {k: v.clone() for k, v in model.cnn.state_dict().items()}
    lstm_before = [p.clone() for p in model.lstm.parameters()]
    losses = train_frozen(model, tiny_data, steps=30, batch=4, window=12, lr=1e-2)
    for key, value in model.cnn.state_dict().items():
        torch.testing.assert_close(value, cnn_before[key])  # weights and BatchNorm statistics
    assert any(not torch.equal(a, b) for a, b in zip(lstm_before, model.lstm.parameters(),
                                                      strict=True))
    assert np.mean(losses[-6:]) < np.mean(losses[:3])
    assert all(p.requires_grad for p in model.cnn.parameters())


def test_impact_scores_perfect_and_baseline():
    truth = np.full((2, 20), -55.0)
    truth[0, 5], truth[1, 12] = -5.0, -15.0
    impacts = [np.array([5]), np.array([12])]
    perfect = impact_scores(truth, truth, impacts, threshold_db=-40)
    assert perfect["f1"] == 1.0 and perfect["mae_impact_db"] == 0.0
    flat = impact_scores(np.full_like(truth, truth.mean()), truth, impacts, threshold_db=-40)
    assert flat["f1"] == 0.0 and flat["mae_impact_db"] > 30


def test_weights_round_trip(tmp_path):
    torch.manual_seed(1)
    model = CNNLSTM(size=16, width=4, features=16, hidden=8)
    model.db_mean.fill_(-40.0)
    save_weights(model, tmp_path / "w.pt", {"threshold_db": -33.0, "variant": "end2end"})
    loaded, meta = load_weights(tmp_path / "w.pt")
    assert meta == {"threshold_db": -33.0, "variant": "end2end"}
    frames = np.random.default_rng(0).integers(0, 255, (1, 5, 16, 16), dtype=np.uint8)
    np.testing.assert_allclose(predict_clips(loaded, frames), predict_clips(model, frames))
    (tmp_path / "bad.pt").write_bytes(b"not weights")
    from vmic.errors import VmicError

    with pytest.raises(VmicError):
        load_weights(tmp_path / "bad.pt")


def test_cli_cnn_lstm_end_to_end(tmp_path, capsys):
    torch.manual_seed(2)
    model = CNNLSTM(size=16, width=4, features=16, hidden=8)
    save_weights(model, tmp_path / "w.pt", {"threshold_db": -1e9})
    clip = render_impacts(5, TINY)
    paths = write_impact_clip(clip, tmp_path / "drop")
    out, plot = tmp_path / "loud.csv", tmp_path / "loud.png"
    status = main(["loudness", str(paths["frames"]), "-o", str(out), "--method", "cnn-lstm",
                   "--weights", str(tmp_path / "w.pt"), "--reference", str(paths["audio"]),
                   "--plot", str(plot), "--quiet"])
    assert status == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == TINY.n_frames
    assert set(rows[0]) == {"frame", "time_s", "db", "truth_db", "impact"}
    np.testing.assert_allclose([float(r["truth_db"]) for r in rows], clip.db, atol=1e-3)
    assert plot.stat().st_size > 1000
    assert "24 frames" in capsys.readouterr().out
    # Bad input: one clear line, exit 2, nothing written.
    status = main(["loudness", str(paths["frames"]), "-o", str(tmp_path / "x.csv"),
                   "--method", "cnn-lstm", "--rate", "50", "--weights", str(tmp_path / "w.pt")])
    assert status == 2 and not (tmp_path / "x.csv").exists()
    assert "omit --rate" in capsys.readouterr().err


def test_shipped_weights_find_held_out_impacts():
    from vmic.learn.loudness.model import DEFAULT_WEIGHTS, predict_db

    if not DEFAULT_WEIGHTS.is_file():
        pytest.skip("no shipped loudness weights")
    clip = render_impacts(2_000_123)  # a test-split seed
    predicted, meta = predict_db(clip.frames)
    scores = impact_scores(predicted[None], clip.db[None], [clip.impact_frames],
                           meta["threshold_db"])
    assert scores["f1"] >= 0.9
    baseline = np.mean(np.abs(clip.db[clip.impact_frames] - meta["train_mean_impact_db"]))
    assert scores["mae_impact_db"] < baseline


def test_rate_input_model_sees_the_frame_rate():
    data = build_dataset("val", 2, size=16, params=TINY, frame_rates=(30.0, 15.0))
    np.testing.assert_array_equal(data["fps"], [30.0, 15.0])
    torch.manual_seed(3)
    model = CNNLSTM(size=16, width=4, features=16, hidden=8, rate_input=True)
    losses = train_end_to_end(model, data, steps=3, batch=2, window=8)
    assert np.all(np.isfinite(losses))
    at_30 = predict_clips(model, data["frames"], 30.0)
    at_15 = predict_clips(model, data["frames"], 15.0)
    assert at_30.shape == data["db"].shape and not np.allclose(at_30, at_15)
    # A model without the rate input ignores it.
    plain = CNNLSTM(size=16, width=4, features=16, hidden=8)
    np.testing.assert_array_equal(predict_clips(plain, data["frames"], 30.0),
                                  predict_clips(plain, data["frames"], 15.0))


def test_default_weights_follow_the_clip_rate():
    from vmic.learn.loudness.model import DEFAULT_WEIGHTS, RATES_WEIGHTS, default_weights

    assert default_weights(None) == DEFAULT_WEIGHTS
    assert default_weights(29.97) == DEFAULT_WEIGHTS
    expected = RATES_WEIGHTS if RATES_WEIGHTS.is_file() else DEFAULT_WEIGHTS
    assert default_weights(15.0) == expected
