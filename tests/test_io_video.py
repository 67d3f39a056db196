"""Video decoding through PyAV: frames as OpenCV gave them, seeking, timestamps, metadata."""

import warnings
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import SHARED, requires_shared

from vmic.io.clip import open_clip, to_grey
from vmic.synth import SynthConfig, render, synthesize

SAMPLES = sorted((Path(__file__).resolve().parents[1] / "samples").glob("*.avi"))


def _read_all(clip, batch=16):
    return np.concatenate([frames for _, frames in clip.iter_batches(batch)])


def _opencv_grey(path, raw_grey):
    """Every frame as OpenCV decodes it, as float32 grey (the channel mean for colour)."""
    capture = cv2.VideoCapture(str(path))
    if raw_grey:
        capture.set(cv2.CAP_PROP_CONVERT_RGB, 0)
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame[..., 0] if raw_grey and frame.ndim == 3 else frame)
    capture.release()
    return to_grey(np.stack(frames))


def _write(path, frames, *, codec="ffv1", pix_fmt="gray", in_fmt="gray", rate=30,
           options=None, rotation=None, fmt=None):
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate, options=options or {})
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = pix_fmt
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format=in_fmt)))
        container.mux(stream.encode(None))


def _h264(path, n=40, gop=8):
    """Colour H.264 with B-frames and short GOPs: seeking must land on exact frames."""
    if "libx264" not in av.codecs_available:
        pytest.skip("this PyAV build has no H.264 encoder")
    rng = np.random.default_rng(7)
    base = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
    frames = np.stack([np.roll(base, i, axis=1) for i in range(n)])
    _write(path, frames, codec="libx264", pix_fmt="yuv420p", in_fmt="rgb24",
           options={"g": str(gop), "bf": "2", "crf": "20"})
    return frames


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_samples_decode_as_opencv_did(path):
    clip = open_clip(path)
    assert clip.metadata["codec"] == "ffv1" and clip.metadata["pixel_format"] == "gray"
    np.testing.assert_array_equal(_read_all(clip, 64), _opencv_grey(path, raw_grey=True))


@pytest.mark.parametrize("suffix", [".avi", ".mkv"])
def test_synth_ffv1_reads_back_identical_to_the_rendered_frames(tmp_path, suffix):
    cfg = SynthConfig(width=40, height=32, duration_s=0.05, read_noise_e=5.0)
    render(tmp_path / f"a{suffix}", None, cfg)
    render(tmp_path / f"b{suffix}", None, cfg)
    assert (tmp_path / f"a{suffix}").read_bytes() == (tmp_path / f"b{suffix}").read_bytes()
    expected = synthesize(cfg).frames.astype(np.float32)
    clip = open_clip(tmp_path / f"a{suffix}")
    assert clip.n_frames == len(expected) and clip.metadata["pixel_format"] == "gray"
    frames = _read_all(clip, 7)
    np.testing.assert_array_equal(frames, expected)
    np.testing.assert_array_equal(frames, _opencv_grey(tmp_path / f"a{suffix}", raw_grey=True))


@pytest.mark.parametrize("pix_fmt,fmt", [("gray16be", "nut"), ("gray16le", "matroska"),
                                         ("gray10le", "matroska")])
def test_high_bit_depth_grey_is_read_as_stored(tmp_path, pix_fmt, fmt):
    top = 1023 if pix_fmt == "gray10le" else 65535
    frames = np.random.default_rng(2).integers(0, top + 1, (6, 10, 12), dtype=np.uint16)
    path = tmp_path / "grey.vid"
    _write(path, frames, codec="rawvideo" if fmt == "nut" else "ffv1", pix_fmt=pix_fmt,
           in_fmt=pix_fmt, fmt=fmt)
    clip = open_clip(path, fps=1000)
    assert clip.metadata["dtype"] == "uint16" and clip.metadata["pixel_format"] == pix_fmt
    np.testing.assert_array_equal(_read_all(clip, 4), frames.astype(np.float32))


def test_seeking_lands_on_the_exact_frame_of_h264_with_b_frames(tmp_path):
    path = tmp_path / "c.mp4"
    _h264(path)
    whole = _read_all(open_clip(path, fps=500), 64)
    assert whole.shape == (40, 32, 48)
    for start in (1, 7, 8, 9, 23, 39):
        clip = open_clip(path, fps=500, start=start, n_frames=5)
        np.testing.assert_array_equal(_read_all(clip, 2), whole[start : start + 5])
        np.testing.assert_array_equal(clip.read_frame(0), whole[start])
    # Neighbouring frames differ, so a frame off by one would have failed above.
    assert np.abs(np.diff(whole, axis=0)).max(axis=(1, 2)).min() > 10


