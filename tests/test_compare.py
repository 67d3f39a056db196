"""`vmic compare`: align vs the default classical method vs the learned method."""

import sys
from dataclasses import replace

import numpy as np
import pytest

from vmic.cli import main
from vmic.compare import compare_methods, format_comparison
from vmic.recovery import DEFAULT_COMBINE


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    from vmic.learn.siamese.data import draw_config
    from vmic.synth import render

    folder = tmp_path_factory.mktemp("compare")
    cfg = replace(draw_config("test", 5), duration_s=0.1, height=48, width=48, source="tones",
                  amplitude_px=0.05, read_noise_e=5.0, motion="global")
    clip = folder / "clip.npy"
    render(clip, folder / "clip_truth.wav", cfg)
    return clip, folder / "clip_truth.wav"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    torch = pytest.importorskip("torch")
    from vmic.learn.siamese.maps import MapSpec
    from vmic.learn.siamese.model import SiameseRegressor, state_for_saving

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    spec = MapSpec(scales=2, orientations=2, grid=8)
    torch.save(state_for_saving(SiameseRegressor(spec.channels, width=4), spec.to_dict()), path)
    return path


def _truth(path):
    import soundfile as sf

    return sf.read(str(path))[0]


def test_three_rows_scored(sample, tiny_model):
    clip, truth_path = sample
    rows = compare_methods(str(clip), _truth(truth_path), model_path=tiny_model)
    assert [r["method"] for r in rows] == ["align", DEFAULT_COMBINE, "learned"]
    for r in rows:
        assert np.isfinite(r["snr_db"]) and r["seconds"] > 0
        assert 0 <= r["rmse01"] <= 1
        # a clean 0.05 px tone is recovered by every method
        assert r["pearson"] > 0.9
    table = format_comparison(rows)
    assert all(m in table for m in ("align", DEFAULT_COMBINE, "learned", "RMSE [0,1]", "STOI"))
    md = format_comparison(rows, markdown=True)
    assert md.splitlines()[1].startswith("|---")


def test_cli_compare_with_plot(sample, tiny_model, tmp_path, capsys):
    clip, truth_path = sample
    plot = tmp_path / "cmp.png"
    rc = main(["compare", str(clip), "--reference", str(truth_path), "--model", str(tiny_model),
               "--plot", str(plot), "--quiet"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "learned" in out and "align" in out
    assert plot.stat().st_size > 0


def test_compare_missing_reference_is_one_line(sample, capsys):
    clip, _ = sample
    rc = main(["compare", str(clip), "--reference", "/nonexistent/truth.wav", "--quiet"])
    assert rc == 2
    assert "no such reference" in capsys.readouterr().err


def test_compare_without_torch_keeps_classical_rows(sample, monkeypatch, capsys):
    clip, truth_path = sample
    monkeypatch.setitem(sys.modules, "torch", None)
    rc = main(["compare", str(clip), "--reference", str(truth_path), "--quiet"])
    assert rc == 0
    out = capsys.readouterr().out
    learned_line = next(line for line in out.splitlines() if line.startswith("learned"))
    assert "n/a" in learned_line
    assert "vmic[learn]" in out
