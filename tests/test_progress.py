"""Progress bars: on stderr, and nothing at all (not even tqdm's import) when quiet."""

from conftest import run_python

from vmic.progress import progress


def test_a_bar_writes_to_stderr_and_a_quiet_one_writes_nothing(capsys):
    with progress(10, "work") as bar:
        bar.update(4)
        bar.update(6)
    captured = capsys.readouterr()
    assert "work" in captured.err and captured.out == ""
    with progress(10, "hush", quiet=True) as bar:
        bar.update(10)
    bar.close()  # closing twice is fine
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_a_quiet_bar_does_not_import_tqdm():
    code = ("import sys\n"
            "from vmic.progress import progress\n"
            "progress(5, 'x', quiet=True).update(5)\n"
            "print('tqdm' in sys.modules)\n")
    done = run_python(code, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "False"
