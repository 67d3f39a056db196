"""Dropped frames: each frame at its stored time, the missing ones filled (vmic.timeline)."""

import fractions
import warnings

import av
import numpy as np
import pytest

import vmic
from vmic.errors import VmicError
from vmic.timeline import frame_slots, place_on_slots

FPS = 240
TICKS = 7680  # time base 1/7680 s: holds 240 fps exactly


def test_slots_of_even_dropped_and_late_frames():
    times = np.arange(10) / FPS
    assert frame_slots(times) is None
    assert frame_slots(None) is None
    np.testing.assert_array_equal(frame_slots(np.delete(times, [3, 4, 7])),
                                  [0, 1, 2, 5, 6, 8, 9])
    late = times.copy()
    late[5] += 0.6 / FPS  # rounds onto frame 6's slot: it keeps its own
    assert frame_slots(late) is None
    early = np.delete(times, 7)
    early[6] -= 0.7 / FPS  # rounds onto frame 5's slot, with a frame dropped after it
    np.testing.assert_array_equal(frame_slots(early), [0, 1, 2, 3, 4, 5, 6, 8, 9])
    with pytest.raises(VmicError, match="too many to fill"):
        frame_slots(np.array([0.0, 1, 2, 3, 40, 41, 42, 90]) / FPS)


def test_missing_slots_are_interpolated_between_neighbours():
    values = np.array([[0.0, 10.0], [1.0, 11.0], [4.0, 14.0]])
    placed = place_on_slots(values, np.array([0, 1, 4]))
    np.testing.assert_allclose(placed[:, 0], [0, 1, 2, 3, 4])
    np.testing.assert_allclose(placed[:, 1], [10, 11, 12, 13, 14])


def _texture(size=48, seed=3):
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft2(rng.standard_normal((size, size)))
    fy, fx = np.fft.fftfreq(size)[:, None], np.fft.rfftfreq(size)[None, :]
    return spec * np.exp(-(fx ** 2 + fy ** 2) / (2 * 0.1 ** 2)), fx, fy


def _write(path, dropped=()):
    # A texture moving 0.3 px at 37 Hz, lossless H.264 at its frames' times; some dropped.
    spec, fx, fy = _texture()
    n = 240
    dx = 0.3 * np.sin(2 * np.pi * 37 * np.arange(n) / FPS)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS, options={"qp": "0", "bf": "0"})
        stream.width = stream.height = 48
        stream.pix_fmt = "yuv444p"
        stream.time_base = stream.codec_context.time_base = fractions.Fraction(1, TICKS)
        for k in range(n):
            if k in dropped:
                continue
            moved = np.fft.irfft2(spec * np.exp(-2j * np.pi * fx * dx[k]), (48, 48))
            grey = np.clip(128 + 40 * moved / np.fft.irfft2(spec, (48, 48)).std(), 0, 255)
            frame = av.VideoFrame.from_ndarray(grey.astype(np.uint8), format="gray")
            frame.pts, frame.time_base = k * TICKS // FPS, fractions.Fraction(1, TICKS)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


@pytest.mark.skipif("libx264" not in av.codecs_available, reason="no H.264 encoder")
def test_a_dropped_frame_keeps_the_sound_in_phase(tmp_path):
    whole = vmic.recover(_write(tmp_path / "whole.mp4"), fps=FPS, motion="off").audio
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the drop is reported; asserted in test_io_phone
        result = vmic.recover(_write(tmp_path / "drop.mp4", dropped={120}), fps=FPS,
                              motion="off")
    assert len(result.audio) == len(whole) == 240
    assert result.info.frames == 239
    np.testing.assert_array_equal(np.flatnonzero(result.info.filled_samples), [120])
    # Away from the drop the two agree; read as evenly spaced, every sample after the drop
    # would be one frame early (55 degrees of a 37 Hz tone at 240 fps).
    late = slice(140, 220)
    assert np.corrcoef(result.audio[late], whole[late])[0, 1] > 0.99
    assert np.corrcoef(result.audio[late][1:], whole[late][:-1])[0, 1] < 0.8


@pytest.mark.skipif("libx264" not in av.codecs_available, reason="no H.264 encoder")
def test_frame_ranges_across_a_drop_equal_one_pass(tmp_path):
    path = _write(tmp_path / "drop.mp4", dropped={50, 51, 130})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole = vmic.recover(path, fps=FPS, motion="off", combine="local")
        clip = vmic.open_clip(path, fps=FPS)
        extraction = vmic.prepare_extraction(clip, combine="local", motion="off")
        parts = [vmic.extract_range(extraction, clip[a:min(a + 100, len(clip))])
                 for a in range(0, len(clip), 100)]
    joined = vmic.recover_from_ranges(extraction, parts)
    np.testing.assert_array_equal(joined.audio, whole.audio)
    assert len(whole.audio) == 240 and whole.info.filled_samples.sum() == 3
