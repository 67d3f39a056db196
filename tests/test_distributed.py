"""Recovery on a Dask cluster (vmic.distributed): the same answer, its faults, the CLI."""

import logging
import os
import signal
import socket

import numpy as np
import pytest

import vmic
from vmic.cli import main
from vmic.errors import VmicError

distributed = pytest.importorskip("distributed")
vd = pytest.importorskip("vmic.distributed")

BATCH = 8
RANGE = 75  # range boundaries at 75, 150, ..., 375: all mid-batch for batches of 8


@pytest.fixture(scope="module")
def client():
    # One cluster for the module: two worker processes of one thread, as the issue asks.
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", silence_logs=logging.ERROR)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def drifting(tmp_path_factory):
    # A tiny FFV1 clip whose camera drifts: the cluster runs both passes of the recovery.
    from vmic.synth import render
    from vmic.synth.config import SynthConfig

    path = tmp_path_factory.mktemp("dask") / "drift.avi"
    render(path, None, SynthConfig(duration_s=0.2, height=64, width=64, drift_px=2.0,
                                   drift_hz=2.0, read_noise_e=20.0))
    return path


@pytest.fixture(scope="module")
def one_pass(drifting):
    return vmic.recover(drifting)


def _same_answer(result, whole):
    assert len(result.audio) == len(whole.audio)
    assert np.corrcoef(result.audio, whole.audio)[0, 1] >= 0.99999
    # Each frame's sums do not depend on which range or batch it is in: equal, not close.
    np.testing.assert_array_equal(result.audio, whole.audio)


def test_cluster_recovery_equals_one_pass(client, drifting, one_pass):
    assert one_pass.info.motion_compensated  # both passes ran
    _same_answer(vmic.recover(drifting, client=client), one_pass)
    bounds = vd.plan_ranges(one_pass.info.frames, (64, 64), range_frames=RANGE)
    assert len(bounds) > 3 and all(a % BATCH for a, _ in bounds[1:])  # mid-batch boundaries
    result = vd.recover_on_cluster(drifting, client, range_frames=RANGE, batch_size=BATCH)
    _same_answer(result, one_pass)
    assert result.info.motion_compensated
    np.testing.assert_array_equal(result.info.motion_px, one_pass.info.motion_px)


