"""``instaseg models``: the registered model names."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="list the models that can be trained")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from instaseg.models import list_models

    for name in list_models():
        print(name)
    return 0
