"""Frame sources: formats, grey conversion, selection options and the capture rate."""

import json
import warnings

import cv2
import numpy as np
import pytest

from vmic.errors import VmicError
from vmic.io.clip import downsample_area, open_clip, sidecar_path, to_grey


def _stack(n=6, h=20, w=24, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def _read_all(clip, batch=4):
    return np.concatenate([frames for _, frames in clip.iter_batches(batch)])


def test_grey_is_the_channel_mean():
    rgb = _stack()
    np.testing.assert_allclose(to_grey(rgb), rgb.astype(np.float64).mean(axis=-1), rtol=1e-6)


def test_downsample_averages_blocks():
    frames = np.arange(2 * 4 * 6, dtype=np.float32).reshape(2, 4, 6)
    out = downsample_area(frames, 2)
    assert out.shape == (2, 2, 3)
    assert out[0, 0, 0] == np.mean([0, 1, 6, 7])


def test_npy_stack_streams_with_roi_start_and_count(tmp_path):
    rgb = _stack(n=10)
    path = tmp_path / "clip.npy"
    np.save(path, rgb)
    clip = open_clip(path, fps=1000, roi=(2, 3, 12, 8), downsample=2, start=4, n_frames=5)
    assert clip.frame_shape == (4, 6) and clip.n_frames == 5
    frames = _read_all(clip, batch=2)
    expected = downsample_area(to_grey(rgb[4:9, 3:11, 2:14]), 2)
    np.testing.assert_allclose(frames, expected, rtol=1e-6)
    np.testing.assert_allclose(clip.read_frame(2), expected[2], rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_png_and_tiff_folders_keep_8_and_16_bit_values(tmp_path, dtype):
    rng = np.random.default_rng(1)
    top = np.iinfo(dtype).max
    frames = rng.integers(0, top, (5, 16, 18), dtype=dtype)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(frames):
        suffix = ".png" if i % 2 else ".tif"
        assert cv2.imwrite(str(folder / f"f{i:04d}{suffix}"), frame)
    (tmp_path / "frames.json").write_text(json.dumps({"fps": 2200}))
    clip = open_clip(folder)
    assert clip.capture_fps == 2200 and clip.fps_source == "sidecar"
    np.testing.assert_array_equal(_read_all(clip), frames.astype(np.float32))


def test_lossless_video_roundtrip_and_container_rate_warning(tmp_path):
    grey = _stack(n=7)[..., 0]
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), 30, (24, 20),
                             isColor=False)
    for frame in grey:
        writer.write(frame)
    writer.release()
    with pytest.warns(UserWarning, match="playback rate"):
        clip = open_clip(path)
    assert clip.capture_fps == 30 and clip.n_frames == 7
    np.testing.assert_array_equal(_read_all(clip, batch=3), grey.astype(np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert open_clip(path, fps=2200).capture_fps == 2200  # --fps wins, no warning
    sidecar_path(path).write_text(json.dumps({"fps": 1234.5}))
    assert open_clip(path).capture_fps == 1234.5


def test_sidecar_names():
    assert sidecar_path("a/b/clip.avi").as_posix() == "a/b/clip.json"
    assert sidecar_path("a/frames").as_posix() == "a/frames.json"


def test_bad_inputs_raise_one_clear_error(tmp_path):
    np.save(tmp_path / "ok.npy", _stack(n=3)[..., 0])
    with pytest.raises(VmicError, match="no such file"):
        open_clip(tmp_path / "missing.avi", fps=100)
    garbage = tmp_path / "garbage.avi"
    garbage.write_bytes(b"not a video at all" * 10)
    with pytest.raises(VmicError, match="cannot open video|no decodable"):
        open_clip(garbage, fps=100)
    with pytest.raises(VmicError, match="outside"):
        open_clip(tmp_path / "ok.npy", fps=100, roi=(10, 10, 20, 20))
    with pytest.raises(VmicError, match="capture rate unknown"):
        open_clip(tmp_path / "ok.npy")
    for absurd in (-5, 0.5, 1e12, float("nan")):
        with pytest.raises(VmicError, match="fps must be a"):
            open_clip(tmp_path / "ok.npy", fps=absurd)
    (tmp_path / "ok.json").write_text('{"fps": 1e9}')
    with pytest.raises(VmicError, match=r"ok\.json: fps must be a capture rate between 1 and"):
        open_clip(tmp_path / "ok.npy")
    (tmp_path / "ok.json").write_text("{not json")
    with pytest.raises(VmicError, match="sidecar"):
        open_clip(tmp_path / "ok.npy")
    (tmp_path / "ok.json").write_text(json.dumps({"fps": 0}))
    with pytest.raises(VmicError, match="capture rate between"):
        open_clip(tmp_path / "ok.npy")
    with pytest.raises(VmicError, match="past the clip"):
        open_clip(tmp_path / "ok.npy", fps=10, start=3)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(VmicError, match="no PNG or TIFF"):
        open_clip(empty, fps=10)
    np.save(tmp_path / "bad.npy", np.zeros((4, 5)))
    with pytest.raises(VmicError, match="shape"):
        open_clip(tmp_path / "bad.npy", fps=10)


def test_prefetch_keeps_order_raises_errors_and_stops_early():
    import threading

    from vmic.io.prefetch import prefetch

    assert list(prefetch(iter(range(50)), depth=3)) == list(range(50))

    def failing():
        yield 1
        raise ValueError("broken frame")

    with pytest.raises(ValueError, match="broken frame"):
        list(prefetch(failing()))
    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    for item in prefetch(endless(), depth=2):
        if item == 5:
            break
    count = len(produced)
    assert not any(t.name == "vmic-prefetch" and t.is_alive() for t in threading.enumerate())
    assert len(produced) == count  # the producer stopped


def test_npy_reads_match_with_colour_channels_and_odd_batches(tmp_path):
    rgb = _stack(n=11, h=9, w=7)
    np.save(tmp_path / "c.npy", rgb)
    np.save(tmp_path / "g1.npy", rgb[..., :1])
    clip = open_clip(tmp_path / "c.npy", fps=10, start=2, n_frames=8)
    np.testing.assert_allclose(_read_all(clip, batch=3), to_grey(rgb[2:10]), rtol=1e-6)
    single = open_clip(tmp_path / "g1.npy", fps=10)
    np.testing.assert_array_equal(_read_all(single, batch=4), rgb[..., 0].astype(np.float32))


def _write_ffv1(path, frames, is_color, depth=None):
    params = [cv2.VIDEOWRITER_PROP_IS_COLOR, int(is_color)]
    if depth is not None:
        params += [cv2.VIDEOWRITER_PROP_DEPTH, depth]
    h, w = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"FFV1"), 30,
                             (w, h), params)
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()


