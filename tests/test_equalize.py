"""The object's response: its estimate, the calibration JSON, the equaliser, the commands."""

import json
import warnings

import numpy as np
import pytest
import scipy.signal
import soundfile

import vmic
from vmic import metrics
from vmic.calibration import calibrate, estimate_response, find_lag
from vmic.cli import main
from vmic.equalize import equalize, equalizer_gain
from vmic.errors import VmicError
from vmic.response import Lag, load_response
from vmic.synth import SynthConfig, render, sources, synthesize, true_response

FPS = 2200.0
MODES = [(180.0, 8.0, 1.0), (420.0, 15.0, 1.0), (760.0, 6.0, 1.0)]


def _object(x, noise=1e-3, lag=0, sign=1.0, seed=0):
    # Played sound through three modes, delayed by `lag` samples, plus white noise.
    y = sign * sources.modal_response(x, FPS, MODES)
    y = np.concatenate([np.zeros(lag), y[:y.size - lag]])
    return y + noise * np.random.default_rng(seed).standard_normal(y.size)


@pytest.fixture(scope="module")
def played():
    return sources.white(4400, np.random.default_rng(1))


def test_h1_estimate_finds_the_lag_and_the_modes(played):
    y = _object(played, lag=7)
    response = estimate_response(played, y, FPS)
    # The delay, plus the modes' own: their impulse response peaks a sample or two later.
    assert 7 <= response.lag.samples <= 9 and response.polarity == 1
    f = response.frequencies_hz
    band = response.valid_mask()
    assert band[(f > 30) & (f < 1000)].all()
    true = np.abs(sources.modal_frequency_response(f, FPS, MODES))
    error_db = 20 * np.log10(response.magnitude[band] / true[band])
    assert np.median(np.abs(error_db)) < 0.5
    peak = f[np.argmax(response.magnitude * (f < 300))]
    assert abs(peak - 180.0) < 10.0


def test_unrelated_sound_is_refused(played):
    other = np.random.default_rng(5).standard_normal(played.size)
    with pytest.raises(VmicError, match="no lag gives a significant correlation"):
        find_lag(played, other, FPS)


def test_no_valid_band_is_refused(played):
    noise = np.random.default_rng(6).standard_normal(played.size)
    with pytest.raises(VmicError, match="no valid band"):
        estimate_response(played, noise, FPS, lag=Lag(0, 0.0, 0.5, 10.0))


def test_equalising_inverts_the_object(played):
    response = estimate_response(played, _object(played, sign=-1.0), FPS)
    assert response.polarity == -1
    test = sources.speech(4400, FPS, np.random.default_rng(3))
    heard = _object(test, sign=-1.0, seed=4)
    plain = metrics.snr_db(heard, test, FPS)
    equalised = equalize(heard, FPS, response)
    assert metrics.snr_db(equalised, test, FPS) > plain + 10
    # The recovery's sign is undone inside and outside the band alike (no flip at its edges).
    assert metrics.score(equalised, test, FPS)["gain"] > 0


def test_gain_is_bounded_and_unity_outside_the_band(played):
    response = estimate_response(played, _object(played), FPS)
    for bound in (6.0, 20.0):
        gain = equalizer_gain(response, max_gain_db=bound)
        assert np.abs(gain).max() <= 10 ** (bound / 20) + 1e-9
    outside = ~response.valid_mask()
    assert outside.any()
    np.testing.assert_allclose(gain[outside], 1.0)
    with pytest.raises(VmicError, match="equalize_max_gain_db"):
        equalizer_gain(response, max_gain_db=-1.0)


