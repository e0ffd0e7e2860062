"""Errors that reach the user as a message, never as a traceback."""


class InstasegError(Exception):
    """A problem with the user's input or request; the CLI prints it and exits non-zero."""


class DatasetError(InstasegError):
    """An annotation file or dataset folder that cannot be used; the message lists every problem found."""
