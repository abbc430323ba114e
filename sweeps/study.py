"""The Optuna side of a sweep: storage, one study per run, and claiming rows so no row ever runs twice.

Every row of a table is a *slot*. Before a worker creates the Optuna trial of a slot it inserts a claim
``(study, slot, attempt)`` into ``inpaint_sweep_claims``, a table next to Optuna's in the same database, whose primary
key makes the insert succeed for exactly one worker, on SQLite and PostgreSQL alike. (Optuna's GridSampler alone can
hand the same grid point to two workers that ask at the same moment, and SQLite's check-then-set of a WAITING trial is
not atomic; a unique key is.)

A running trial records an Optuna heartbeat every ``heartbeat`` seconds. A RUNNING trial whose heartbeat is older
than the grace period, or whose worker ran on this host and is no longer alive, is marked FAIL with the reason
``lost: ...`` and its slot becomes claimable again (attempt + 1): a worker killed mid-trial loses that trial only,
and a restarted worker (``--resume``) re-runs it. A trial whose worker was preempted (SIGTERM/SIGUSR1) ends FAIL with
the reason ``handed back: ...``: its slot is claimable again at once and does not count against ``max_lost``.
Failures with another reason (NaN, OOM, errors) are final unless the runner is asked to ``--retry-failed``.
"""

from __future__ import annotations

import importlib.util
import os
import random
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import optuna
import sqlalchemy as sa
import sqlalchemy.exc as sa_exc
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from assembly.errors import UsageError
from sweeps.trial import HANDED_BACK

CLAIMS_TABLE = "inpaint_sweep_claims"
LOST = "lost"


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def database_url(url: str) -> str:
    """``postgresql://`` with the driver that is installed: SQLAlchemy 2.1 defaults to psycopg 3, the suite's
    ``postgres`` extra installs psycopg2."""
    if url.startswith("postgresql://"):
        if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2") is not None:
            return "postgresql+psycopg2://" + url[len("postgresql://"):]
    return url


def retry_creation_race(create, attempts: int = 6):
    """Run ``create()`` again when a concurrent worker created the same table/study first.

    Workers started together on a fresh database race in ``CREATE TABLE`` / study insertion; PostgreSQL reports the
    loser as an IntegrityError/ProgrammingError (duplicate key in its catalogue). The second try finds the object.
    Other OperationalErrors (connection failures) are not retried: they mean the storage is unreachable.
    """
    for attempt in range(attempts):
        try:
            return create()
        except (sa_exc.IntegrityError, sa_exc.ProgrammingError, sa_exc.OperationalError,
                optuna.exceptions.DuplicatedStudyError) as error:
            # SQLite reports the lost CREATE TABLE race as an OperationalError "... already exists"
            lost_race = not isinstance(error, sa_exc.OperationalError) or "already exists" in str(error)
            if not lost_race or attempt == attempts - 1:
                raise
            time.sleep(0.2 + random.random() * 0.5)


def open_storage(url: str, heartbeat: int = 30) -> optuna.storages.RDBStorage:
    """An RDB storage with heartbeats; an unreachable or malformed URL is a one-line usage error."""
    url = database_url(url)
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs = {"connect_args": {"timeout": 120}}
    elif url.startswith("postgresql"):
        kwargs = {"connect_args": {"connect_timeout": 10}, "pool_pre_ping": True}
    try:
        return retry_creation_race(lambda: optuna.storages.RDBStorage(
            url, engine_kwargs=kwargs, heartbeat_interval=heartbeat, grace_period=max(3 * heartbeat, 10)))
    except Exception as error:  # noqa: BLE001 - sqlalchemy/driver errors of every kind
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UsageError(f"cannot open the study storage {redact(url)}: {first}") from None


def redact(url: str) -> str:
    """The URL without its password."""
    if "://" in url and "@" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