def test_json_round_trip_and_refusals(tmp_path, played):
    response = estimate_response(played, _object(played), FPS,
                                 recovery={"combine": "auto", "scales": 3})
    path = tmp_path / "object.json"
    response.save(path)
    back = load_response(path)
    np.testing.assert_allclose(back.magnitude, response.magnitude, rtol=1e-7)
    np.testing.assert_allclose(back.phase_rad, response.phase_rad, atol=1e-6)
    assert back.valid_band_hz == response.valid_band_hz and back.rate_hz == FPS
    assert json.loads(path.read_text())["vmic_version"] == vmic.__version__
    x = _object(played)
    np.testing.assert_allclose(equalize(x, FPS, path), equalize(x, FPS, response), atol=1e-6)
    with pytest.raises(VmicError, match="calibration was made at 2200 fps"):
        equalize(x, 4400.0, response)
    data = json.loads(path.read_text())
    data["magnitude"] = data["magnitude"][:-1]
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(VmicError, match="malformed"):
        load_response(tmp_path / "bad.json")
    (tmp_path / "text.json").write_text("{not json")
    with pytest.raises(VmicError, match="malformed"):
        load_response(tmp_path / "text.json")


def test_one_mode_of_gain_one_is_the_resonance(played):
    moved, scale = sources.resonate_modes(played, FPS, [(300.0, 20.0, 1.0)])
    assert np.array_equal(moved, sources.resonate(played, FPS, 300.0, 20.0))
    assert scale > 0


def test_synth_sidecar_holds_the_true_response():
    cfg = SynthConfig(duration_s=2.0, height=16, width=16, source="white",
                      resonance_hz=(200.0, 600.0), resonance_q=(10.0, 5.0),
                      resonance_gain=(1.0, -0.5))
    clip = synthesize(cfg)
    f, pxy = scipy.signal.csd(clip.played, clip.truth, fs=FPS, nperseg=512)
    _, pxx = scipy.signal.welch(clip.played, fs=FPS, nperseg=512)
    true = true_response(clip.sidecar, f)
    keep = (f > 20) & (f < 1000)
    error = np.abs(pxy[keep] / pxx[keep] - true[keep]) / np.abs(true[keep])
    assert np.median(error) < 0.05
    assert [m["hz"] for m in clip.sidecar["response"]["modes"]] == [200.0, 600.0]
    with pytest.raises(VmicError, match="--resonance-gain"):
        synthesize(SynthConfig(duration_s=0.1, height=16, width=16, resonance_hz=(200.0, 600.0),
                               resonance_gain=(1.0,)))


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """A three-mode object: a 1 s white-noise calibration clip and a 1 s chord clip."""
    folder = tmp_path_factory.mktemp("object")
    common = dict(duration_s=1.0, height=32, width=32, amplitude_px=0.1, seed=2,
                  resonance_hz=(180.0, 420.0), resonance_q=(8.0, 15.0))
    render(folder / "cal.npy", folder / "cal_truth.wav", SynthConfig(source="white", **common),
           played_path=folder / "white.wav")
    render(folder / "test.npy", folder / "test_truth.wav", SynthConfig(source="tones", **common),
           played_path=folder / "chord.wav")
    return folder


