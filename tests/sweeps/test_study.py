"""Sharing rows between workers, killed workers, failed trials, storages (sweeps/study.py through the runner).

Trials run ``sweep_fake_trial`` (no training), so these tests measure the scheduling, not the models.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections import Counter

import optuna
import pytest
from optuna.trial import TrialState
from sweep_helpers import load_study_trials, run_sweep, start_sweep, sweep_env, trial_log


def _wait_for(predicate, timeout: float, what: str) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


def test_two_workers_share_a_four_row_grid(tmp_path, four_row_sweep):
    env = sweep_env(tmp_path, FAKE_TRIAL_SLEEP="*:1.5")
    workers = [start_sweep(tmp_path, str(four_row_sweep), "--resume", "--heartbeat", "2", env=env, log=f"w{i}.log")
               for i in range(2)]
    codes = [w.wait(timeout=600) for w in workers]
    logs = [(tmp_path / f"w{i}.log").read_text() for i in range(2)]
    assert codes == [0, 0], logs
    trials = load_study_trials(tmp_path)
    assert len(trials) == 4
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert sorted(t.params["row"] for t in trials) == sorted(
        ["width 8", "width 16", "width 16, no perceptual", "width 24"])
    starts = Counter(r for w, r in trial_log(tmp_path) if w == "start")
    assert starts == Counter({0: 1, 1: 1, 2: 1, 3: 1})
    # Both processes worked (each took at least one row) when both were up in time; never the same row.
    workers_seen = {t.user_attrs["worker"] for t in trials}
    assert 1 <= len(workers_seen) <= 2


def test_killed_worker_resume_keeps_finished_and_reruns_lost(tmp_path, four_row_sweep):
    env = sweep_env(tmp_path, FAKE_TRIAL_SLEEP="0:0.1,1:300")
    worker = start_sweep(tmp_path, str(four_row_sweep), "--max-rows", "2", "--heartbeat", "2", env=env)
    _wait_for(lambda: ("start", 1) in trial_log(tmp_path), 300, "row 1 to start")
    pid_file = next((tmp_path / "results").rglob("01-*/pid"))
    _wait_for(pid_file.exists, 30, "the trial pid")
    trial_pid = int(pid_file.read_text())
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)
    # The trial process dies with its worker (PR_SET_PDEATHSIG): no orphan keeps training.
    _wait_for(lambda: not _alive(trial_pid), 30, "the orphaned trial to die")

    env = sweep_env(tmp_path, FAKE_TRIAL_SLEEP="*:0.1")
    done = run_sweep(tmp_path, str(four_row_sweep), "--max-rows", "2", "--resume", "--heartbeat", "2", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    trials = load_study_trials(tmp_path)
    by_state = Counter((t.params["row"], t.state) for t in trials)
    assert by_state == Counter({("width 8", TrialState.COMPLETE): 1, ("width 16", TrialState.FAIL): 1,
                                ("width 16", TrialState.COMPLETE): 1})
    lost = next(t for t in trials if t.state == TrialState.FAIL)
    assert lost.user_attrs["fail_reason"].startswith("lost:")
    log = trial_log(tmp_path)
    assert Counter(log)[("done", 0)] == 1 and Counter(log)[("done", 1)] == 1  # row 0 reused, row 1 re-run once
    assert Counter(log)[("start", 1)] == 2


def test_failed_trial_is_recorded_and_the_sweep_goes_on(tmp_path, four_row_sweep):
    env = sweep_env(tmp_path, FAKE_TRIAL_FAIL="00-", FAKE_TRIAL_SLEEP="*:0.1")
    done = run_sweep(tmp_path, str(four_row_sweep), "--max-rows", "3", env=env)
    assert done.returncode == 1  # not every row finished
    trials = load_study_trials(tmp_path)
    assert len(trials) == 3
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert [t.params["row"] for t in failed] == ["width 8"]
    assert failed[0].user_attrs["fail_reason"] == "nan: injected failure"
    table = (tmp_path / "results" / "tiny_demo" / "table.md").read_text()
    assert "nan: injected failure" in table and "complete" in table
    # --resume does not retry a NaN row; --retry-failed does.
    again = run_sweep(tmp_path, str(four_row_sweep), "--max-rows", "3", "--resume",
                      env=sweep_env(tmp_path, FAKE_TRIAL_SLEEP="*:0.1"))
    assert again.returncode == 1 and len(load_study_trials(tmp_path)) == 3
    retry = run_sweep(tmp_path, str(four_row_sweep), "--max-rows", "3", "--resume", "--retry-failed",
                      env=sweep_env(tmp_path, FAKE_TRIAL_SLEEP="*:0.1"))
    assert retry.returncode == 0, retry.stdout + retry.stderr
    assert len(load_study_trials(tmp_path)) == 4


def test_fresh_run_starts_a_new_study_and_resume_reuses(tmp_path, four_row_sweep):
    env = sweep_env(tmp_path, FAKE_TRIAL_SLEEP="*:0.1")
    assert run_sweep(tmp_path, str(four_row_sweep), "--max-rows", "1", env=env).returncode == 0
    assert run_sweep(tmp_path, str(four_row_sweep), "--max-rows", "1", "--resume", env=env).returncode == 0
    assert Counter(trial_log(tmp_path))[("done", 0)] == 1  # resumed: nothing re-run
    assert run_sweep(tmp_path, str(four_row_sweep), "--max-rows", "1", env=env).returncode == 0
    assert Counter(trial_log(tmp_path))[("done", 0)] == 2  # a fresh run measures again, in a new study
    names = sorted(s.study_name for s in optuna.get_all_study_summaries(
        f"sqlite:///{tmp_path / 'results' / 'optuna.db'}"))
    assert len(names) == 2 and names[0].endswith("#1") and names[1].endswith("#2")


def test_unreachable_storage_is_a_clear_error(tmp_path, four_row_sweep):
    done = run_sweep(tmp_path, str(four_row_sweep), "--max-rows", "1",
                     "--storage", "postgresql://nobody:secret@127.0.0.1:1/none", timeout=300)
    assert done.returncode == 2
    assert "cannot open the study storage" in done.stderr and "secret" not in done.stderr


def _postgres_url() -> tuple[str | None, str]:
    """(URL, "") when a PostgreSQL server accepts the test URL, else (None, why not)."""
    url = os.environ.get("INPAINT_SUITE_TEST_POSTGRES", "postgresql://postgres@localhost:5432/postgres")
    try:
        import sqlalchemy as sa

        from sweeps.study import database_url

        with sa.create_engine(database_url(url), connect_args={"connect_timeout": 3}).connect():
            pass
    except Exception as error:  # noqa: BLE001 - any failure means: no usable server
        return None, f"no usable PostgreSQL at {url.split('@')[-1]} ({str(error).splitlines()[0][:120]}); " \
                     "set INPAINT_SUITE_TEST_POSTGRES=postgresql://user:pass@host/db"
    return url, ""


def test_postgresql_study(tmp_path, four_row_sweep):
    pytest.importorskip("psycopg2")
    url, why = _postgres_url()
    if url is None:
        pytest.skip(why)
    env = sweep_env(tmp_path, FAKE_TRIAL_SLEEP="*:0.5")
    seed = uuid.uuid4().int % 100000  # a new study on a shared server: the seed is part of the study's identity
    workers = [start_sweep(tmp_path, str(four_row_sweep), "--resume", "--storage", url, "--set",
                           f"seed_everything={seed}", env=env, log=f"pg{i}.log") for i in range(2)]
    assert [w.wait(timeout=600) for w in workers] == [0, 0]
    starts = Counter(r for w, r in trial_log(tmp_path) if w == "start")
    assert starts == Counter({0: 1, 1: 1, 2: 1, 3: 1})


def test_search_study_runs_n_trials_with_tpe(tmp_path):
    path = tmp_path / "tiny_search.yaml"
    path.write_text(
        "method: tiny\n"
        "paper: {title: demo, table: HPO}\n"
        "kind: search\n"
        "metrics: [psnr]\n"
        "search:\n"
        "  n_trials: 3\n"
        "  objective: {metric: psnr, direction: maximize}\n"
        "  space:\n"
        "    model.init_args.lr_g: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}\n"
        "    model.init_args.width: {type: int, low: 8, high: 16, step: 8}\n")
    done = run_sweep(tmp_path, str(path), env=sweep_env(tmp_path, FAKE_TRIAL_SLEEP="*:0.1"))
    assert done.returncode == 0, done.stdout + done.stderr
    trials = load_study_trials(tmp_path)
    assert len(trials) == 3 and all(t.state == TrialState.COMPLETE for t in trials)
    assert all(1e-5 <= t.params["model.init_args.lr_g"] <= 1e-3 and t.params["model.init_args.width"] in (8, 16)
               for t in trials)
    config = next((tmp_path / "results").rglob("00-*/config.yaml")).read_text()
    assert "lr_g" in config
    assert "best" in (tmp_path / "results" / "tiny_search" / "table.md").read_text()


def test_claims_are_exclusive_and_stale_heartbeats_free_the_row(tmp_path):
    from sweeps import study as st

    storage = st.open_storage(f"sqlite:///{tmp_path / 'db.sqlite'}", heartbeat=1)
    claims = st.Claims(storage)
    study = optuna.create_study(study_name="s#1", storage=storage)
    assert claims.claim("s#1", 0, 0) and not claims.claim("s#1", 0, 0)  # exactly one winner per (row, attempt)
    trial = st.create_running_trial(study, 0, ["a", "b"], {"label": "a"})
    claims.link("s#1", 0, 0, trial.number)
    # A worker on another machine that stopped beating: lost after the grace period (10 s here), not before.
    storage.set_trial_user_attr(trial._trial_id, "worker", "some-other-host:1")
    state = st.slot_states(study, claims, 2)[0]
    assert not st.claimable(state, retry_failed=False, max_lost=3)
    assert st.fail_lost_trials(study) == []
    time.sleep(11.5)
    assert st.fail_lost_trials(study) == [trial.number]
    state = st.slot_states(study, claims, 2)[0]
    assert state.attempts == 1 and st.claimable(state, retry_failed=False, max_lost=3)
    assert st.fail_reason(study.trials[0]).startswith("lost: no heartbeat")
    assert claims.claim("s#1", 0, 1)  # the next attempt


def test_storage_url_password_is_redacted():
    from sweeps.study import database_url, redact

    assert redact("postgresql://me:secret@db:5432/x") == "postgresql://me:***@db:5432/x"
    assert database_url("sqlite:///a.db") == "sqlite:///a.db"
