"""One sweep worker: runs the rows of a table study, each trial in its own process (``python -m sweeps.trial``).

A trial runs in a child process, so DDP launches cleanly, a NaN or OOM fails only that row (recorded with its
reason) and the worker stays light. Several workers on one storage share the rows (see :mod:`sweeps.study`).
A re-run row continues from the newest ``last.ckpt`` of its earlier attempts that loads. SIGTERM/SIGUSR1 to a worker
(preemption) is passed to its trial, which saves a checkpoint; the row is handed back.

:mod:`sweeps.search` runs its TPE trials with the same pieces (:func:`run_trial_process`, :class:`SweepRun`).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.trial import TrialState

from assembly.resume import find_resume_checkpoint
from sweeps import study as st
from sweeps.check import parse_trial_config
from sweeps.options import cli_layer
from sweeps.profiles import wandb_mode
from sweeps.provenance import REPO_ROOT, git_commit
from sweeps.row_configs import effective_metrics, evaluation_notes, row_config, settings_hash
from sweeps.spec import LOWER_IS_BETTER, Row, Sweep, slug
from sweeps.table import score_group, summarize_report
from sweeps.trial import HANDED_BACK, PREEMPT_SIGNALS, classify_failure, die_with_parent
from sweeps.wandb_log import row_context, write_row_file


def _preexec() -> None:  # pragma: no cover - runs in the child before exec
    die_with_parent()


class Preemption:
    """SIGTERM/SIGUSR1 to a worker (a cluster preempting it): forward the signal to the running trial, which saves a
    checkpoint and reports ``handed back``; the worker then claims no more rows and exits with ``128 + signal``.

    Written here rather than taken from Lightning: the worker runs no Trainer (its trials are child processes), and
    the signal must reach the child whether the cluster signals the whole process group or only the worker.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self.child: subprocess.Popen | None = None

    def install(self) -> None:
        for signum in PREEMPT_SIGNALS:
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame) -> None:
        self.signum = self.signum or signum
        self.forward()

    def forward(self) -> None:
        child = self.child
        if self.signum and child is not None and child.returncode is None:
            try:
                child.send_signal(self.signum)
            except OSError:
                pass  # already gone

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else ""

    @property
    def exit_code(self) -> int:
        return 128 + int(self.signum or 0)


def run_trial_process(config_path: Path, out: Path, row: Row, metrics: list[str], timeout: float | None,
                      prune: dict[str, Any] | None = None, ckpt_path: Path | None = None,
                      preemption: Preemption | None = None, protocol: str | None = None) -> dict[str, Any]:
    """Run ``python -m sweeps.trial`` and return ``result.json`` (or a reason built from the exit status).
    ``protocol``: the evaluation protocol of a baseline row (a trained row reads it from its config)."""
    # SWEEPS_TRIAL_MODULE: another module with sweeps.trial's command line (tests use a fast stand-in).
    cmd = [sys.executable, "-m", os.environ.get("SWEEPS_TRIAL_MODULE", "sweeps.trial"), "--config", str(config_path),
           "--out", str(out)]
    if row.baseline:
        cmd += ["--baseline", row.baseline, "--metrics", ",".join(metrics)]
        if protocol:
            cmd += ["--protocol", protocol]
    if prune:
        cmd += ["--prune", json.dumps(prune)]
    if ckpt_path:
        cmd += ["--ckpt-path", str(ckpt_path)]
    if row.bucket:
        cmd += ["--bucket", row.bucket]
    if preemption and preemption.signum:
        return {"status": HANDED_BACK, "reason": f"{HANDED_BACK}: preempted by {preemption.name} before the trial "
                                                 f"started"}
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    log_path = out / "log.txt"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=os.getcwd(),
                                preexec_fn=_preexec if sys.platform.startswith("linux") else None)
        if preemption:
            preemption.child = proc
            preemption.forward()  # a signal that came while the process started
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return {"status": "failed", "reason": f"timeout: no result after {timeout:g} s"}
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            if preemption:
                preemption.child = None
    result_path = out / "result.json"
    if result_path.is_file():
        return json.loads(result_path.read_text())
    if preemption and preemption.signum:  # the trial died of the forwarded signal before it could hand back
        return {"status": HANDED_BACK, "reason": f"{HANDED_BACK}: preempted by {preemption.name}; the trial ended "
                                                 f"(exit status {code}) without saving a checkpoint"}
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        hint = " (out of memory? the kernel's OOM killer sends SIGKILL)" if -code == signal.SIGKILL else ""
        return {"status": "failed", "reason": f"oom?: trial process killed by {name}{hint}" if hint
                else f"error: trial process killed by {name}"}
    tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] if log_path.is_file() else []
    return {"status": "failed", "reason": f"error: exit code {code}: {tail[0][:300] if tail else ''}"}


