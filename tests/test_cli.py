"""The command line end to end, and every bad input: one line, non-zero exit, no file."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile
from conftest import run_python, shifted_frames, smooth_texture

from vmic.cli import main


@pytest.fixture
def clip_npy(tmp_path):
    fps, n = 2200.0, 330
    d = 0.05 * np.sin(2 * np.pi * 300.0 * np.arange(n) / fps)
    frames = shifted_frames(smooth_texture((40, 48), seed=2), d).astype(np.float32)
    path = tmp_path / "clip.npy"
    np.save(path, frames)
    (tmp_path / "clip.json").write_text(json.dumps({"fps": fps}))
    return path


def run_cli(*args, cwd=None, warnings="ignore"):
    env = dict(os.environ, PYTHONWARNINGS=warnings)
    return subprocess.run([sys.executable, "-m", "vmic", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=300)


def _notes(stderr: str) -> list[str]:
    """stderr's lines other than the final "vmic: wrote ..." line (which --quiet keeps)."""
    return [line for line in stderr.strip().splitlines() if not line.startswith("vmic: wrote ")]


def test_recover_end_to_end_in_a_subprocess(clip_npy, tmp_path):
    out = tmp_path / "out.wav"
    spec = tmp_path / "spec.png"
    signals = tmp_path / "signals.npz"
    done = run_cli("recover", clip_npy, "-o", out, "--spectrogram", spec, "--signals", signals,
                   "--scales", 2, "--orientations", 4)
    assert done.returncode == 0, done.stderr
    audio, rate = soundfile.read(out)
    assert rate == 2200 and audio.shape == (330,)
    assert np.abs(audio).max() == pytest.approx(1.0, abs=1e-6)
    assert spec.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with np.load(signals) as saved:
        assert saved["band_signals"].shape == (2, 4, 330)
    assert "recover" in done.stderr  # progress bar on stderr
    quiet = run_cli("recover", clip_npy, "-o", out, "--quiet")
    # --quiet silences progress, not the line that says what was written
    assert quiet.returncode == 0 and quiet.stderr.splitlines() == [quiet.stderr.strip()]
    assert quiet.stderr.startswith(f"vmic: wrote {out}:")
    assert [p.name for p in tmp_path.iterdir() if ".part" in p.name] == []


def test_console_entry_exits_with_mains_status_and_flushes_its_output():
    # run() leaves through os._exit (no interpreter teardown): buffered output must still
    # arrive in full, and the exit status must be main()'s.
    code = ("import sys, vmic.cli as cli\n"
            "def fake_main():\n"
            "    print('x' * 100000)\n"
            "    print('last words', file=sys.stderr)\n"
            "    return 3\n"
            "cli.main = fake_main\n"
            "cli.run()\n"
            "print('not reached')\n")
    done = run_python(code, timeout=60)
    assert done.returncode == 3
    assert done.stdout == "x" * 100000 + "\n"
    assert done.stderr == "last words\n"


def test_python_dash_m_and_help():
    done = run_cli("--help")
    assert done.returncode == 0 and "recover" in done.stdout


def _expect_error(capsys, argv, pattern, out=None):
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code != 0
    assert len(lines) == 1, err
    assert lines[0].startswith("vmic: error:")
    assert pattern in lines[0], lines[0]
    assert "Traceback" not in err
    if out is not None:
        assert not out.exists()
        assert [p.name for p in out.parent.iterdir() if ".part" in p.name] == []


