"""``instaseg models``: the registered models, and the options of one."""

from __future__ import annotations

import argparse
import dataclasses


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="list the models that can be trained (and their options)")
    parser.add_argument("--options", metavar="MODEL", help="list MODEL's config fields and their defaults "
                                                           "(set them with train --model-option KEY=VALUE)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from instaseg.models import DEFAULT_MODEL, list_models, model_entry

    if args.options:
        entry = model_entry(args.options)
        for field in dataclasses.fields(entry.config):
            print(f"{field.name} = {getattr(entry.config, field.name)!r}")
        return 0
    names = list_models()
    width = max(map(len, names))
    for name in names:
        entry = model_entry(name)
        marker = " (default)" if name == DEFAULT_MODEL else ""
        print(f"{name:<{width}}  {entry.task:<9} {entry.summary}{marker}")
    return 0
