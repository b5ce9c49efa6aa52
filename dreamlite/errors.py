"""Errors whose message is one line for the user (the CLI prints them without a traceback).

Kept below every other module so that loading, the prompt encoders and the runtimes can all raise them without
importing each other.
"""


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded; the message is one line for the user."""


class InputError(ValueError):
    """Bad arguments to generate/edit; the message is one line for the user."""
