"""Placeholder: `data_convert` is being written."""

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    pass
