"""The Clip API: len, slicing, indexing, refusals of bad sources and non-finite frames."""

import cv2
import numpy as np
import pytest

from vmic.errors import VmicError
from vmic.io.clip import open_clip


def _frames(n=20, h=6, w=8, seed=0):
    return np.random.default_rng(seed).random((n, h, w)).astype(np.float32) * 200


def _read_all(clip, batch=4):
    return np.concatenate([frames for _, frames in clip.iter_batches(batch)])


def test_len_slices_and_slices_of_slices():
    frames = _frames()
    clip = open_clip(frames, fps=1000.0, start=2)
    assert len(clip) == 18
    part = clip[3:10]
    assert len(part) == 7 and part.start == 5 and part.capture_fps == 1000.0
    np.testing.assert_array_equal(_read_all(part, 3), frames[5:12])
    inner = part[2:]
    assert len(inner) == 5 and inner.start == 7
    np.testing.assert_array_equal(_read_all(inner), frames[7:12])
    np.testing.assert_array_equal(inner[0], frames[7])
    np.testing.assert_array_equal(clip[-1], frames[-1])
    np.testing.assert_array_equal(_read_all(clip[-4:]), frames[-4:])
    np.testing.assert_array_equal(_read_all(clip[:100]), frames[2:])  # clamped, as lists do


def test_slices_keep_roi_and_downsampling(tmp_path):
    frames = np.random.default_rng(1).integers(0, 256, (12, 8, 10, 3), dtype=np.uint8)
    np.save(tmp_path / "c.npy", frames)
    clip = open_clip(tmp_path / "c.npy", fps=500, roi=(2, 0, 8, 6), downsample=2)
    part = clip[4:9]
    assert part.roi == clip.roi and part.downsample == 2 and part.frame_shape == (3, 4)
    np.testing.assert_array_equal(_read_all(part), _read_all(clip)[4:9])


def test_bad_slices_and_keys_are_refused():
    clip = open_clip(_frames(), fps=100.0)
    with pytest.raises(VmicError, match="step 1"):
        clip[::2]
    with pytest.raises(VmicError, match="holds no frames"):
        clip[5:5]
    with pytest.raises(VmicError, match="outside the clip's 20 frames"):
        clip[20]
    with pytest.raises(VmicError, match="outside"):
        clip[-21]
    with pytest.raises(VmicError, match="integer or a slice"):
        clip[1.5]


@pytest.mark.parametrize("source,message", [
    ([np.zeros((4, 4))] * 3, "path or a NumPy array.*np.stack"),
    (42, "path or a NumPy array of frames, got int"),
    (None, "path or a NumPy array of frames, got NoneType"),
    (np.zeros((3, 4, 5), dtype=bool), "booleans"),
    (np.zeros((4, 5)), r"shape \(T, H, W\)"),
    (np.zeros((2, 3, 4, 5, 6)), r"shape \(T, H, W\)"),
    (np.zeros((3, 4, 5, 2)), "C = 1, 3 or 4"),
    (np.zeros((0, 4, 5)), "holds no frames"),
    (np.zeros((3, 0, 5)), "no pixels"),
    (np.zeros((3, 4, 5), dtype=complex), "unsupported dtype"),
])
def test_bad_sources_are_refused(source, message):
    with pytest.raises(VmicError, match=message):
        open_clip(source, fps=100.0)


def test_non_finite_frames_are_named():
    frames = _frames(n=60)
    frames[12:41, 2, 3] = np.nan
    frames[50] = np.inf
    clip = open_clip(frames, fps=100.0)
    with pytest.raises(VmicError, match="frames 12-40, 50 hold NaN or inf values$"):
        _read_all(clip, 64)
    # The run is named whole although it crosses batches; later runs are not looked for.
    with pytest.raises(VmicError, match=r"frames 12-40 hold NaN or inf values \(later frames"):
        _read_all(clip, 8)
    with pytest.raises(VmicError, match="frame 20 holds NaN"):
        clip.read_frame(20)
    with pytest.raises(VmicError, match="frame 30 holds"):
        clip[30]
    with pytest.raises(VmicError, match="NaN or inf"):
        clip.mean_frame(5, 10)
    np.testing.assert_array_equal(clip.read_frame(5), frames[5])
    np.testing.assert_array_equal(_read_all(clip[:12]), frames[:12])
    with pytest.raises(VmicError, match=r"frames 30-40 of the source \(0-10 of the clip\)"):
        _read_all(clip[30:45], 4)
    # Outside the ROI, NaN does not matter.
    frames[:, 2, 3] = np.nan
    frames[50] = 0
    roi_clip = open_clip(frames, fps=100.0, roi=(4, 0, 4, 6))
    assert np.isfinite(_read_all(roi_clip)).all()


def test_non_finite_frames_in_npy_and_float_tiff(tmp_path):
    frames = _frames(n=6)
    frames[4, 0, 0] = -np.inf
    np.save(tmp_path / "f.npy", frames)
    with pytest.raises(VmicError, match="frame 4 holds NaN or inf"):
        _read_all(open_clip(tmp_path / "f.npy", fps=100.0))
    folder = tmp_path / "tiffs"
    folder.mkdir()
    frames[4, 0, 0] = np.nan
    for i, frame in enumerate(frames):
        assert cv2.imwrite(str(folder / f"f{i}.tif"), frame)
    with pytest.raises(VmicError, match="frame 4 holds NaN or inf"):
        _read_all(open_clip(folder, fps=100.0))
    # float64 values beyond float32's range would become inf: refused as well
    big = _frames(n=3).astype(np.float64)
    big[1, 0, 0] = 1e300
    with pytest.raises(VmicError, match="frame 1 holds"):
        _read_all(open_clip(big, fps=100.0))


def test_recovery_refuses_nan_frames():
    from vmic.recovery import recover

    frames = _frames(n=64, h=32, w=32)
    frames[20:30] = np.nan
    with pytest.raises(VmicError, match="frames 20-29 hold NaN or inf"):
        recover(frames, fps=1000.0)


def test_grey_roi_three_or_four_px_wide_is_not_read_as_colour():
    frames = _frames(n=5, h=6, w=8)
    for width in (3, 4):
        clip = open_clip(frames, fps=100.0, roi=(1, 0, width, 6))
        assert clip.frame_shape == (6, width)
        np.testing.assert_array_equal(_read_all(clip), frames[:, :, 1 : 1 + width])


def test_a_video_at_a_url_reads_as_the_local_file(tmp_path):
    from pathlib import Path

    import fsspec

    from vmic.recovery import recover

    sample = Path(__file__).resolve().parents[1] / "samples" / "speech_membrane.avi"
    if not sample.is_file():
        pytest.skip("no shipped samples")
    memory = fsspec.filesystem("memory")
    memory.pipe("/vmic-test/clip.avi", sample.read_bytes())
    memory.pipe("/vmic-test/clip.json", sample.with_suffix(".json").read_bytes())
    remote = recover("memory://vmic-test/clip.avi")
    assert remote.info.fps_source == "sidecar"  # found beside it, at the URL
    np.testing.assert_array_equal(remote.audio, recover(sample).audio)
    with pytest.raises(VmicError, match="only videos are read from a URL"):
        open_clip("memory://vmic-test/clip.cine")
    with pytest.raises(VmicError, match="no such file"):
        open_clip("memory://vmic-test/none.avi")
