"""Tests of vmic.metrics: invariances, calibration at a known SNR, best values."""

import json
import math

import numpy as np
import pytest
import soundfile as sf

from vmic import metrics
from vmic.errors import VmicError

SR = 2200.0


def _music(n, sr=SR, seed=0):
    """A sum of in-band sines with random amplitudes and phases, float64 (n,)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    freqs = rng.uniform(80.0, 0.4 * sr, size=6)
    amps = rng.uniform(0.3, 1.0, size=6)
    phases = rng.uniform(0, 2 * np.pi, size=6)
    # a slow envelope so the loudness and segmental SNR vary over time
    env = 0.6 + 0.4 * np.sin(2 * np.pi * 3.0 * t)
    return env * np.sum(amps[:, None] * np.sin(2 * np.pi * freqs[:, None] * t + phases[:, None]),
                        axis=0)


def _inband_noise(n, sr=SR, seed=1):
    rng = np.random.default_rng(seed)
    return metrics.scoring_band(rng.standard_normal(n), sr, lo_hz=60.0)


@pytest.mark.parametrize("gain", [3.7, -0.02, -250.0])
@pytest.mark.parametrize("lag", [0, 5, -17])
def test_gain_sign_lag_invariance(gain, lag):
    n, m = 4400, 40
    ref_long = _music(n + 2 * m)
    est_long = ref_long + 0.1 * _inband_noise(n + 2 * m)
    ref = ref_long[m:m + n]
    base = metrics.score(est_long[m:m + n], ref, SR)
    # the estimate is late by `lag` samples: est[i + lag] == ref[i]
    result = metrics.score(gain * est_long[m - lag:m - lag + n], ref, SR)
    assert result["lag"] == lag
    assert math.copysign(1, result["gain"]) == math.copysign(1, gain)
    for key in ("snr_db", "segsnr_db", "lsd_db", "loudness_mae_db"):
        assert result[key] == pytest.approx(base[key], abs=0.15), key
    for key in ("pearson", "rmse01"):
        assert result[key] == pytest.approx(base[key], abs=0.01), key


@pytest.mark.parametrize("target_db", [-3.0, 0.0, 10.0, 25.0])
def test_signal_plus_noise_at_known_snr(target_db):
    n = 22000
    ref = metrics.scoring_band(_music(n), SR)
    noise = _inband_noise(n)
    noise *= math.sqrt(np.sum(ref ** 2) / np.sum(noise ** 2) / 10 ** (target_db / 10))
    measured = metrics.snr_db(ref + noise, ref, SR)
    assert abs(measured - target_db) < 0.5


def test_identical_signals_give_best_values():
    ref = _music(4400)
    result = metrics.score(ref, ref, SR)
    assert result["snr_db"] == math.inf or result["snr_db"] > 200
    assert result["segsnr_db"] == pytest.approx(metrics.SEG_CLIP_DB[1])
    assert result["lsd_db"] == pytest.approx(0.0, abs=1e-9)
    assert result["pearson"] == pytest.approx(1.0)
    assert result["rmse01"] == pytest.approx(0.0, abs=1e-12)
    assert result["loudness_mae_db"] == pytest.approx(0.0, abs=1e-9)
    assert result["lag"] == 0 and result["gain"] == pytest.approx(1.0)


def test_worse_estimate_scores_worse():
    ref = _music(8800)
    good = metrics.score(ref + 0.05 * _inband_noise(8800), ref, SR)
    bad = metrics.score(ref + 1.0 * _inband_noise(8800), ref, SR)
    assert bad["snr_db"] < good["snr_db"] - 10
    assert bad["segsnr_db"] < good["segsnr_db"]
    assert bad["lsd_db"] > good["lsd_db"]
    assert bad["pearson"] < good["pearson"]
    assert bad["rmse01"] > good["rmse01"]


def test_stoi_only_where_rate_allows():
    low = metrics.score(_music(4400), _music(4400), SR)
    assert math.isnan(low["stoi"]) and "10000" in low["stoi_note"]
    sr = 16000.0
    ref = _music(16000, sr=sr)
    clean = metrics.score(ref, ref, sr)
    noisy = metrics.score(ref + 0.5 * _inband_noise(16000, sr=sr), ref, sr)
    assert clean["stoi"] > 0.99 and "stoi_note" not in clean
    assert 0.0 < noisy["stoi"] < clean["stoi"] - 0.05


def test_frame_loudness_formula():
    x = np.array([3.0, 4.0, 0.0, 0.0, 1.0, 0.0, 7.0])
    loud = metrics.frame_loudness_db(x, 2, floor_db=-80.0)
    assert loud.dtype == np.float64 and loud.shape == (3,)
    assert loud[0] == pytest.approx(20 * math.log10(5.0))
    assert loud[1] == pytest.approx(-80.0)
    assert loud[2] == pytest.approx(0.0)
    with pytest.raises(VmicError):
        metrics.frame_loudness_db(x, 0)


def test_rmse01_and_pearson_of_inverted_copy():
    ref = _music(4400)
    assert metrics.rmse01(-ref, ref, SR) == pytest.approx(0.0, abs=1e-9)
    assert metrics.pearson(-ref, ref, SR) == pytest.approx(1.0)


def test_bad_input_is_a_vmic_error():
    with pytest.raises(VmicError):
        metrics.score(np.zeros(100), np.zeros(100), SR)
    with pytest.raises(VmicError):
        metrics.score(np.ones((10, 3)), np.ones(30), SR)
    with pytest.raises(VmicError):
        metrics.score(np.ones(100), np.ones(100), SR, lo_hz=2000.0)


def test_cli_score_table_and_json(tmp_path, capsys):
    from vmic.cli import main

    ref = _music(4400)
    est = -0.3 * ref + 0.05 * _inband_noise(4400)
    sf.write(tmp_path / "ref.wav", ref / np.abs(ref).max(), int(SR), subtype="FLOAT")
    sf.write(tmp_path / "est.wav", est, int(SR), subtype="FLOAT")
    assert main(["score", str(tmp_path / "est.wav"), str(tmp_path / "ref.wav"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["gain"] < 0 and result["snr_db"] > 10 and result["stoi"] is None
    assert main(["score", str(tmp_path / "est.wav"), str(tmp_path / "ref.wav")]) == 0
    assert "SNR (dB" in capsys.readouterr().out
    # a different rate is resampled with a warning; a missing file is a one-line error
    sf.write(tmp_path / "est2.wav", est[::2], int(SR // 2), subtype="FLOAT")
    assert main(["score", str(tmp_path / "est2.wav"), str(tmp_path / "ref.wav")]) == 0
    assert "resampl" in capsys.readouterr().err
    assert main(["score", str(tmp_path / "nope.wav"), str(tmp_path / "ref.wav")]) == 2
    assert "vmic: error:" in capsys.readouterr().err


def test_chance_level_bounds_what_noise_scores():
    n = 1100  # 0.5 s at 2200 fps, the fidelity grid's clips
    ref = _music(n, seed=3)
    level = metrics.chance_snr_db(ref, SR, quantile=0.95, draws=100, seed=0)
    # Noise correlates by about 1/sqrt(N) at the best of the searched lags: far below 0 dB,
    # far above -inf.
    assert -30.0 < level < -12.0
    # Fresh noise (other seeds) stays at or below the 95th percentile about 95% of the time.
    rng = np.random.default_rng(123)
    fresh = [metrics.snr_db(rng.standard_normal(n), ref, SR) for _ in range(200)]
    share = np.mean(np.asarray(fresh) <= level)
    assert 0.88 <= share <= 0.995
    assert metrics.chance_snr_db(ref, SR, quantile=0.5, draws=100) < level
    # A weak but real estimate (-10 dB) is well above chance; a longer clip lowers chance.
    noisy = ref + 10 ** 0.5 * np.std(ref) * rng.standard_normal(n)
    assert metrics.snr_db(noisy, ref, SR) > level + 5.0
    assert metrics.chance_snr_db(_music(8 * n, seed=3), SR, draws=50) < level - 4.0
    with pytest.raises(VmicError):
        metrics.chance_snr_db(ref, SR, quantile=1.0)


def test_spectral_metrics_share_the_snr_alignment():
    # LSD and loudness error are computed after the same lag and gain as the SNR: a delayed,
    # inverted, rescaled copy of an estimate scores exactly like the estimate itself.
    ref = _music(8000)
    est = ref + 0.3 * _inband_noise(8000)
    moved = -7.5 * np.concatenate([np.zeros(5), est[:-5]])
    a, b = metrics.score(est, ref, SR), metrics.score(moved, ref, SR)
    assert b["lag"] == a["lag"] + 5 and b["gain"] == pytest.approx(-7.5 * a["gain"], rel=1e-3)
    for key in ("snr_db", "lsd_db", "loudness_mae_db"):
        assert b[key] == pytest.approx(a[key], rel=0.05), key
    aligned = metrics.prepare(moved, ref, SR)
    assert metrics.score(moved, ref, SR)["lsd_db"] == pytest.approx(
        metrics.log_spectral_distance_db(aligned.est, aligned.ref, SR, max_lag=0), rel=0.1)


def test_table_states_the_shared_alignment():
    ref = _music(4000)
    text = metrics.format_table(metrics.score(ref + 0.1 * _inband_noise(4000), ref, SR))
    first = text.splitlines()[0]
    assert first.startswith("all after one alignment") and "lag 0 samples" in first
    assert "log-spectral distance (dB, 0 = identical)" in text


def test_snr_takes_sr_by_keyword():
    ref = _music(4000)
    assert metrics.snr_db(ref, ref, sr=SR) == math.inf
    with pytest.raises(TypeError):
        metrics.snr_db(ref, ref, SR, 20.0)  # options are keyword-only
