"""Progress of a sweep: rows done / total, the running row's step / max_steps and an estimate of the time left.

A trial runs in its own process with Lightning's bar switched off (its log is a file), so the trial writes its step
to ``<trial>/progress.json`` (:class:`ProgressFile`, a Lightning callback, at most once a second) and the sweep worker
reads it (:class:`SweepProgress`). On a terminal the worker shows a Rich progress display (rows, the row's steps,
time left); otherwise (a batch job's log, CI) it prints one plain line every ``--progress-every`` seconds.

The estimate: the running row's remaining steps at its own speed so far (plus its test, taken as long as the
finished rows' tests took on average, when known), and every row still to run as long as the finished rows took on
average, or, before any row finished, as long as the running one is projected to take.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

PROGRESS_FILE = "progress.json"


def progress_callback(out: Path, every: float = 1.0):
    """A Lightning callback writing ``{"step", "max_steps", "started", "time", "stage"}`` to ``<out>/progress.json``
    (atomically, at most every ``every`` seconds, and when fit and test start and end)."""
    from lightning.pytorch.callbacks import Callback  # here: the sweep command imports this module; only a trial trains

    class ProgressFile(Callback):
        def __init__(self) -> None:
            self.path, self.last, self.started = Path(out) / PROGRESS_FILE, 0.0, None
            self.first_step = 0

        def write(self, trainer, stage: str, force: bool = False) -> None:
            now = time.time()
            if not trainer.is_global_zero or (not force and now - self.last < every):
                return
            self.last = now
            payload = {"step": int(trainer.global_step), "max_steps": int(trainer.max_steps or -1),
                       "first_step": self.first_step, "started": self.started, "time": now, "stage": stage}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{PROGRESS_FILE}.tmp")
            tmp.write_text(json.dumps(payload))
            os.replace(tmp, self.path)  # the worker never reads half a file

        def on_train_start(self, trainer, pl_module) -> None:
            self.started, self.first_step = time.time(), int(trainer.global_step)  # a resumed row starts mid-way
            self.write(trainer, "fit", force=True)

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            self.write(trainer, "fit")

        def on_train_end(self, trainer, pl_module) -> None:
            self.write(trainer, "fit", force=True)

        def on_test_start(self, trainer, pl_module) -> None:
            self.write(trainer, "test", force=True)

    return ProgressFile()


def read_progress(trial_dir: Path | None) -> dict[str, Any]:
    if trial_dir is None:
        return {}
    try:
        return json.loads((Path(trial_dir) / PROGRESS_FILE).read_text())
    except (OSError, ValueError):
        return {}


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(max(0.0, seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class SweepProgress:
    """The worker's view: call :meth:`start_row` / :meth:`end_row` around each row; a thread refreshes the display.

    ``interval``: seconds between plain lines when stdout is not a terminal (0: no plain lines).
    """

    def __init__(self, name: str, total: int, done: int = 0, interval: float = 60.0, max_steps: int | None = None,
                 console=None) -> None:
        self.name, self.total, self.done, self.interval = name, total, done, interval
        self.default_max_steps = max_steps
        from rich.console import Console  # Rich once a sweep runs: the sweep command imports this module at start-up

        self.console = console or Console()
        self.row_label: str | None = None
        self.row_dir: Path | None = None
        self.row_started: float | None = None
        self.durations: list[float] = []  # seconds of the rows this worker finished
        self.test_durations: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._live = None

    # --- the numbers
    def snapshot(self) -> dict[str, Any]:
        """``{"done", "total", "row", "step", "max_steps", "stage", "eta"}`` (``eta`` in seconds or ``None``)."""
        info = read_progress(self.row_dir) if self.row_label else {}
        step, max_steps = info.get("step"), info.get("max_steps") or self.default_max_steps
        return {"done": self.done, "total": self.total, "row": self.row_label, "step": step,
                "max_steps": max_steps if max_steps and max_steps > 0 else None, "stage": info.get("stage"),
                "eta": self.eta(info)}

    def eta(self, info: dict[str, Any]) -> float | None:
        now = time.time()
        mean = sum(self.durations) / len(self.durations) if self.durations else None
        running = max(0, self.total - self.done - (1 if self.row_label else 0))  # rows after the current one
        current = 0.0
        if self.row_label:
            step, max_steps, started = info.get("step"), info.get("max_steps"), info.get("started")
            first = info.get("first_step") or 0
            test = sum(self.test_durations) / len(self.test_durations) if self.test_durations else 0.0
            if info.get("stage") == "test":
                current = max(0.0, test - (now - info.get("time", now)))
            elif step is not None and max_steps and max_steps > 0 and started and step > first:
                rate = (now - started) / (step - first)
                current = rate * (max_steps - step) + test
                if mean is None and self.row_started is not None:  # no finished row yet: this one is the yardstick
                    mean = (started - self.row_started) + rate * (max_steps - first) + test
            elif mean is not None and self.row_started is not None:
                current = max(0.0, mean - (now - self.row_started))
            else:
                return None
        if running and mean is None:
            return None
        return current + running * (mean or 0.0)

    def line(self) -> str:
        s = self.snapshot()
        parts = [f"[sweep {self.name}] rows {s['done']}/{s['total']} done"]
        if s["row"] is not None:
            if s["stage"] == "test":
                parts.append(f"row {s['row']!r}: testing")
            else:
                parts.append(f"row {s['row']!r}: step {s['step'] if s['step'] is not None else '?'}/"
                             f"{s['max_steps'] or '?'}")
        parts.append(f"time left ~{fmt_seconds(s['eta'])}")
        return " | ".join(parts)

    # --- the worker's hooks
    def start_row(self, label: str, trial_dir: Path, max_steps: int | None = None) -> None:
        self.row_label, self.row_dir, self.row_started = label, Path(trial_dir), time.time()
        self.default_max_steps = max_steps if isinstance(max_steps, int) else None  # until the trial reports it

    def end_row(self, finished: bool) -> None:
        if self.row_started is not None and finished:
            info = read_progress(self.row_dir)
            self.durations.append(time.time() - self.row_started)
            if info.get("stage") == "test" and info.get("time"):
                self.test_durations.append(max(0.0, time.time() - info["time"]))
        if finished:
            self.done += 1
        self.row_label, self.row_dir, self.row_started = None, None, None
        self.refresh()

    # --- the display
    def __enter__(self) -> SweepProgress:
        if self.console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._live = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TimeElapsedColumn(), TextColumn("{task.fields[note]}"), console=self.console,
                                  redirect_stdout=True, redirect_stderr=True)
            self._rows = self._live.add_task(f"sweep {self.name}: rows", total=self.total, completed=self.done,
                                             note="")
            self._steps = self._live.add_task("row", total=None, note="", visible=False)
            self._live.start()
        if self._live is not None or self.interval > 0:
            self._thread = threading.Thread(target=self._loop, name="sweep-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._live is not None:
            self.refresh()
            self._live.stop()

    def _loop(self) -> None:
        period = 0.5 if self._live is not None else self.interval
        last_plain = time.time()
        while not self._stop.wait(period):
            if self._live is not None:
                self.refresh()
            elif time.time() - last_plain >= self.interval:
                last_plain = time.time()
                print(self.line(), flush=True)

    def refresh(self) -> None:
        if self._live is None:
            return
        s = self.snapshot()
        self._live.update(self._rows, completed=s["done"], note=f"time left ~{fmt_seconds(s['eta'])}")
        if s["row"] is None:
            self._live.update(self._steps, visible=False)
        else:
            label = f"row {s['row']!r}" + (" (test)" if s["stage"] == "test" else "")
            self._live.update(self._steps, description=label, total=s["max_steps"], completed=s["step"] or 0,
                              visible=True, note="")
