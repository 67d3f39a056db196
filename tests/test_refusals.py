"""Bad input ends before any work: one `vmic: error:` line, exit 2, inputs untouched, no output.

Every case of the issue on outputs that could hurt inputs, outputs that cannot be written,
absurd capture rates, multi-channel truths and files that are not weights.
"""

import json
import pickle

import numpy as np
import pytest
import soundfile
from conftest import shifted_frames, smooth_texture

from vmic.cli import main

FPS = 2200.0


@pytest.fixture
def folder(tmp_path):
    """A clip (.npy + sidecar), a mono truth, a stereo file and a text file in one folder."""
    n = 220
    d = 0.05 * np.sin(2 * np.pi * 300.0 * np.arange(n) / FPS)
    np.save(tmp_path / "clip.npy", shifted_frames(smooth_texture((32, 32), seed=4), d)
            .astype(np.float32))
    (tmp_path / "clip.json").write_text(json.dumps({"fps": FPS}))
    soundfile.write(str(tmp_path / "truth.wav"), d, int(FPS), subtype="FLOAT")
    soundfile.write(str(tmp_path / "stereo.wav"), np.stack([d, d], axis=1), int(FPS),
                    subtype="FLOAT")
    (tmp_path / "notes.txt").write_text("hello\n")
    return tmp_path


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def refuse(capsys, folder, argv, *words):
    """Run argv; it must refuse in one line naming ``words`` and leave the folder as it was."""
    before = _snapshot(folder)
    try:
        status = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's own refusals leave through exit(2)
        status = exc.code
    assert status == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vmic: error: "), captured.err
    for word in words:
        assert word in lines[0], lines[0]
    assert "Error:" not in lines[0] and "Traceback" not in captured.err
    assert _snapshot(folder) == before  # inputs untouched, nothing written
    return lines[0]


def test_loudness_never_writes_onto_its_clip_or_sidecar(capsys, folder):
    clip = folder / "clip.npy"
    refuse(capsys, folder, ["loudness", clip, "-o", clip], "overwrite the input")
    refuse(capsys, folder, ["loudness", clip, "-o", folder / "clip.json"], "overwrite the input")
    # the same file under another spelling
    (folder / "sub").mkdir()
    refuse(capsys, folder, ["loudness", clip, "-o", folder / "sub" / ".." / "clip.npy"],
           "overwrite the input")
    refuse(capsys, folder, ["loudness", clip, "-o", folder / "t.csv", "--reference",
                            folder / "truth.wav", "--plot", folder / "truth.wav"],
           "overwrite the input")


def test_outputs_never_overwrite_any_input(capsys, folder):
    clip = folder / "clip.npy"
    refuse(capsys, folder, ["recover", clip, "-o", folder / "clip.json"], "overwrite the input")
    refuse(capsys, folder, ["recover", clip, "-o", folder / "truth.wav", "--method", "learned",
                            "--model", folder / "truth.wav"], "overwrite the input")
    refuse(capsys, folder, ["map", clip, "-o", folder / "m.png", "--data", folder / "clip.json"],
           "overwrite the input")
    (folder / "ref.png").write_bytes(b"not a picture")
    refuse(capsys, folder, ["compare", clip, "--reference", folder / "ref.png", "--plot",
                            folder / "ref.png"], "overwrite the input")


def test_synth_outputs_collide_neither_with_each_other_nor_inputs(capsys, folder):
    refuse(capsys, folder, ["synth", folder / "X.avi", "--truth", folder / "X.avi"],
           "same file")
    refuse(capsys, folder, ["synth", folder / "new.npy", "--truth", folder / "truth.wav",
                            "--wav", folder / "truth.wav"], "overwrite the input")
    refuse(capsys, folder, ["synth", folder / "new.npy", "--truth", folder / "new.json"],
           "same file")


@pytest.mark.parametrize("flag", ["-o", "--spectrogram"])
def test_unwritable_outputs_fail_before_the_work(capsys, folder, flag):
    clip = folder / "clip.npy"
    argv = ["recover", clip, "-o", folder / "ok.wav", "--spectrogram", folder / "ok.png"]
    argv[argv.index(flag) + 1] = "/proc/x.wav" if flag == "-o" else "/proc/x.png"
    refuse(capsys, folder, argv, "cannot write in folder /proc")
    argv[argv.index(flag) + 1] = folder / "missing" / "x.png"
    if flag == "-o":
        argv[argv.index(flag) + 1] = folder / "missing" / "x.wav"
    refuse(capsys, folder, argv, "does not exist")
    assert not (folder / "ok.wav").exists()