def test_bad_inputs(capsys, tmp_path, clip_npy):
    out = tmp_path / "o.wav"
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00garbage" * 50)
    np.save(tmp_path / "zero.npy", np.zeros((0, 32, 32), np.float32))
    np.save(tmp_path / "one.npy", np.random.default_rng(0).random((1, 32, 32)))
    np.save(tmp_path / "flat.npy", np.full((5, 32, 32), 7.0))
    cases = [
        (["recover", tmp_path / "missing.avi", "-o", out, "--fps", 100], "no such file"),
        (["recover", garbage, "-o", out, "--fps", 100], "garbage.mp4"),
        (["recover", tmp_path / "zero.npy", "-o", out, "--fps", 100], "no frames"),
        (["recover", tmp_path / "one.npy", "-o", out, "--fps", 100], "at least 2 frames"),
        (["recover", tmp_path / "flat.npy", "-o", out, "--fps", 100], "featureless"),
        (["recover", clip_npy, "-o", out, "--roi", "30,30,40,40"], "outside"),
        (["recover", clip_npy, "-o", out, "--scales", 9], "too many"),
        (["recover", clip_npy, "-o", out, "--highpass", 5000], "Nyquist"),
        (["recover", clip_npy, "-o", tmp_path / "nodir" / "o.wav"], "folder does not exist"),
        (["recover", clip_npy, "-o", tmp_path / "o.mp3"], "must end in .wav"),
        (["recover", clip_npy, "-o", out, "--reference-frame", 5000], "outside the clip"),
    ]
    for argv, pattern in cases:
        _expect_error(capsys, argv, pattern, out)


@pytest.mark.parametrize("fps", ["0", "-3", "abc", "nan", "inf"])
def test_bad_fps_is_one_usage_line(capsys, clip_npy, tmp_path, fps):
    with pytest.raises(SystemExit) as exit_info:
        main(["recover", str(clip_npy), "-o", str(tmp_path / "o.wav"), "--fps", fps])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--fps" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1  # one line, not argparse's usage block
    assert not (tmp_path / "o.wav").exists()


def test_interrupted_write_leaves_no_file(tmp_path, monkeypatch):
    from scipy.io import wavfile

    from vmic.io.audio import write_wav

    def explode(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(wavfile, "write", explode)
    with pytest.raises(KeyboardInterrupt):
        write_wav(tmp_path / "x.wav", np.zeros(10), 100)
    assert list(tmp_path.iterdir()) == []


def test_input_is_never_written(clip_npy, tmp_path):
    before = clip_npy.read_bytes()
    assert main(["recover", str(clip_npy), "-o", str(tmp_path / "o.wav"), "--quiet"]) == 0
    assert clip_npy.read_bytes() == before
    assert main(["recover", str(clip_npy), "-o", str(clip_npy), "--quiet"]) != 0


@pytest.mark.parametrize("method", ["spectral-subtraction", "wiener", "gate"])
def test_denoise_and_bandpass_keep_length_and_rate(clip_npy, tmp_path, method):
    out = tmp_path / "d.wav"
    assert main(["recover", str(clip_npy), "-o", str(out), "--quiet", "--denoise", method,
                 "--bandpass", "100,900"]) == 0
    info = soundfile.info(str(out))
    assert info.samplerate == 2200 and info.frames == 330
    audio, _ = soundfile.read(out)
    assert np.isfinite(audio).all() and np.abs(audio).max() == pytest.approx(1.0, abs=1e-6)


def test_bad_band_is_one_line(capsys, clip_npy, tmp_path):
    _expect_error(capsys, ["recover", clip_npy, "-o", tmp_path / "o.wav", "--bandpass", "9,3"],
                  "LO < HI", tmp_path / "o.wav")
    _expect_error(capsys, ["recover", clip_npy, "-o", tmp_path / "o.wav", "--bandpass",
                           "100,5000"], "Nyquist", tmp_path / "o.wav")


def test_no_signal_falls_back_to_align_and_a_clear_one_does_not(clip_npy, tmp_path, capsys):
    import soundfile as sf

    rng = np.random.default_rng(5)
    still = smooth_texture((64, 64), seed=4)[None] + rng.normal(0, 3.0, (600, 64, 64))
    path = tmp_path / "still.npy"
    np.save(path, still.astype(np.float32))
    args = ["recover", str(path), "--fps", "2200", "--quiet", "-o"]
    assert main(args + [str(tmp_path / "s.wav")]) == 0  # the default, auto
    err = _notes(capsys.readouterr().err)
    assert len(err) == 1 and "no motion signal detected" in err[0] and "align's output" in err[0]
    assert main(args + [str(tmp_path / "a.wav"), "--combine", "align"]) == 0
    capsys.readouterr()
    np.testing.assert_array_equal(sf.read(str(tmp_path / "s.wav"))[0],
                                  sf.read(str(tmp_path / "a.wav"))[0])
    assert main(args + [str(tmp_path / "l.wav"), "--combine", "local"]) == 0
    err = capsys.readouterr().err
    assert "no motion signal detected" in err and "likely noise" in err
    assert not np.array_equal(sf.read(str(tmp_path / "l.wav"))[0],
                              sf.read(str(tmp_path / "a.wav"))[0])
    assert main(["recover", str(clip_npy), "-o", str(tmp_path / "c.wav"), "--quiet"]) == 0
    assert _notes(capsys.readouterr().err) == []


def test_a_perfectly_still_clip_gets_one_warning_line(tmp_path):
    # Identical 8-bit frames: every flow signal is zero; no numpy warning may leak out.
    texture = np.round(smooth_texture((64, 64), seed=3) * 40 + 100).astype(np.uint8)
    path = tmp_path / "static.npy"
    np.save(path, np.repeat(texture[None], 300, axis=0))
    out = tmp_path / "o.wav"
    done = run_cli("recover", path, "--fps", 2200, "-o", out, "--quiet")
    assert done.returncode == 0 and out.exists()
    lines = _notes(done.stderr)
    assert len(lines) == 1 and lines[0].startswith("vmic: warning: no motion signal detected")


def _textured_ffv1(path, n_frames=40, shape=(40, 48)):
    import cv2

    rng = np.random.default_rng(4)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), 30,
                             (shape[1], shape[0]), isColor=False)
    for _ in range(n_frames):
        writer.write((rng.random(shape) * 255).astype(np.uint8))
    writer.release()
    return path.read_bytes()


