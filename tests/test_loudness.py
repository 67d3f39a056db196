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
    db = loudness_at_rate(audio, fs, rate)
    assert db.size == lengths.size
    np.testing.assert_allclose(np.sum(10 ** (db / 10)), np.sum(audio[: bounds[-1]] ** 2),
                               rtol=1e-9)


def test_bad_inputs():
    with pytest.raises(ValueError):
        frame_loudness_db(np.zeros((3, 3)), 2)
    with pytest.raises(ValueError):
        frame_loudness_db(np.zeros(10), 0)
    with pytest.raises(ValueError):
        loudness_at_rate(np.zeros(10), 10, 20)
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
