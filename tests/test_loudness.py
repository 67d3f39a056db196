"""Per-frame loudness (dB), impact detection and event F1 (vmic.loudness)."""

import numpy as np
import pytest

from vmic.loudness import (
    chunk_bounds,
    detect_impacts,
    event_f1,
    frame_loudness_db,
    loudness_at_rate,
    match_events,
)


def test_db_of_known_chunks():
    # Chunks of constant value c and length L have energy L*c^2: dB = 10*log10(L*c^2).
    values = np.array([1.0, 0.5, 0.1, 2.0])
    audio = np.repeat(values, 100)
    db = frame_loudness_db(audio, 100)
    np.testing.assert_allclose(db, 10 * np.log10(100 * values**2), atol=1e-9)
    # The study's form 20*log10(sqrt(sum chunk^2)) gives the same numbers.
    direct = [20 * np.log10(np.sqrt(np.sum(audio[i * 100:(i + 1) * 100] ** 2))) for i in range(4)]
    np.testing.assert_allclose(db, direct, atol=1e-9)


def test_unit_sine_chunk():
    # A unit sine over whole periods has sum(x^2) = L/2.
    n = 800
    audio = np.sin(2 * np.pi * 10 * np.arange(n) / n)
    assert frame_loudness_db(audio, n)[0] == pytest.approx(10 * np.log10(n / 2), abs=1e-9)


def test_floor_for_silence():
    audio = np.concatenate([np.zeros(50), np.full(50, 1e-9), np.ones(50)])
    db = frame_loudness_db(audio, 50, floor_db=-80.0)
    assert db[0] == -80.0 and db[1] == -80.0
    assert db[2] == pytest.approx(10 * np.log10(50))


@pytest.mark.parametrize("fs, rate", [(2200, 30), (8000, 30), (44100, 29.97), (1000, 7)])
def test_non_integer_chunks_tile_the_audio(fs, rate):
    n = 5 * fs + 3
    bounds = chunk_bounds(n, fs / rate)
    lengths = np.diff(bounds)
    assert bounds[0] == 0 and bounds[-1] <= n
    assert n - bounds[-1] < fs / rate  # only an incomplete chunk is left over
    assert lengths.max() - lengths.min() <= 1
    # Energies of the chunks add up to the energy of the covered audio.
    audio = np.random.default_rng(0).standard_normal(n)
    db = loudness_at_rate(audio, fs, fps=rate)
    assert db.size == lengths.size
    np.testing.assert_allclose(np.sum(10 ** (db / 10)), np.sum(audio[: bounds[-1]] ** 2),
                               rtol=1e-9)


def test_bad_inputs():
    with pytest.raises(ValueError):
        frame_loudness_db(np.zeros((3, 3)), 2)
    with pytest.raises(ValueError):
        frame_loudness_db(np.zeros(10), 0)
    with pytest.raises(ValueError):
        loudness_at_rate(np.zeros(10), 10, fps=20)
    assert frame_loudness_db(np.zeros(3), 5).size == 0


def test_detect_impacts_peaks_and_spill():
    db = np.full(20, -60.0)
    db[3] = -5.0
    db[4] = -20.0   # spill of the impact at 3: not a second impact
    db[10] = -30.0
    db[11] = -10.0  # late-in-frame onset: the louder next frame is the impact
    db[16] = -50.0  # below the threshold
    np.testing.assert_array_equal(detect_impacts(db, threshold_db=-40.0), [3, 11])
    assert detect_impacts(np.full(5, -60.0), -40.0).size == 0


def test_event_f1_within_one_frame():
    truth = [10, 20, 30, 40]
    assert event_f1([11, 19, 30, 40], truth) == (1.0, 1.0, 1.0)
    precision, recall, f1 = event_f1([12, 20, 30], truth)  # 12 is two frames off
    assert precision == pytest.approx(2 / 3) and recall == pytest.approx(2 / 4)
    assert f1 == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    # One prediction cannot match two true events.
    assert len(match_events([10], [9, 11])) == 1
    assert event_f1([], []) == (1.0, 1.0, 1.0)
    assert event_f1([], [3])[2] == 0.0


def _vibrating_texture(audio, size=32, displacement_px=0.2, seed=0):
    """Frames (T, size, size) of a smooth texture shifted sideways by ``audio`` (px)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    comps = [(rng.uniform(0.05, 0.25), rng.uniform(-0.15, 0.15), rng.uniform(0, 6))
             for _ in range(6)]
    frames = np.empty((audio.size, size, size), dtype=np.float32)
    for i, d in enumerate(displacement_px * audio):
        x = xx - d
        frames[i] = 128 + 15 * sum(np.sin(2 * np.pi * (fx * x + fy * yy) + ph)
                                   for fx, fy, ph in comps)
    return frames + rng.normal(0, 0.5, frames.shape).astype(np.float32)


def test_cli_loudness_from_recovered_audio(tmp_path, capsys):
    pytest.importorskip("vmic.recovery")
    import csv
    import json

    import soundfile

    from vmic.cli import main

    fs, n = 2000.0, 1200
    t = np.arange(n) / fs
    rng = np.random.default_rng(1)
    audio = 1e-3 * rng.standard_normal(n)
    for t0 in np.arange(0.05, 0.6, 0.1):  # decaying bursts of different levels
        tail = t >= t0
        audio[tail] += (rng.uniform(0.05, 1.0) * np.exp(-(t[tail] - t0) / 0.03)
                        * np.sin(2 * np.pi * rng.uniform(150, 400) * (t[tail] - t0)))
    np.save(tmp_path / "hs.npy", _vibrating_texture(audio))
    (tmp_path / "hs.json").write_text(json.dumps({"fps": fs}))
    soundfile.write(tmp_path / "truth.wav", audio.astype(np.float32), int(fs), subtype="FLOAT")
    out = tmp_path / "loud.csv"
    status = main(["loudness", str(tmp_path / "hs.npy"), "-o", str(out), "--rate", "30",
                   "--reference", str(tmp_path / "truth.wav"), "--plot",
                   str(tmp_path / "loud.png"), "--quiet"])
    assert status == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 18  # 0.6 s at 30 frames/s
    db = np.array([float(r["db"]) for r in rows])
    truth = np.array([float(r["truth_db"]) for r in rows])
    np.testing.assert_allclose(truth, loudness_at_rate(audio, fs, fps=30), atol=1e-3)
    assert np.corrcoef(db, truth)[0, 1] > 0.9
    assert (tmp_path / "loud.png").stat().st_size > 1000
    assert "correlation with reference" in capsys.readouterr().out
    # A rate above the capture rate is bad input: one line, exit 2, no output.
    assert main(["loudness", str(tmp_path / "hs.npy"), "-o", str(tmp_path / "x.csv"),
                 "--rate", "5000", "--quiet"]) == 2
    assert not (tmp_path / "x.csv").exists()
