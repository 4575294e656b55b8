"""A tqdm-like progress adapter over rich, shared by the CLI commands (select, demo, bench)."""

from __future__ import annotations

import contextlib

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class RichProgress:
    """A tqdm-like adapter (``total``, ``update(n)``) over one task of a :class:`rich.progress.Progress`."""

    def __init__(self, progress: Progress, task_id):
        self._progress, self._task = progress, task_id
        self._total = None
        self._description = ""

    @property
    def total(self):
        return self._total

    @total.setter
    def total(self, value):
        self._total = value
        self._progress.update(self._task, total=value)

    def update(self, n: int = 1) -> None:
        self._progress.advance(self._task, n)

    @property
    def console(self) -> Console:
        """The console the bar draws on: print log lines through it so they appear above the bar."""
        return self._progress.console

    def set_description(self, text: str) -> None:
        self._description = text
        self._progress.update(self._task, description=text)

    def set_postfix(self, **kwargs) -> None:
        extra = " ".join(f"{k}={v}" for k, v in kwargs.items())
        self._progress.update(self._task, description=f"{self._description} {extra}")

    def finish(self) -> None:
        """Mark the task complete (methods such as ``rs2`` never advance it)."""
        if self._total is not None:
            self._progress.update(self._task, completed=self._total)


@contextlib.contextmanager
def rich_progress(console: Console, description: str, enabled: bool = True):
    """Yield a :class:`RichProgress` drawn on ``console``; ``None`` when ``enabled`` is false or the console
    is not a terminal (a bar cannot animate there; it would only leave blank lines in logs)."""
    if not (enabled and console.is_terminal):
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        adapter = RichProgress(progress, progress.add_task(description, total=None))
        yield adapter
        adapter.finish()


class _Forwarding:
    """Forwards ``update``, ``total`` and any other attribute to the progress object ``inner``."""

    def update(self, n: int = 1) -> None:
        self.inner.update(n)

    @property
    def total(self):
        return getattr(self.inner, "total", None)

    @total.setter
    def total(self, value) -> None:
        if hasattr(self.inner, "total"):
            self.inner.total = value

    def __getattr__(self, name):
        if name == "inner":  # not yet set (during unpickling)
            raise AttributeError(name)
        return getattr(self.inner, name)


class PhaseProgress(_Forwarding):
    """Names the phase of a part's work on the bar: ``"{label}building similarity"`` from :meth:`start` until
    the first pick, then ``"{label}selecting"`` (through ``set_description``, which tqdm and
    :class:`RichProgress` have; a progress object without it only counts). Everything else is forwarded.

    Selection methods wrap the progress they give a part's work in one (the engine ticks it once per pick),
    so a bar does not sit silent while an ``n × n`` similarity is built."""

    def __init__(self, inner, label: str = ""):
        self.inner, self.label, self._selecting = inner, label, False

    def _describe(self, phase: str) -> None:
        describe = getattr(self.inner, "set_description", None)
        if callable(describe):
            describe(f"{self.label}{phase}")

    def start(self) -> PhaseProgress:
        self._describe("building similarity")
        return self

    def update(self, n: int = 1) -> None:
        if not self._selecting:
            self._selecting = True
            self._describe("selecting")
        self.inner.update(n)


class _NoProgress:
    """What a :class:`ProcessLocalProgress` becomes in another process: accepts every update, shows nothing."""

    total = None

    def update(self, n: int = 1) -> None:
        pass

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


class ProcessLocalProgress(_Forwarding):
    """Forwards ``update`` / ``total`` (and anything else) to a progress object of this process, and pickles
    to a no-op. Work sent to other processes (Ray workers) can then carry it without failing or counting
    twice; the backend that sent the work reports progress here as parts finish."""

    def __init__(self, inner):
        self.inner = inner

    def __reduce__(self):
        return (_NoProgress, ())
