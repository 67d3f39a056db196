"""Phone video through PyAV: variable-rate segments, Android's capture-rate tag, 10-bit luma at
full depth, rotation in `vmic info`, and timestamps that go backwards."""

import fractions
import json
import warnings
from pathlib import Path

import av
import numpy as np
import pytest

from vmic.cli import main
from vmic.errors import VmicError
from vmic.io.audio import write_wav
from vmic.io.clip import open_clip
from vmic.io.segments import Segment, find_segments

TICKS = 7680  # time base 1/7680 s: holds 30 and 240 fps exactly

pytestmark = pytest.mark.skipif("libx264" not in av.codecs_available,
                                reason="this PyAV build has no H.264 encoder")


def _frame(k, h=8, w=16):
    return np.random.default_rng(k).integers(0, 256, (h, w), dtype=np.uint8)


def _write_timed(path, times, *, metadata=None, rotation=None):
    """Grey frames k at times[k] (s), lossless H.264 in MP4 (the phone's container)."""
    with av.open(str(path), "w", options={"movflags": "use_metadata_tags"}) as container:
        container.metadata.update(metadata or {})
        stream = container.add_stream("libx264", rate=30, options={"qp": "0", "bf": "0"})
        stream.width, stream.height, stream.pix_fmt = 16, 8, "yuv444p"
        stream.time_base = stream.codec_context.time_base = fractions.Fraction(1, TICKS)
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for k, t in enumerate(times):
            frame = av.VideoFrame.from_ndarray(_frame(k), format="gray")
            frame.pts, frame.time_base = round(t * TICKS), fractions.Fraction(1, TICKS)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _slow_motion_times():
    """20 frames at 30 fps, 100 at 240 fps, 20 at 30 fps."""
    slow = 20 / 30 + np.arange(1, 101) / 240
    return np.concatenate([np.arange(20) / 30, slow, slow[-1] + np.arange(1, 21) / 30])


def test_segments_of_a_ramp():
    steps = np.concatenate([np.full(30, 1 / 30), np.linspace(1 / 30, 1 / 240, 12),
                            np.full(200, 1 / 240), np.linspace(1 / 240, 1 / 30, 12),
                            np.full(30, 1 / 30)])
    segments = find_segments(np.concatenate([[0], np.cumsum(steps)]))
    assert [s.fps for s in segments] == [30, None, 240, None, 30]
    assert sum(s.n_frames for s in segments) == len(steps) + 1
    assert segments[2].n_frames >= 200
    jitter = 1 + 0.05 * np.random.default_rng(0).standard_normal(300)
    assert len(find_segments(np.cumsum(jitter / 240))) == 1  # jitter is no new segment
    dropped = np.delete(np.arange(100) / 240, [40, 70])  # two frames missing
    assert find_segments(dropped) == [Segment(0, 98, 240, irregular=2)]
    # a millisecond time base cannot tell 2200 fps from anything: one segment
    assert len(find_segments(np.round(np.arange(300) / 2200, 3), tick_s=1e-3)) == 1


