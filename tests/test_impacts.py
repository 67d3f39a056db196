"""The impacts renderer (vmic.synth.impacts): determinism, truth, and the sound law."""

import dataclasses
import json

import numpy as np
import pytest
import soundfile

from vmic.loudness import frame_loudness_db
from vmic.synth.impact_scene import impact_events
from vmic.synth.impacts import ImpactParams, render_impacts, split_seeds, write_impact_clip

SMALL = ImpactParams(height_px=64, width_px=64, floor_y_px=56.0, n_frames=48,
                     radius_px=(2.0, 6.0), drop_px=(10.0, 40.0), subframes=4)


def test_same_seed_same_clip_other_seed_differs():
    a, b = render_impacts(7, SMALL), render_impacts(7, SMALL)
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.audio, b.audio)
    np.testing.assert_array_equal(a.db, b.db)
    c = render_impacts(8, SMALL)
    assert not np.array_equal(a.frames, c.frames)
    assert not np.array_equal(a.audio, c.audio)


def test_shapes_and_truth():
    clip = render_impacts(3, SMALL)
    assert clip.frames.shape == (48, 64, 64) and clip.frames.dtype == np.uint8
    frame_len = SMALL.audio_rate_hz / SMALL.fps
    assert clip.audio.dtype == np.float32 and clip.audio.size == round(48 * frame_len)
    np.testing.assert_allclose(clip.db, frame_loudness_db(clip.audio, frame_len))
    assert clip.db.shape == (48,)
    # Impacts are loud, every other frame far quieter than the quietest impact's frame ...
    others = np.delete(clip.db, np.concatenate([clip.impact_frames, clip.impact_frames + 1]))
    assert clip.db[clip.impact_frames].min() > others.max() + 10
    # ... and the frames change where the objects fall.
    assert np.abs(np.diff(clip.frames.astype(int), axis=0)).max() > 50


def test_louder_impacts_get_larger_truth_db():
    # Among a clip's impacts (well inside their frame), truth dB rises with amplitude.
    amps, dbs = [], []
    for seed in range(4):
        clip = render_impacts(seed, SMALL)
        amps.extend(clip.impact_amplitudes)
        dbs.extend(clip.db[clip.impact_frames])
    order = np.argsort(amps)
    assert np.corrcoef(np.log(np.array(amps)[order]), np.array(dbs)[order])[0, 1] > 0.8


def test_sound_law_size_times_speed():
    params = ImpactParams()
    objects = {"drop_px": np.array([20.0, 80.0, 20.0]), "radius_px": np.array([4.0, 4.0, 8.0]),
               "release_s": np.array([0.0, 5.0, 10.0])}
    events = impact_events(objects, params)
    # Sorted by time: each object's fall, then its rebound's landing.
    assert np.all(np.diff(events["time_s"]) > 0)
    falls, rebounds = events["amplitude"][0::2], events["amplitude"][1::2]
    speeds = np.sqrt(2 * params.gravity_px_s2 * np.array([20.0, 80.0, 20.0]))
    np.testing.assert_allclose(falls, params.amplitude_ref * np.array([4, 4, 8]) / 8
                               * speeds / params.speed_ref_px_s)
    # Four times the height = twice the speed = twice the amplitude; so is twice the size.
    assert falls[1] == pytest.approx(2 * falls[0]) and falls[2] == pytest.approx(2 * falls[0])
    np.testing.assert_allclose(rebounds, params.restitution * falls)


def test_split_seeds_disjoint():
    sets = [set(split_seeds(s, 500)) for s in ("train", "val", "test")]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    with pytest.raises(ValueError):
        split_seeds("holdout", 3)


def test_write_clip(tmp_path):
    clip = render_impacts(1, dataclasses.replace(SMALL, n_frames=16))
    paths = write_impact_clip(clip, tmp_path / "drop")
    np.testing.assert_array_equal(np.load(paths["frames"]), clip.frames)
    audio, rate = soundfile.read(paths["audio"], dtype="float32")
    assert rate == SMALL.audio_rate_hz
    np.testing.assert_array_equal(audio, clip.audio)
    meta = json.loads(paths["meta"].read_text())
    assert meta["fps"] == SMALL.fps and len(meta["db"]) == 16
    assert sorted(p.name for p in tmp_path.iterdir()) == ["drop.json", "drop.npy", "drop.wav"]
