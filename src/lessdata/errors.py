"""Errors raised by lessdata.

Every problem with user input raises :class:`LessdataError`, a ``ValueError`` subclass whose message is one
line naming the problem. The CLI turns it into that line on stderr and exit code 2.
"""


class LessdataError(ValueError):
    """Bad input to lessdata: the message says what is wrong and, where it can, how to fix it."""


class MissingExtraError(LessdataError, ImportError):
    """An optional dependency is needed for the requested feature but is not installed."""

    def __init__(self, package: str, extra: str, feature: str):
        super().__init__(
            f"{feature} needs the optional package '{package}': install it with "
            f"`pip install 'lessdata[{extra}]'`"
        )


def require(module: str, extra: str, feature: str):
    """Import an optional dependency lazily, or raise :class:`MissingExtraError` naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtraError(module.split(".")[0], extra, feature) from exc