@pytest.mark.parametrize("dtype,depth", [(np.uint8, None), (np.uint16, cv2.CV_16U)])
def test_grey_video_is_read_as_stored_8_and_16_bit(tmp_path, dtype, depth):
    # Read as 8-bit colour, a 16-bit file would lose its low byte (the sub-pixel motion).
    top = np.iinfo(dtype).max
    frames = np.random.default_rng(3).integers(0, top, (5, 16, 24), dtype=dtype)
    path = tmp_path / "grey.mkv"
    _write_ffv1(path, frames, is_color=False, depth=depth)
    clip = open_clip(path, fps=1000)
    assert clip._reader.raw_grey
    np.testing.assert_array_equal(_read_all(clip, batch=2), frames.astype(np.float32))
    np.testing.assert_array_equal(clip.read_frame(3), frames[3].astype(np.float32))


def test_colour_video_still_gives_the_channel_mean(tmp_path):
    frames = _stack(n=4, h=16, w=24)
    path = tmp_path / "colour.avi"
    _write_ffv1(path, frames, is_color=True)
    clip = open_clip(path, fps=1000)
    assert not clip._reader.raw_grey
    np.testing.assert_allclose(_read_all(clip), to_grey(frames), rtol=1e-6)


def test_mean_frame_averages_and_stops_at_the_end():
    frames = np.random.default_rng(4).random((10, 6, 8)).astype(np.float32)
    clip = open_clip(frames, fps=100.0)
    np.testing.assert_allclose(clip.mean_frame(2, 4), frames[2:6].mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(clip.mean_frame(7, 32), frames[7:].mean(axis=0), rtol=1e-6)
    np.testing.assert_array_equal(clip.mean_frame(5, 1), frames[5])
    with pytest.raises(VmicError, match="outside"):
        clip.mean_frame(10, 2)