def test_a_damaged_video_is_one_line_without_ffmpeg_messages(tmp_path):
    whole = _textured_ffv1(tmp_path / "whole.avi")
    header_only = tmp_path / "header_only.avi"
    header_only.write_bytes(whole[:6000])  # the container's header and a broken first frame
    out = tmp_path / "o.wav"
    done = run_cli("recover", header_only, "--fps", 2200, "-o", out, "--quiet")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"vmic: error: {header_only}: video holds no decodable frames"]
    assert not out.exists()


def test_a_truncated_video_warns_that_it_ended_early(tmp_path):
    whole = _textured_ffv1(tmp_path / "whole.avi")
    half = tmp_path / "half.avi"
    half.write_bytes(whole[: len(whole) // 2])
    out = tmp_path / "o.wav"
    done = run_cli("recover", half, "--fps", 2200, "-o", out, "--quiet", warnings="default")
    assert done.returncode == 0, done.stderr
    lines = _notes(done.stderr)
    assert len(lines) == 1 and lines[0].startswith("vmic: warning: half.avi: decoding stopped")
    decoded = int(lines[0].split("stopped after ")[1].split()[0])
    assert 2 <= decoded < 40 and "of the 40 frames" in lines[0]
    audio, rate = soundfile.read(out)
    assert audio.shape == (decoded,) and rate == 2200


@pytest.mark.parametrize("command", ["recover", "synth", "score", "demo", "map", "compare",
                                     "train", "loudness"])
def test_help_states_each_default_once_in_plain_words(command, capsys):
    import re

    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    options = re.split(r"\n  (?=-)", text.split("options:", 1)[1])
    for option in options:
        assert len(re.findall(r"\bdefault\b", option)) <= 1, option
        assert "None" not in option, option
    assert "``" not in text and ":func:" not in text  # no raw markup
