import sys

from skills.sdk.cli import main

sys.exit(main(prog="python -m skills.sdk"))