def test_longest_constant_rate_segment_is_read_by_default(tmp_path):
    path = _write_timed(tmp_path / "slomo.mp4", _slow_motion_times())
    with pytest.warns(UserWarning, match="reading segment 1, the longest"):
        clip = open_clip(path, fps=240)
    meta = clip.metadata
    assert meta["segment"] == 1 and [s["fps"] for s in meta["segments"]] == [30, 240, 30]
    first = meta["segment_first_frame"]
    assert 19 <= first <= 21 and clip.n_frames >= 98
    got = np.concatenate([f for _, f in clip.iter_batches(16)])
    expected = np.stack([_frame(first + k) for k in range(clip.n_frames)])
    # the right frames (random ones differ by ~85 levels), within the grey->YUV->BGR rounding
    np.testing.assert_allclose(got, expected, atol=1)
    np.testing.assert_allclose(np.diff(clip.timestamps()), 1 / 240, rtol=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        other = open_clip(path, fps=30, segment=2, start=1)
    np.testing.assert_allclose(other[0], _frame(other.metadata["segment_first_frame"] + 1),
                               atol=1)
    with pytest.raises(VmicError, match="--segment 3: slomo.mp4 holds 3 segments"):
        open_clip(path, fps=30, segment=3)


@pytest.mark.parametrize("command", ["recover", "map", "loudness", "compare"])
def test_every_clip_command_takes_segment(tmp_path, capsys, command):
    path = _write_timed(tmp_path / "slomo.mp4", _slow_motion_times())
    out = tmp_path / ("out.wav" if command == "recover" else "out.png")
    extra = {"recover": ["-o", str(out)], "map": ["-o", str(out)],
             "loudness": ["-o", str(tmp_path / "out.csv")],
             "compare": ["--reference", str(tmp_path / "truth.wav")]}[command]
    write_wav(tmp_path / "truth.wav", np.zeros(200, np.float32), 240)
    assert main([command, str(path), "--fps", "240", "--segment", "3", *extra]) == 2
    err = capsys.readouterr().err
    assert "vmic: error: --segment 3: slomo.mp4 holds 3 segments" in err
    assert not out.exists()


def test_android_capture_fps_tag_is_the_rate(tmp_path):
    path = _write_timed(tmp_path / "a.mp4", np.arange(20) / 30,
                        metadata={"com.android.capture.fps": "240.000000"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no container-rate warning: the phone said
        clip = open_clip(path)
    assert (clip.capture_fps, clip.fps_source) == (240, "metadata")
    assert open_clip(path, fps=120).fps_source == "argument"


@pytest.mark.parametrize("codec", ["ffv1", "libx265"])
def test_ten_bit_yuv_is_read_at_full_depth(tmp_path, codec):
    if codec not in av.codecs_available:
        pytest.skip(f"this PyAV build has no {codec}")
    h, w = 64, 96  # x265's smallest frames
    luma = np.random.default_rng(3).integers(64, 941, (5, h, w)).astype(np.uint16)
    path = tmp_path / ("hdr.mkv" if codec == "ffv1" else "hdr.mp4")
    options = {"x265-params": "log-level=none:lossless=1"} if codec == "libx265" else {}
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=30, options=options)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p10le"
        for y in luma:
            frame = av.VideoFrame(w, h, "yuv420p10le")
            plane = frame.planes[0]
            rows = np.zeros((h, plane.line_size // 2), np.uint16)
            rows[:, :w] = y
            plane.update(rows.tobytes())
            for chroma in frame.planes[1:]:
                chroma.update(np.full(chroma.buffer_size // 2, 512, np.uint16).tobytes())
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    clip = open_clip(path, fps=240)
    assert clip.metadata["bit_depth"] == 10
    assert clip.metadata["lossless"] is (True if codec == "ffv1" else None)
    got = np.concatenate([f for _, f in clip.iter_batches(2)])
    np.testing.assert_array_equal(got, luma.astype(np.float32))  # not cut to 8 bits


def test_timestamps_going_backwards_are_refused(tmp_path, capsys):
    parts = []
    for name in ("a.ts", "b.ts"):  # two recordings, each starting at time 0
        with av.open(str(tmp_path / name), "w", format="mpegts") as container:
            stream = container.add_stream("libx264", rate=30, options={"bf": "0", "qp": "0"})
            stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
            for k in range(10):
                frame = av.VideoFrame.from_ndarray(_frame(k, 16, 16), format="gray")
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        parts.append((tmp_path / name).read_bytes())
    joined = tmp_path / "joined.ts"
    joined.write_bytes(b"".join(parts))
    with pytest.raises(VmicError, match="timestamps go backwards at packet 10"):
        open_clip(joined, fps=240)
    out = tmp_path / "out.wav"
    assert main(["recover", str(joined), "--fps", "240", "-o", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vmic: error: ") and not out.exists()


def test_info_json_keys_and_rotated_roi(tmp_path, capsys):
    path = _write_timed(tmp_path / "r.mp4", np.arange(12) / 30, rotation=90,
                        metadata={"com.android.capture.fps": "960"})
    assert main(["info", str(path), "--json", "--roi", "0,0,8,16"]) == 0
    info = json.loads(capsys.readouterr().out)
    for key in ("frames", "width", "height", "bit_depth", "fps", "fps_source", "duration_s",
                "codec", "lossless", "rotation", "segments"):
        assert key in info
    assert (info["width"], info["height"], info["rotation"]) == (8, 16, 90)
    assert (info["fps"], info["fps_source"], info["frames"]) == (960, "metadata", 12)
    assert info["duration_s"] == pytest.approx(12 / 960) and info["codec"] == "h264"
    assert info["lossless"] is None  # lossless H.264 cannot be told from its profile alone
    # the ROI is in displayed (rotated) coordinates: 16 px wide is outside the 8 px width
    assert main(["info", str(path), "--roi", "0,0,16,8"]) == 2
    assert "outside the 8x16 px frame" in capsys.readouterr().err


def test_info_text_says_lossy_costs_sub_pixel_motion(tmp_path, capsys):
    path = tmp_path / "lossy.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30, options={"crf": "23"})
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        for k in range(5):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(_frame(k, 16, 16),
                                                                   format="gray")))
        container.mux(stream.encode(None))
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "h264 (lossy)" in out and "lossy compression costs sub-pixel motion" in out
    assert "capture rate taken from the container" in out
    assert Path(path).exists()


def test_recover_reads_the_segment_asked_for_or_refuses_in_one_line(tmp_path, capsys):
    path = _write_timed(tmp_path / "slomo.mp4", _slow_motion_times())
    out = tmp_path / "out.wav"
    assert main(["recover", str(path), "--fps", "240", "--segment", "7", "-o", str(out),
                 "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [err[0]] and err[0].startswith("vmic: error: --segment 7: slomo.mp4 holds 3")
    assert not out.exists()
    assert main(["recover", str(path), "--fps", "240", "--segment", "1", "-o", str(out),
                 "--quiet", "--combine", "align"]) == 0
    assert "wrote" in capsys.readouterr().err and out.exists()


def test_info_of_frames_without_a_rate(tmp_path, capsys):
    np.save(tmp_path / "s.npy", np.zeros((4, 6, 5), np.uint16))
    assert main(["info", str(tmp_path / "s.npy"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["frames"], info["width"], info["height"], info["bit_depth"]) == (4, 5, 6, 16)
    assert info["fps"] is None and info["fps_source"] is None and info["duration_s"] is None
    assert main(["info", str(tmp_path / "s.npy"), "--fps", "1000"]) == 0
    assert "1000 fps (from the argument)" in capsys.readouterr().out


def test_dropped_frames_are_reported(tmp_path):
    path = _write_timed(tmp_path / "d.mp4", np.delete(np.arange(60) / 240, [30]))
    with pytest.warns(UserWarning, match="1 frame interval is off the rate of 240 fps"):
        clip = open_clip(path, fps=240)
    assert clip.metadata["segments"] == [{"first": 0, "frames": 59, "fps": 240,
                                          "irregular": 1}]