def test_cluster_map_equals_one_pass(client, drifting, tmp_path):
    from vmic.distributed_map import map_on_cluster
    from vmic.vibmap import vibration_map

    whole = vibration_map(drifting, tile_px=16)
    result = map_on_cluster(drifting, client, tile_px=16, range_frames=RANGE)
    assert whole.origin != (0, 0) and result.origin == whole.origin  # motion removed
    assert result.n_frames == whole.n_frames
    np.testing.assert_allclose(result.strength, whole.strength, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(result.frequency, whole.frequency, rtol=1e-9)
    out = tmp_path / "map.png"
    code, err = _cli(["map", str(drifting), "-o", str(out), "--tile", "16", "--dask",
                      client.scheduler_info()["address"]])
    assert code == 0 and out.is_file(), err


def test_a_clip_at_an_fsspec_url_is_read_by_the_workers(client, drifting, one_pass):
    # The workers open the URL themselves (fsspec's file:// here; s3://, gs://... alike).
    _same_answer(vmic.recover(drifting.resolve().as_uri(), client=client), one_pass)


def test_ranges_follow_the_byte_budget():
    assert vd.plan_ranges(5000, (64, 64))[0] == (0, vd.RANGE_FRAMES)
    assert vd.plan_ranges(5000, (1024, 1024), range_bytes=64 << 20)[0] == (0, 16)
    assert vd.plan_ranges(250, (8, 8), range_frames=100)[-1] == (200, 250)
    with pytest.raises(VmicError, match="range_frames"):
        vd.plan_ranges(10, (8, 8), range_frames=0)


def test_frames_in_memory_are_refused(client):
    with pytest.raises(VmicError, match="path the workers can read"):
        vmic.recover(np.zeros((20, 16, 16), np.float32), fps=2200, client=client)
    with pytest.raises(VmicError, match="track_roi"):
        vmic.recover("x.avi", roi=(0, 0, 8, 8), track_roi=True, client=client)


def test_an_undecodable_range_is_named(client, tmp_path):
    from vmic.synth import render
    from vmic.synth.config import SynthConfig

    folder = tmp_path / "frames"
    render(folder, None, SynthConfig(duration_s=0.15, height=32, width=32))
    frames = sorted(p for p in folder.iterdir() if p.suffix == ".png")
    frames[250].write_bytes(b"not a png")
    with pytest.raises(VmicError, match=r"frames 225\.\.299 .*cannot read image"):
        vd.recover_on_cluster(folder, client, fps=2200, range_frames=RANGE, motion="off")
    out = tmp_path / "out.wav"
    code, err = _cli(["recover", str(folder), "--fps", "2200", "-o", str(out), "--motion",
                      "off", "--dask", client.scheduler_info()["address"]])
    assert code == 2 and not out.exists()
    assert err.count("\n") == 1 and err.startswith("vmic: error: frames 0..")
    assert "cannot read image" in err


def _cli(argv):
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main([*argv, "--quiet"])
    return code, err.getvalue()


def test_cli_writes_the_same_audio(client, drifting, one_pass, tmp_path):
    from vmic.io.audio import read_wav

    out = tmp_path / "out.wav"
    code, err = _cli(["recover", str(drifting), "-o", str(out), "--dask",
                      client.scheduler_info()["address"]])
    assert code == 0, err
    audio, _ = read_wav(out)
    assert len(audio) == len(one_pass.audio)
    assert np.corrcoef(audio, one_pass.audio)[0, 1] >= 0.99999


def test_an_unreachable_scheduler_is_one_line(drifting, tmp_path, monkeypatch):
    monkeypatch.setattr(vd, "CONNECT_TIMEOUT_S", 1.0)
    with socket.socket() as sock:  # a port where nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = tmp_path / "out.wav"
    code, err = _cli(["recover", str(drifting), "-o", str(out), "--dask",
                      f"tcp://127.0.0.1:{port}"])
    assert code == 2 and not out.exists()
    assert err.count("\n") == 1
    assert err.startswith("vmic: error: cannot reach the Dask scheduler") and "1 s" in err
    code, err = _cli(["recover", str(drifting), "-o", str(out), "--dask", "local:0"])
    assert code == 2 and "local:N" in err and not out.exists()


def test_without_dask_the_extra_is_named(drifting, tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "distributed", None)
    out = tmp_path / "out.wav"
    code, err = _cli(["recover", str(drifting), "-o", str(out), "--dask", "local:1"])
    assert code == 2 and 'pip install "vmic[dask]"' in err and not out.exists()


def test_a_killed_worker_is_replaced_and_the_answer_is_the_same(client, drifting):
    # Every range is computed and held by the workers; one worker process is then killed
    # before the client gathers: the scheduler runs that worker's ranges (and the
    # reference, where it held the only copy) again, and the answer is unchanged.
    spec = vd.ClipSpec.of(drifting, fps=None)
    settings = ("local", None, 2, 0, None, "float32")
    reference = client.submit(vd.prepare_task, spec, settings, False, pure=False)
    extraction = reference.result()
    bounds = vd.plan_ranges(extraction.n_frames, extraction.frame_shape, range_frames=RANGE)
    futures = vd.submit_ranges(client, spec, reference, bounds, batch_size=BATCH)
    distributed.wait(futures)
    holders = client.who_has(futures)
    pids = client.run(os.getpid)
    victim = next(iter(holders[futures[0].key]))
    os.kill(pids[victim], signal.SIGKILL)
    parts = vd.gather_ranges(futures, bounds, path=str(drifting))
    whole = vmic.recover(drifting, combine="local", motion="off")
    result = vmic.recover_from_ranges(extraction, parts)
    np.testing.assert_array_equal(result.audio, whole.audio)