def test_colour_h264_grey_matches_opencv_within_one_level(tmp_path):
    path = tmp_path / "c.mp4"
    _h264(path, n=12)
    ours = _read_all(open_clip(path, fps=500))
    assert np.abs(ours - _opencv_grey(path, raw_grey=False)).max() <= 1.0


def test_timestamps_and_metadata(tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, (9, 8, 10), dtype=np.uint8)
    _write(tmp_path / "a.avi", frames, rate=25)
    clip = open_clip(tmp_path / "a.avi", fps=1000)
    meta = clip.metadata
    assert meta == {"format": "avi", "codec": "ffv1", "pixel_format": "gray", "dtype": "uint8",
                    "container_fps": 25.0, "duration_s": pytest.approx(9 / 25),
                    "rotation": 0, "n_frames": 9, "bit_depth": 8, "lossless": True,
                    "segments": [{"first": 0, "frames": 9, "fps": 25.0, "irregular": 0}]}
    np.testing.assert_allclose(clip.timestamps(), np.arange(9) / 25)
    np.testing.assert_allclose(clip[3:7].timestamps(1, 2), [4 / 25, 5 / 25])
    assert open_clip(frames, fps=10).timestamps() is None


def test_matroska_without_a_frame_count_is_counted(tmp_path):
    frames = np.random.default_rng(1).integers(0, 256, (13, 8, 10), dtype=np.uint8)
    _write(tmp_path / "a.mkv", frames)
    with av.open(str(tmp_path / "a.mkv")) as container:
        assert container.streams.video[0].frames == 0  # Matroska stores no count
    clip = open_clip(tmp_path / "a.mkv", fps=100, start=4)
    assert clip.n_frames == 9 and clip.metadata["n_frames"] == 13
    np.testing.assert_array_equal(_read_all(clip, 4), frames[4:].astype(np.float32))


@pytest.mark.skipif(not hasattr(av.video.stream.VideoStream, "set_display_rotation"),
                    reason="this PyAV cannot write a rotation")
def test_rotation_is_applied_as_opencv_does(tmp_path):
    frames = np.random.default_rng(4).integers(0, 256, (3, 8, 12), dtype=np.uint8)
    path = tmp_path / "r.mkv"
    _write(path, frames, rotation=90)
    clip = open_clip(path, fps=100)
    assert clip.metadata["rotation"] == 90 and clip.frame_shape == (12, 8)
    ours = _read_all(clip)
    np.testing.assert_array_equal(ours, np.rot90(frames, 1, axes=(1, 2)).astype(np.float32))
    np.testing.assert_array_equal(ours, _opencv_grey(path, raw_grey=False))


def test_truncated_file_warns_and_stops(tmp_path):
    frames = np.random.default_rng(5).integers(0, 256, (30, 32, 32), dtype=np.uint8)
    path = tmp_path / "t.avi"
    _write(path, frames)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    clip = open_clip(path, fps=100)
    assert clip.n_frames == 30  # what the header announces
    with pytest.warns(UserWarning, match="decoding stopped after .* of the 30 frames"):
        got = _read_all(clip, 8)
    assert 0 < len(got) < 30
    np.testing.assert_array_equal(got, frames[: len(got)].astype(np.float32))
    with pytest.warns(UserWarning, match="decoding stopped"):
        assert _read_all_or_empty(open_clip(path, fps=100, start=28)) == 0


def _read_all_or_empty(clip):
    return sum(len(frames) for _, frames in clip.iter_batches(4))


def test_container_rate_is_the_fallback_and_warns(tmp_path):
    frames = np.zeros((3, 8, 8), dtype=np.uint8)
    _write(tmp_path / "a.avi", frames, rate=24)
    with pytest.warns(UserWarning, match=r"container \(24 fps\)"):
        assert open_clip(tmp_path / "a.avi").capture_fps == 24.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert open_clip(tmp_path / "a.avi", fps=900).fps_source == "argument"


@requires_shared
def test_guitar_h264_matches_opencv_and_seeks_exactly():
    path = SHARED / "real" / "guitar.mp4"
    clip = open_clip(path, fps=600)
    meta = clip.metadata
    assert meta["codec"] == "h264" and meta["container_fps"] == pytest.approx(29.97, abs=0.01)
    ours = _read_all(clip, 32)
    assert ours.shape == (300, 192, 432)
    assert np.abs(ours - _opencv_grey(path, raw_grey=False)).max() <= 1.0
    np.testing.assert_array_equal(_read_all(clip[150:170], 8), ours[150:170])
    stamps = clip.timestamps()
    assert stamps.shape == (300,) and np.all(np.diff(stamps) > 0)