def test_calibrate_then_recover_equalised(capsys, scene, tmp_path):
    obj, plot = tmp_path / "object.json", tmp_path / "object.png"
    assert main(["calibrate", str(scene / "cal.npy"), "--played", str(scene / "white.wav"),
                 "-o", str(obj), "--plot", str(plot), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "lag" in err and "valid band" in err
    data = json.loads(obj.read_text())
    assert data["recovery"]["method"] in ("local", "align") and data["rate_hz"] == FPS
    assert plot.stat().st_size > 0
    plain, equalised = tmp_path / "plain.wav", tmp_path / "eq.wav"
    assert main(["recover", str(scene / "test.npy"), "-o", str(plain), "--quiet"]) == 0
    assert main(["recover", str(scene / "test.npy"), "-o", str(equalised), "--equalize",
                 str(obj), "--quiet"]) == 0
    chord, _ = soundfile.read(str(scene / "chord.wav"))
    scores = [metrics.snr_db(soundfile.read(str(p))[0], chord, FPS) for p in (plain, equalised)]
    assert scores[1] > scores[0] + 6


def test_recover_warns_on_other_settings(scene, tmp_path):
    frames = np.load(scene / "cal.npy")
    played, _ = soundfile.read(str(scene / "white.wav"))
    response = calibrate(frames, played, fps=FPS)
    with pytest.warns(UserWarning, match="scales: calibration"):
        vmic.recover(np.load(scene / "test.npy"), fps=FPS, scales=1, equalize=response)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        vmic.recover(np.load(scene / "test.npy"), fps=FPS, equalize=response)


def _refuse(capsys, folder, argv, *words):
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    try:
        status = main([str(a) for a in argv])
    except SystemExit as exc:
        status = exc.code
    assert status == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vmic: error: "), lines
    for word in words:
        assert word in lines[0], lines[0]
    after = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    assert after == before


def test_bad_input_is_refused(capsys, scene, tmp_path):
    clip, out = scene / "cal.npy", tmp_path / "object.json"
    (tmp_path / "notes.txt").write_text("hello\n")
    soundfile.write(str(tmp_path / "silent.wav"), np.zeros(2200), 2200)
    white, _ = soundfile.read(str(scene / "white.wav"))
    soundfile.write(str(tmp_path / "short.wav"), white[:900], 2200)
    calibrate = ["calibrate", clip, "-o", out, "--quiet", "--played"]
    _refuse(capsys, tmp_path, [*calibrate, tmp_path / "notes.txt"], "cannot read audio")
    _refuse(capsys, tmp_path, [*calibrate, tmp_path / "silent.wav"], "silent")
    _refuse(capsys, tmp_path, [*calibrate, tmp_path / "short.wav"], "less than half")
    unrelated = np.random.default_rng(9).standard_normal(2200)
    soundfile.write(str(tmp_path / "other.wav"), unrelated / 5, 2200)
    _refuse(capsys, tmp_path, [*calibrate, tmp_path / "other.wav"], "significant correlation")
    # A calibration with no valid band, a malformed one, one at another rate.
    response = estimate_response(white, white, FPS)
    data = response.to_dict()
    for name, change in (("noband.json", {"valid_band_hz": []}),
                         ("malformed.json", {"coherence": [2.0] * len(data["coherence"])}),
                         ("rate.json", {"rate_hz": 4400.0})):
        (tmp_path / name).write_text(json.dumps({**data, **change}))
    recover = ["recover", scene / "test.npy", "-o", tmp_path / "eq.wav", "--quiet",
               "--equalize"]
    _refuse(capsys, tmp_path, [*recover, tmp_path / "noband.json"], "no valid band")
    _refuse(capsys, tmp_path, [*recover, tmp_path / "malformed.json"], "malformed")
    _refuse(capsys, tmp_path, [*recover, tmp_path / "rate.json"], "4400 fps")
    _refuse(capsys, tmp_path, [*recover, tmp_path / "notes.txt"], "malformed")


def test_stereo_played_is_mixed_with_a_warning(capsys, scene, tmp_path):
    white, _ = soundfile.read(str(scene / "white.wav"))
    soundfile.write(str(tmp_path / "stereo.wav"), np.stack([white, white], axis=1), 44100 // 20)
    assert main(["calibrate", str(scene / "cal.npy"), "--played", str(tmp_path / "stereo.wav"),
                 "-o", str(tmp_path / "o.json"), "--quiet"]) == 0
    assert "vmic: warning: the played file stereo.wav has 2 channels" in capsys.readouterr().err


def test_synth_command_takes_several_modes_and_writes_the_played_sound(capsys, tmp_path):
    out, played = tmp_path / "c.npy", tmp_path / "played.wav"
    assert main(["synth", str(out), "--size", "16x16", "--duration", "0.2", "--source", "pink",
                 "--resonance", "200,600", "--q", "10", "--resonance-gain", "1,-0.5",
                 "--played", str(played), "--quiet"]) == 0
    sidecar = json.loads((tmp_path / "c.json").read_text())
    assert [(m["hz"], m["q"], m["gain"]) for m in sidecar["response"]["modes"]] == [
        (200.0, 10.0, 1.0), (600.0, 10.0, -0.5)]
    assert sidecar["played"]["file"] == "played.wav" and "--played" in sidecar["command"]
    sound, rate = soundfile.read(str(played))
    assert rate == 2200 and sound.size == 440 and np.abs(sound).max() == pytest.approx(1.0)
    capsys.readouterr()
    _refuse(capsys, tmp_path, ["synth", tmp_path / "d.npy", "--resonance", "200,600", "--q",
                               "10,5,3"], "--q")