def test_a_failing_picture_leaves_no_wav(capsys, folder, monkeypatch):
    # A failure after the recovery (here: the picture) must not leave the WAV behind.
    import vmic.io.audio

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(vmic.io.audio, "save_spectrogram", broken)
    assert main(["recover", str(folder / "clip.npy"), "-o", str(folder / "ok.wav"),
                 "--spectrogram", str(folder / "ok.png"), "--quiet"]) == 1
    assert "disk full" in capsys.readouterr().err
    assert not (folder / "ok.wav").exists()
    assert [p.name for p in folder.iterdir() if ".part" in p.name] == []


@pytest.mark.parametrize("fps", ["1e12", "0.999", "0.001", "0", "-5", "nan", "inf", "fast"])
def test_capture_rates_outside_1_to_1e7_are_refused(capsys, folder, fps):
    clip = folder / "clip.npy"
    for argv in (["recover", clip, "-o", folder / "o.wav"], ["map", clip, "-o", folder / "m.png"],
                 ["loudness", clip, "-o", folder / "l.csv"], ["synth", folder / "s.npy"]):
        refuse(capsys, folder, [*argv, "--fps", fps], "--fps")


def test_the_capture_rate_limits_in_the_library():
    from vmic.errors import VmicError
    from vmic.validate import MAX_FPS, MIN_FPS, check_fps, check_sr

    assert check_fps(MIN_FPS) == 1.0 and check_fps("1e7") == MAX_FPS
    for bad in (0.5, 1.1e7, float("nan"), "x", None, True):
        with pytest.raises(VmicError, match="fps"):
            check_fps(bad)
    with pytest.raises(VmicError, match="sr"):
        check_sr(0.2)


def test_a_wav_at_under_1_hz_is_refused(tmp_path):
    from vmic.errors import VmicError
    from vmic.io.audio import write_wav

    with pytest.raises(VmicError, match="sr"):
        write_wav(tmp_path / "x.wav", np.zeros(4), 0.001)
    assert list(tmp_path.iterdir()) == []


def test_score_refuses_a_stereo_file_naming_it(capsys, folder):
    line = refuse(capsys, folder, ["score", folder / "stereo.wav", folder / "truth.wav"],
                  "stereo.wav", "2 channels")
    assert "truth.wav" not in line
    refuse(capsys, folder, ["score", folder / "truth.wav", folder / "stereo.wav"], "2 channels")


def test_a_file_that_is_not_weights_is_a_clear_refusal(capsys, folder):
    pytest.importorskip("torch")
    clip = folder / "clip.npy"
    (folder / "old.pt").write_bytes(pickle.dumps({"a": 1}, protocol=4))
    (folder / "empty.pt").write_bytes(b"")
    for model in ("notes.txt", "old.pt", "empty.pt"):
        line = refuse(capsys, folder, ["recover", clip, "-o", folder / "o.wav", "--method",
                                       "learned", "--model", folder / model],
                      model, "not a weights file")
        assert "KeyError" not in line and "101" not in line
        line = refuse(capsys, folder, ["loudness", clip, "-o", folder / "l.csv", "--method",
                                       "cnn-lstm", "--weights", folder / model],
                      model, "not a weights file")
        assert "warning" not in line


def test_weights_with_code_are_not_loaded(capsys, folder):
    torch = pytest.importorskip("torch")
    torch.save({"config": {}, "state_dict": {}, "extra": np.dtype("float32")},
               folder / "foreign.pt")
    refuse(capsys, folder, ["recover", folder / "clip.npy", "-o", folder / "o.wav", "--method",
                            "learned", "--model", folder / "foreign.pt"], "foreign.pt")


def test_more_absurd_values_are_refused_before_the_work(capsys, folder):
    clip = folder / "clip.npy"
    refuse(capsys, folder, ["synth", folder / "s.npy", "--duration", "1e9"], "--duration")
    refuse(capsys, folder, ["loudness", clip, "-o", folder / "l.csv", "--floor-db", "nan"],
           "--floor-db")
    refuse(capsys, folder, ["loudness", clip, "-o", folder / "l.csv", "--reference",
                            folder / "notes.txt"], "notes.txt")
    refuse(capsys, folder, ["recover", clip, "-o", folder], "is a folder")


def test_loudness_says_where_it_wrote_even_when_quiet(capsys, folder):
    out, plot = folder / "l.csv", folder / "l.png"
    assert main(["loudness", str(folder / "clip.npy"), "-o", str(out), "--rate", "100",
                 "--plot", str(plot), "--quiet"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"vmic: wrote {out} and {plot}"]
    assert out.read_text().startswith("frame,time_s,db") and plot.stat().st_size > 0


def test_no_output_inside_a_folder_of_frames(capsys, tmp_path):
    import cv2

    frames = tmp_path / "frames"
    frames.mkdir()
    texture = smooth_texture((32, 32), seed=5).astype(np.uint8)
    for i in range(4):
        cv2.imwrite(str(frames / f"{i:03d}.png"), texture)
    refuse(capsys, tmp_path, ["map", frames, "--fps", "100", "-o", frames / "map.png"],
           "inside the input folder")
