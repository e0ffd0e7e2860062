"""The ``instaseg`` command: one sub-command per job, each in its own module."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from instaseg import __version__
from instaseg.errors import InstasegError

# Each module exposes ``register(subparsers)`` that adds its parser and sets ``func`` to a
# ``run(args) -> int`` function.
from instaseg.cli import data_check, data_convert, data_show, data_synth, demo, evaluate, models, predict, train


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="instaseg", description=__doc__)
    parser.add_argument("--version", action="version", version=f"instaseg {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    data = commands.add_parser("data", help="generate, check, convert and draw datasets")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="DATA_COMMAND")
    for module in (data_synth, data_check, data_convert, data_show):
        module.register(data_commands)
    train.register(commands)
    models.register(commands)
    predict.register(commands)
    evaluate.register(commands)
    demo.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InstasegError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
