"""The progress bar names the phase of facility-location work: building the similarity, then selecting."""

import io
import threading

import numpy as np
from rich.console import Console
from rich.progress import Progress

import lessdata
from lessdata._progress import PhaseProgress, ProcessLocalProgress, RichProgress


class Recorder:
    """A tqdm-like progress object that records what it is told, in order."""

    def __init__(self):
        self.total, self.events = None, []

    def update(self, n=1):
        self.events.append(("update", n, threading.get_ident()))

    def set_description(self, text):
        self.events.append(("describe", text, threading.get_ident()))


def _phases(events):
    """The descriptions in order, with the number of picks counted after each. Parts may run on threads at
    the same time, so each thread's events are read on their own (a part's work stays on one thread)."""
    out, current = [], {}
    for kind, value, thread in events:
        if kind == "describe":
            current[thread] = [value, 0]
            out.append(current[thread])
        else:
            assert thread in current, "a pick was counted before any phase was named"
            current[thread][1] += value
    return [tuple(item) for item in out]


def test_one_part_builds_the_similarity_then_selects():
    X = np.random.default_rng(0).normal(size=(80, 4)).astype(np.float32)
    bar = Recorder()
    cs = lessdata.select(X, budget=7, method="craig", progress=bar)
    assert _phases(bar.events) == [("craig: building similarity", 0), ("craig: selecting", 7)]
    assert bar.total == 7 and len(cs) == 7


def test_each_part_names_its_phases():
    X = np.random.default_rng(1).normal(size=(60, 3)).astype(np.float32)
    labels = np.repeat(["a", "b"], 30)
    bar = Recorder()
    lessdata.select(X, budget={"a": 2, "b": 5}, method="facility_location", labels=labels, progress=bar,
                    backend="local")
    phases = _phases(bar.events)
    assert sorted(phases) == [("facility_location, part a: building similarity", 0),
                              ("facility_location, part a: selecting", 2),
                              ("facility_location, part b: building similarity", 0),
                              ("facility_location, part b: selecting", 5)]
    for part in ("a", "b"):  # within a part, building comes before selecting
        names = [name for name, _ in phases if f"part {part}:" in name]
        assert names == [f"facility_location, part {part}: building similarity",
                         f"facility_location, part {part}: selecting"]


def test_a_progress_object_without_descriptions_only_counts():
    class Counter:
        total, count = None, 0

        def update(self, n=1):
            self.count += n

    bar = Counter()
    lessdata.select(np.eye(20, dtype=np.float32), budget=4, method="craig", progress=bar)
    assert bar.count == 4


def test_the_rich_bar_shows_the_phase():
    with Progress(console=Console(file=io.StringIO()), auto_refresh=False) as progress:
        adapter = RichProgress(progress, progress.add_task("selecting", total=None))
        phase = PhaseProgress(ProcessLocalProgress(adapter), "craig: ").start()
        assert progress.tasks[0].description == "craig: building similarity"
        phase.total = 3
        phase.update(2)
        assert progress.tasks[0].description == "craig: selecting"
        assert progress.tasks[0].completed == 2 and progress.tasks[0].total == 3