# --------------------------------------------------------------------------------------------- study names
def study_name_for(base: str, storage: optuna.storages.BaseStorage, resume: bool) -> str:
    """``base#N``: a fresh run takes the next N; ``--resume`` joins the latest (creating #1 if none)."""
    runs = []
    for summary in storage.get_all_studies():
        name = summary.study_name
        if name.startswith(base + "#") and name[len(base) + 1:].isdigit():
            runs.append(int(name[len(base) + 1:]))
    if resume:
        return f"{base}#{max(runs) if runs else 1}"
    return f"{base}#{max(runs) + 1 if runs else 1}"


def latest_run(base: str, storage: optuna.storages.BaseStorage) -> str | None:
    runs = [s.study_name for s in storage.get_all_studies() if s.study_name.startswith(base + "#")]
    runs = [n for n in runs if n[len(base) + 1:].isdigit()]
    return max(runs, key=lambda n: int(n[len(base) + 1:])) if runs else None


# --------------------------------------------------------------------------------------------- claims
class Claims:
    """The claim table: ``claim(study, slot, attempt)`` succeeds for exactly one caller."""

    def __init__(self, storage: optuna.storages.RDBStorage) -> None:
        self.sa = sa
        self.engine = storage.engine
        self.meta = sa.MetaData()
        self.table = sa.Table(
            CLAIMS_TABLE, self.meta,
            sa.Column("study_name", sa.String(512), primary_key=True),
            sa.Column("slot", sa.Integer, primary_key=True),
            sa.Column("attempt", sa.Integer, primary_key=True),
            sa.Column("worker", sa.String(256)),
            sa.Column("trial_number", sa.Integer, nullable=True),
            sa.Column("claimed_at", sa.Float),
        )
        retry_creation_race(lambda: self.meta.create_all(self.engine, checkfirst=True))

    def rows(self, study_name: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            result = conn.execute(self.sa.select(self.table).where(self.table.c.study_name == study_name))
            return [dict(r._mapping) for r in result]

    def claim(self, study_name: str, slot: int, attempt: int) -> bool:
        try:
            with self.engine.begin() as conn:
                conn.execute(self.table.insert().values(study_name=study_name, slot=slot, attempt=attempt,
                                                        worker=worker_id(), claimed_at=time.time()))
            return True
        except self.sa.exc.IntegrityError:
            return False

    def link(self, study_name: str, slot: int, attempt: int, trial_number: int) -> None:
        t = self.table
        with self.engine.begin() as conn:
            conn.execute(t.update().where((t.c.study_name == study_name) & (t.c.slot == slot) & (t.c.attempt == attempt))
                         .values(trial_number=trial_number))


# --------------------------------------------------------------------------------------------- trials
@dataclass
class SlotState:
    slot: int
    complete: optuna.trial.FrozenTrial | None
    running: list[optuna.trial.FrozenTrial]
    failed: list[optuna.trial.FrozenTrial]
    attempts: int              # claims made so far
    pending_claim: bool        # a fresh claim whose trial is not created yet


def slot_states(study: optuna.Study, claims: Claims, n_slots: int) -> list[SlotState]:
    trials = study.get_trials(deepcopy=False)
    rows = claims.rows(study.study_name)
    states = []
    for slot in range(n_slots):
        mine = [t for t in trials if t.user_attrs.get("slot") == slot]
        slot_claims = [c for c in rows if c["slot"] == slot]
        # A claim not yet matched by a trial: its worker is creating the trial right now (or died doing so).
        newest = max((c["claimed_at"] or 0 for c in slot_claims), default=0)
        pending = len(slot_claims) > len(mine) and time.time() - newest < 600
        complete = [t for t in mine if t.state == TrialState.COMPLETE]
        states.append(SlotState(slot=slot, complete=complete[-1] if complete else None,
                                running=[t for t in mine if t.state == TrialState.RUNNING],
                                failed=[t for t in mine if t.state in (TrialState.FAIL, TrialState.PRUNED)],
                                attempts=len(slot_claims), pending_claim=pending))
    return states


def fail_reason(trial: optuna.trial.FrozenTrial) -> str:
    return str(trial.user_attrs.get("fail_reason") or "lost: the worker stopped without recording a reason")


def resumable(reason: str) -> bool:
    """A trial that ended this way left its row unfinished through no fault of its own: re-run, from its checkpoint."""
    return reason.startswith((LOST, HANDED_BACK))


def claimable(state: SlotState, retry_failed: bool, max_lost: int) -> bool:
    if state.complete is not None or state.running or state.pending_claim:
        return False
    if not state.failed:
        return True
    last = state.failed[-1]
    if last.state == TrialState.PRUNED:
        return False
    if fail_reason(last).startswith(HANDED_BACK):
        return True  # preempted: not the row's fault, not a lost worker
    lost = sum(fail_reason(t).startswith(LOST) for t in state.failed)
    if fail_reason(last).startswith(LOST):
        return lost <= max_lost
    return retry_failed


def fail_lost_trials(study: optuna.Study) -> list[int]:
    """Mark RUNNING trials whose worker is gone as FAIL (``lost: ...``); return their numbers.

    Same host + dead pid: immediately. Any host: when the Optuna heartbeat is older than the grace period.
    """
    storage = study._storage
    failed = []
    host = socket.gethostname()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = str(trial.user_attrs.get("worker", ""))
        name, _, pid = worker.rpartition(":")
        if name == host and pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            if _fail(storage, trial, f"{LOST}: worker {worker} died (killed?) during the trial"):
                failed.append(trial.number)
    # Heartbeats older than the grace period (any host). The reason is written before the state: Optuna freezes
    # the attributes of a finished trial.
    stale_ids = getattr(storage, "_get_stale_trial_ids", None)
    if stale_ids is None:  # pragma: no cover - another Optuna: its own check, reason left to fail_reason()
        optuna.storages.fail_stale_trials(study)
        return failed
    for trial_id in stale_ids(study._study_id):
        trial = storage.get_trial(trial_id)
        if _fail(storage, trial, f"{LOST}: no heartbeat from worker {trial.user_attrs.get('worker')} within the "
                                 f"grace period"):
            failed.append(trial.number)
    return failed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (killed but not reaped by its parent yet) is dead for our purpose.
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def _fail(storage, trial: optuna.trial.FrozenTrial, reason: str) -> bool:
    try:
        if storage.get_trial(trial._trial_id).state != TrialState.RUNNING:
            return False
        storage.set_trial_user_attr(trial._trial_id, "fail_reason", reason)
        return storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
    except optuna.exceptions.UpdateFinishedTrialError:
        return False


def create_running_trial(study: optuna.Study, slot: int, labels: list[str], attrs: dict[str, Any],
                         params: dict[str, Any] | None = None,
                         distributions: dict[str, Any] | None = None) -> optuna.trial.FrozenTrial:
    """A RUNNING trial with ``row = labels[slot]`` (tables) or the given params (search), and a first heartbeat."""
    if params is None:
        params = {"row": labels[slot]}
        distributions = {"row": CategoricalDistribution(labels)}
    template = optuna.trial.create_trial(state=TrialState.RUNNING, params=params, distributions=distributions,
                                         user_attrs={"slot": slot, "worker": worker_id(), **attrs})
    storage = study._storage
    trial_id = storage.create_new_trial(study._study_id, template_trial=template)
    storage.record_heartbeat(trial_id)
    return storage.get_trial(trial_id)


class Heartbeat:
    """Records the trial's heartbeat every ``interval`` s in a daemon thread while the trial runs."""

    def __init__(self, storage, trial_id: int, interval: int) -> None:
        self.storage, self.trial_id, self.interval = storage, trial_id, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.storage.record_heartbeat(self.trial_id)
            except Exception:  # noqa: BLE001 - a missed beat is retried; the grace period covers it
                pass

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def finish_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial, state: TrialState, value: float | None,
                 attrs: dict[str, Any]) -> None:
    storage = study._storage
    for key, val in attrs.items():
        storage.set_trial_user_attr(trial._trial_id, key, val)
    try:
        if state == TrialState.COMPLETE:
            storage.set_trial_state_values(trial._trial_id, state=state, values=[float(value or 0.0)])
        else:
            storage.set_trial_state_values(trial._trial_id, state=state)
    except optuna.exceptions.UpdateFinishedTrialError:
        pass  # another worker judged this trial lost meanwhile; its reason stays
