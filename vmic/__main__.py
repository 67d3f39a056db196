from vmic.cli import run

run()
