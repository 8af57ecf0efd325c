"""The living documentation's one error: what went wrong, in one line, for `make docs`."""


class LivedocError(Exception):
    """The site cannot be built (a missing or altered asset, an output directory not ours)."""