# --------------------------------------------------------------------------------------------- the sweep
class SweepRun:
    """One runner process working on one study."""

    def __init__(self, sweep: Sweep, rows: list[Row], args: argparse.Namespace, profile: str,
                 selected: list[Row] | None = None) -> None:
        # The study always covers every row (so workers running different --row subsets share it);
        # ``selected`` are the rows this process works on and waits for.
        self.sweep, self.rows, self.args, self.profile = sweep, rows, args, profile
        self.selected = {r.index for r in (selected if selected is not None else rows)}
        self.results_dir = Path(args.results).resolve()
        self.out_dir = self.results_dir / sweep.name
        self.extra = cli_layer(args)
        self.metrics, self.skipped = effective_metrics(sweep, profile, self.extra)
        self.logger_mode = wandb_mode()
        self.storage_url = args.storage or f"sqlite:///{self.results_dir / 'optuna.db'}"
        self.preemption = Preemption()
        self.progress = None  # a sweeps.progress.SweepProgress while work() runs

    # --- configs are built and parsed (as the trial will parse them) for every row before anything trains
    def check_configs(self) -> None:
        for row in self.rows:
            if row.index in self.selected:
                config = row_config(self.sweep, row, self.profile, self.extra, self.out_dir / "check", self.metrics,
                                    "disabled")
                if not row.baseline:  # a baseline row runs no LightningCLI
                    parse_trial_config(config, f"row {row.label!r}")

    def study_base(self) -> str:
        data = self.extra.get("data.dataset") or ("sample" if self.profile == "smoke" else "config")
        return f"{self.sweep.name}/{self.profile}/{data}/{settings_hash(self.sweep, self.rows, self.profile, self.extra)}"

    def open(self) -> None:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

        if self.storage_url.startswith("sqlite:///"):
            Path(self.storage_url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        self.storage = st.open_storage(self.storage_url, heartbeat=self.args.heartbeat)
        self.claims = st.Claims(self.storage)
        base = self.study_base()
        self.study_name = st.study_name_for(base, self.storage, self.args.resume)
        direction = "maximize"
        if self.metrics and self.metrics[0] in LOWER_IS_BETTER:
            direction = "minimize"
        labels = [r.label for r in self.rows]
        sampler = optuna.samplers.GridSampler({"row": labels}, seed=0)
        self.study = st.retry_creation_race(lambda: optuna.create_study(
            study_name=self.study_name, storage=self.storage, direction=direction, sampler=sampler,
            load_if_exists=True))
        for key, value in {"sweep": self.sweep.name, "profile": self.profile, "table": self.sweep.paper.get("table"),
                           "rows": labels}.items():
            self.study.set_user_attr(key, value)

    def trial_dir(self, row: Row, number: int) -> Path:
        run = slug(self.study_name.replace("/", "_").replace("#", "_run"))
        return self.out_dir / "runs" / run / f"{row.index:02d}-{slug(row.label)}-t{number}"

    def work(self) -> None:
        """Claim and run rows until none is left; wait for other workers' running rows (and take lost ones over)."""
        while not self.preemption.signum:
            st.fail_lost_trials(self.study)
            states = [s for s in st.slot_states(self.study, self.claims, len(self.rows)) if s.slot in self.selected]
            todo = [s for s in states if st.claimable(s, self.args.retry_failed, self.args.max_lost)]
            if todo:
                state = todo[0]
                if self.claims.claim(self.study_name, state.slot, state.attempts):
                    self.run_row(self.rows[state.slot], state)
                continue
            if any(s.running or s.pending_claim for s in states):
                for _ in range(int(min(self.args.heartbeat, 5) / 0.25)):  # short naps: a preemption ends the wait
                    if self.preemption.signum:
                        return
                    time.sleep(0.25)
                continue
            return

    def resume_checkpoint(self, row: Row, number: int) -> tuple[Path | None, int]:
        """The newest loadable ``last.ckpt`` of the row's earlier attempts, back to the last one that failed for
        another reason than lost/handed back (a NaN row retried with ``--retry-failed`` starts over)."""
        folders = []
        trials = sorted((t for t in self.study.get_trials(deepcopy=False)
                         if t.user_attrs.get("slot") == row.index and t.number < number), key=lambda t: t.number)
        for t in reversed(trials):
            if t.state.name != "FAIL" or not st.resumable(st.fail_reason(t)):
                break
            if t.user_attrs.get("trial_dir"):
                folders.append(Path(t.user_attrs["trial_dir"]))
        found = find_resume_checkpoint(*folders)
        for path, error in found.unreadable:
            print(f"[sweep {self.sweep.name}] row {row.label!r}: checkpoint {path} does not load ({error}); "
                  f"using the previous one", flush=True)
        return found.path, found.step

    def run_row(self, row: Row, state) -> None:
        labels = [r.label for r in self.rows]
        trial = st.create_running_trial(self.study, state.slot, labels,
                                        {"label": row.label, "attempt": state.attempts, "profile": self.profile})
        self.claims.link(self.study_name, state.slot, state.attempts, trial.number)
        out = self.trial_dir(row, trial.number)
        started = time.time()
        try:
            out.mkdir(parents=True, exist_ok=True)
            config = row_config(self.sweep, row, self.profile, self.extra, out, self.metrics, self.logger_mode)
            config_path = out / "config.yaml"
            config_path.write_text(yaml.safe_dump(config, sort_keys=False))
            self.storage.set_trial_user_attr(trial._trial_id, "trial_dir", str(out))
            write_row_file(out, row_context(self.sweep, row, self.profile, git_commit()))  # paper numbers for W&B
            if self.progress:
                self.progress.start_row(row.label, out, (config.get("trainer") or {}).get("max_steps"))
            print(f"[sweep {self.sweep.name}] trial {trial.number}: row {row.label!r} -> {out}", flush=True)
            ckpt, step = (None, 0) if row.baseline else self.resume_checkpoint(row, trial.number)
            if ckpt:
                self.storage.set_trial_user_attr(trial._trial_id, "resumed_from", f"{ckpt} (step {step})")
                print(f"[sweep {self.sweep.name}] row {row.label}: resuming from {ckpt} at step {step}", flush=True)
            with st.Heartbeat(self.storage, trial._trial_id, self.args.heartbeat):
                result = run_trial_process(config_path, out, row, self.metrics, self.args.trial_timeout,
                                           ckpt_path=ckpt, preemption=self.preemption,
                                           protocol=self.sweep.evaluation_protocol)
        except Exception as error:  # noqa: BLE001 - recorded, the sweep goes on
            result = {"status": "failed", "reason": classify_failure(error)}
        except BaseException:
            st.finish_trial(self.study, trial, TrialState.FAIL, None,
                            {"fail_reason": f"{st.LOST}: the sweep worker was interrupted"})
            raise
        if self.progress:
            self.progress.end_row(finished=result["status"] != st.HANDED_BACK)
        attrs: dict[str, Any] = {"seconds": round(time.time() - started, 1), "status": result["status"]}
        if result["status"] == "complete":
            report = json.loads((out / "test_report.json").read_text())
            summary = summarize_report(report)
            attrs["summary"] = summary
            value = _objective(summary, self.metrics, row.bucket)
            st.finish_trial(self.study, trial, TrialState.COMPLETE, value, attrs)
            print(f"[sweep {self.sweep.name}] trial {trial.number}: row {row.label!r} complete", flush=True)
        elif result["status"] == st.HANDED_BACK:
            attrs["fail_reason"] = result.get("reason") or st.HANDED_BACK
            st.finish_trial(self.study, trial, TrialState.FAIL, None, attrs)
            print(f"[sweep {self.sweep.name}] trial {trial.number}: row {row.label!r} {attrs['fail_reason']}",
                  flush=True)
        else:
            attrs["fail_reason"] = result.get("reason") or "unknown"
            state_ = TrialState.PRUNED if result["status"] == "pruned" else TrialState.FAIL
            st.finish_trial(self.study, trial, state_, None, attrs)
            print(f"[sweep {self.sweep.name}] trial {trial.number}: row {row.label!r} FAILED: {attrs['fail_reason']}"
                  f" (log: {out / 'log.txt'})", flush=True)

    # --- results
    def results(self) -> list[dict[str, Any]]:
        out = []
        trials = self.study.get_trials(deepcopy=False)
        for i, row in enumerate(self.rows):
            mine = [t for t in trials if t.user_attrs.get("slot") == i]
            complete = [t for t in mine if t.state == TrialState.COMPLETE]
            if complete:
                t = complete[-1]
                out.append({"label": row.label, "status": "complete", "reason": None, "trial": t.number,
                            "summary": t.user_attrs.get("summary")})
            elif mine:
                t = mine[-1]
                status = {TrialState.RUNNING: "running", TrialState.PRUNED: "pruned"}.get(t.state, "failed")
                if t.state == TrialState.FAIL and st.fail_reason(t).startswith(HANDED_BACK):
                    status = HANDED_BACK
                out.append({"label": row.label, "status": status, "reason": t.user_attrs.get("fail_reason"),
                            "trial": t.number})
            else:
                out.append({"label": row.label, "status": "not run", "reason": None, "trial": None})
        return out

    def settings(self, results: list[dict[str, Any]]) -> dict[str, Any]:
        mask_set = mask_hash = images = size = None
        for r in results:
            s = ((r.get("summary") or {}).get("settings")) or {}
            mask_set, mask_hash = mask_set or s.get("mask_set"), mask_hash or s.get("mask_set_hash")
            images, size = images or s.get("num_images"), size or s.get("image_size")
        data = self.extra.get("data.dataset") or ("sample (built-in photos)" if self.profile == "smoke"
                                                   else "as in the method config")
        return {"profile": self.profile, "data": data, "data_root": self.extra.get("data.data_root"),
                "max_steps": self.extra.get("trainer.max_steps", "profile/config"),
                "devices": self.extra.get("trainer.devices", 1), "test_images": images, "image_size": size,
                "mask_set": mask_set or "synthesised (seeded generator)", "mask_manifest_hash": mask_hash,
                "not_measured": ", ".join(self.skipped) or None,
                "paper_units": ", ".join(f"{k} x{v:g}" for k, v in self.sweep.paper_units.items()) or None,
                **evaluation_notes(self.sweep, self.rows, self.profile, self.extra),
                "bucket_rows": "scored on all test images (smoke masks are not bucketed)"
                if self.profile == "smoke" and any(r.bucket for r in self.rows) else None, "commit": git_commit(), "study": self.study_name,
                "storage": st.redact(self.storage_url), "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def _objective(summary: dict[str, Any], metrics: list[str], bucket: str | None = None) -> float:
    """The first metric on the part of the report the table scores (the row's bucket, else all images)."""
    overall = score_group(summary, bucket).get("metrics") or {}
    for m in metrics:
        value = (overall.get(m) or {}).get("mean")
        if isinstance(value, (int, float)):
            return float(value)
    return 0.0
