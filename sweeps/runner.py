"""``inpaint-suite sweep [NAME] [options]``: train and evaluate every row of an ablation table, one Optuna study.

No NAME lists the sweeps. A trial is one ``fit`` + ``test`` in its own process (``python -m sweeps.trial``), so DDP
launches cleanly, a NaN or OOM fails only that row (recorded with its reason) and this process stays light. Several
runner processes on one storage (``--storage postgresql://...`` or the default SQLite file) share the rows: each
takes the next unclaimed row (see :mod:`sweeps.study`). Output: a Rich table and ``results/<name>/table.{md,csv,json}``.

A re-run row (lost with a killed worker, handed back by a preempted one) continues from the newest ``last.ckpt`` of
its earlier attempts that loads. SIGTERM/SIGUSR1 to a worker (preemption) is passed to its trial, which saves a
checkpoint; the row is handed back (claimable again, not counted against ``--max-lost``) and the worker exits with
``128 + signal`` (143, 138) without writing the table.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from assembly.errors import UsageError
from assembly.config import parse_sets
from assembly.resume import find_resume_checkpoint
from sweeps.spec import PROFILES, Row, Sweep, load_sweep, row_base_config, slug, sweep_paths, validate_sweep

REPO_ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------------------------- arguments
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="inpaint-suite sweep", description=(__doc__ or "").splitlines()[0])
    p.add_argument("name", nargs="?", help="sweep name (sweeps/<name>.yaml) or a sweep YAML path; none: list them")
    p.add_argument("--data", help="dataset kind (places2, celebahq, ade20k, folder, sample, ...); none: built-in photos")
    p.add_argument("--data-root", help="root folder of --data")
    p.add_argument("--profile", choices=PROFILES,
                   help="budget: smoke (built-in data, CPU, minutes), short (a few thousand steps), paper "
                        "(the paper's schedule); default smoke without --data, short with it")
    p.add_argument("--storage", help="Optuna RDB URL (default sqlite:///<results>/optuna.db); PostgreSQL lets "
                                     "several machines share one study")
    p.add_argument("--devices", type=int, help="devices per trial (DDP inside a trial when > 1)")
    p.add_argument("--resume", action="store_true",
                   help="join the latest study of this sweep/profile/data: finished rows are reused, lost ones re-run "
                        "(also how extra workers join)")
    p.add_argument("--retry-failed", action="store_true", help="with --resume: re-run rows that failed (NaN, OOM...)")
    p.add_argument("--export", choices=["wandb"], help="write a W&B sweep YAML (grid over the rows) and exit")
    p.add_argument("--results", default="results", help="results folder (default ./results)")
    p.add_argument("--row", action="append", default=[], metavar="LABEL", help="run only this row (repeatable)")
    p.add_argument("--max-rows", type=int, help="run only the first N rows (CI budgets)")
    p.add_argument("--max-steps", type=int, help="override trainer.max_steps of every row (CI budgets)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="dotted override for every row, VALUE read as YAML (e.g. data.batch_size=4); repeatable")
    p.add_argument("--heartbeat", type=int, default=30, help="trial heartbeat interval in s (lost after 3x)")
    p.add_argument("--max-lost", type=int, default=3, help="re-run a row lost by a killed worker at most N times")
    p.add_argument("--trial-timeout", type=float, help="fail a trial after this many seconds")
    p.add_argument("--validate", action="store_true",
                   help="check the sweep file and parse every row's config as the trial will, then exit")
    p.add_argument("--no-table", action="store_true", help="do not print the Rich table")
    p.add_argument("--progress-every", type=float, default=60, metavar="S",
                   help="when the output is not a terminal: a progress line every S seconds (0: none; a terminal "
                        "gets a live Rich display)")
    return p


def list_sweeps() -> int:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="sweeps (inpaint-suite sweep NAME | make sweep ABLATION=NAME)")
    for column in ("name", "kind", "method", "paper", "rows"):
        table.add_column(column)
    for name, path in sweep_paths().items():
        try:
            sweep = load_sweep(path)
            table.add_row(name, sweep.kind, str(sweep.method or "per row"),
                          f"{sweep.paper.get('table', '?')}: {str(sweep.paper.get('title', ''))[:60]}",
                          str(len(sweep.rows)))
        except UsageError as error:
            table.add_row(name, "INVALID", "", str(error)[:90], "")
    Console().print(table)
    return 0


# --------------------------------------------------------------------------------------------- configs
def cli_layer(args: argparse.Namespace) -> dict[str, Any]:
    layer: dict[str, Any] = {}
    if args.data:
        layer["data.dataset"] = args.data
    if args.data_root:
        layer["data.data_root"] = args.data_root
    if args.devices:
        layer["trainer.devices"] = args.devices
    if args.max_steps:
        layer["trainer.max_steps"] = args.max_steps
    layer.update(parse_sets(args.sets))
    return layer


def profile_layer(profile: str, model_section: dict[str, Any] | None,
                  data_section: dict[str, Any] | None = None) -> dict[str, Any]:
    """The runner's defaults of ``profile``; model keys only where the row's model has that option. A smoke run of
    a config that reads mask files draws :data:`sweeps.profiles.SMOKE_FILE_MASKS` instead."""
    from assembly.config import init_arg_names, model_class_of
    from sweeps.profiles import PROFILE_DEFAULTS, SMOKE_FILE_MASKS

    layer = dict(PROFILE_DEFAULTS[profile])
    data_section = data_section or {}
    if profile == "smoke" and (data_section.get("mask_dir") or data_section.get("eval_mask_dir")):
        layer.update({"data.masks": SMOKE_FILE_MASKS, "data.eval_masks": SMOKE_FILE_MASKS})
    model_names = set(init_arg_names(model_class_of(model_section))) if model_section else set()
    return {k: v for k, v in layer.items()
            if not k.startswith("model.init_args.") or k.split(".")[2] in model_names}


def effective_metrics(sweep: Sweep, profile: str, extra: dict[str, Any] | None = None) -> tuple[list[str], list[str]]:
    """(metrics measured, metrics skipped): smoke skips those needing pretrained networks (FID, LPIPS, KID...),
    and MS-SSIM below its minimum size (176 px)."""
    from evaluation.names import ALL_METRICS
    from sweeps.profiles import PROFILE_DEFAULTS

    wanted = [m for m in sweep.metrics if m in ALL_METRICS]
    if profile != "smoke":
        return wanted, []
    heavy = {"fid", "kid", "pids", "uids", "lpips", "lpips_alex", "lpips_vgg"}
    size = (extra or {}).get("data.image_size") or sweep.profiles.get("smoke", {}).get("data.image_size") \
        or PROFILE_DEFAULTS["smoke"]["data.image_size"]
    if int(size) < 176:
        heavy.add("ms_ssim")
    return [m for m in wanted if m not in heavy], [m for m in wanted if m in heavy]


def row_config(sweep: Sweep, row: Row, profile: str, extra: dict[str, Any], trial_dir: Path, metrics: list[str],
               logger_mode: str) -> dict[str, Any]:
    from sweeps.profiles import build_trial_config
    from sweeps.spec import check_keys, protocol_layer

    base = row_base_config(sweep, row)
    model = base.get("model")
    check_keys(list(extra), model, f"--set/--data options for row {row.label!r}")
    if model and sweep.evaluation_protocol and (model.get("init_args") or {}).get("evaluator_options") is None:
        model.setdefault("init_args", {})["evaluator_options"] = {}
    # `evaluation` (the test protocol: fixed mask files, eval image) points at real files: smoke keeps its model keys.
    evaluation = {k: v for k, v in sweep.evaluation.items() if profile != "smoke" or k.startswith("model.")}
    # The paper's metric settings come first, so that any later layer may still change one of them.
    layers = [protocol_layer(sweep), sweep.overrides, profile_layer(profile, model, base.get("data")),
              sweep.profiles.get(profile, {}),
              evaluation, row.overrides, row.profiles.get(profile, {}), extra]
    config = build_trial_config(base, layers=layers, trial_dir=trial_dir, sweep_name=sweep.name, label=row.label,
                                profile=profile, metrics=metrics, logger_mode=logger_mode, has_model=model is not None)
    _sync_image_size(config)
    return config


def parse_check(config: dict[str, Any], row_label: str) -> None:
    """Parse a row's complete config with the trial's LightningCLI parser, building no model or data (see
    :func:`sweeps.check.parse_trial_config`); a bad key or value is a one-line usage error naming the row."""
    from sweeps.check import parse_trial_config

    parse_trial_config(config, f"row {row_label!r}")


def _sync_image_size(config: dict[str, Any]) -> None:
    """A model with an ``image_size`` option (its training crop, e.g. HiFill's critic) follows ``data.image_size``:
    a profile or ``--set`` that changes the crop must not leave the model at the old size (Lightning also refuses
    differing hparams of the same name)."""
    from assembly.config import init_arg_names, model_class_of

    model, size = config.get("model"), (config.get("data") or {}).get("image_size")
    if model and size and "image_size" in init_arg_names(model_class_of(model)):
        model.setdefault("init_args", {})["image_size"] = size


def settings_hash(sweep: Sweep, rows: list[Row], profile: str, extra: dict[str, Any]) -> str:
    """Identifies what a study measures: a changed row, profile, data or budget starts a new study."""
    payload = {"profile": profile, "extra": extra, "overrides": sweep.overrides,
               "profile_overrides": sweep.profiles.get(profile, {}),
               "rows": [(r.label, r.method, r.baseline, r.overrides) + ((r.profiles.get(profile),) if r.profiles
                                                                          else ()) for r in rows]}
    if sweep.evaluation_protocol:  # other metric settings measure something else: a new study
        payload["protocol"] = sweep.evaluation_protocol
    return hashlib.sha1(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:8]


def git_commit() -> str:
    try:
        head = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (head + ("-dirty" if dirty else "")) or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# --------------------------------------------------------------------------------------------- one trial
def _preexec() -> None:  # pragma: no cover - runs in the child before exec
    from sweeps.trial import die_with_parent

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
        from sweeps.trial import PREEMPT_SIGNALS

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
    from sweeps.trial import HANDED_BACK

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
        from sweeps.profiles import wandb_mode

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
                    parse_check(config, row.label)

    def study_base(self) -> str:
        data = self.extra.get("data.dataset") or ("sample" if self.profile == "smoke" else "config")
        return f"{self.sweep.name}/{self.profile}/{data}/{settings_hash(self.sweep, self.rows, self.profile, self.extra)}"

    def open(self) -> None:
        import warnings

        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

        from sweeps import study as st

        if self.storage_url.startswith("sqlite:///"):
            Path(self.storage_url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        self.storage = st.open_storage(self.storage_url, heartbeat=self.args.heartbeat)
        self.claims = st.Claims(self.storage)
        base = self.study_base()
        self.study_name = st.study_name_for(base, self.storage, self.args.resume)
        direction = "maximize"
        if self.metrics and self.metrics[0] in _lower_is_better():
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
        from sweeps import study as st

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
        from sweeps import study as st

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
        from optuna.trial import TrialState

        from sweeps import study as st
        from sweeps.table import summarize_report

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
            from sweeps.wandb_log import row_context, write_row_file

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
            from sweeps.trial import classify_failure

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
        from optuna.trial import TrialState

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
                from sweeps.study import HANDED_BACK, fail_reason

                t = mine[-1]
                status = {TrialState.RUNNING: "running", TrialState.PRUNED: "pruned"}.get(t.state, "failed")
                if t.state == TrialState.FAIL and fail_reason(t).startswith(HANDED_BACK):
                    status = HANDED_BACK
                out.append({"label": row.label, "status": status, "reason": t.user_attrs.get("fail_reason"),
                            "trial": t.number})
            else:
                out.append({"label": row.label, "status": "not run", "reason": None, "trial": None})
        return out

    def settings(self, results: list[dict[str, Any]]) -> dict[str, Any]:
        from sweeps.study import redact

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
                "storage": redact(self.storage_url), "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def test_resolution(data: dict[str, Any]) -> str:
    """The size a row's test images are scored at, from its ``data`` section: ``native`` (eval crop ``none``) or
    ``N px`` (``test_image_size``, else ``image_size``)."""
    options = data.get("dataset_options") or {}
    if data.get("dataset") != "sample" and (options.get("eval_crop") or data.get("crop")) == "none":
        return "native"
    return f"{data.get('test_image_size') or data.get('image_size')} px"


def evaluation_notes(sweep: Sweep, rows: list[Row], profile: str, extra: dict[str, Any]) -> dict[str, str]:
    """How the rows are scored, from their generated configs: ``evaluation_protocol`` (the metric settings),
    ``test_resolution`` (native or N px) and, for models with an ``eval_protocol`` (DeepGIN: how the network sees a
    test image), its value; the last two beside the paper profile's when they differ (smoke/short evaluate small
    images in one pass for speed)."""
    from evaluation.protocols import describe_protocol

    def facts(name: str) -> tuple[set[str], set[str], set[str]]:
        protocols, network, sizes = set(), set(), set()
        for row in rows:
            if row.baseline:
                protocols.add(sweep.evaluation_protocol or "suite")
                continue
            config = row_config(sweep, row, name, extra, Path("."), [], "disabled")
            args = (config.get("model") or {}).get("init_args") or {}
            protocols.add((args.get("evaluator_options") or {}).get("protocol") or "suite (evaluator defaults)")
            if "eval_protocol" in args:
                network.add(str(args["eval_protocol"]))
            sizes.add(test_resolution(config.get("data") or {}))
        return protocols, network, sizes

    protocols, network, sizes = facts(profile)
    if sizes:
        paper_sizes = facts("paper")[2] if profile != "paper" else sizes
        note = ", ".join(sorted(sizes))
        if "native" in sizes:
            note += (" (native: batch 1; networks pad each image to their next accepted size and crop back before "
                     "the composite and the metrics)")
        if paper_sizes != sizes:
            note += f" ({profile} profile; the paper profile tests at {', '.join(sorted(paper_sizes))})"
        notes_resolution = {"test_resolution": note}
    else:
        notes_resolution = {}
    notes = {"evaluation_protocol": "; ".join(describe_protocol(p) if p in _protocol_names() else p
                                              for p in sorted(protocols))}
    if network:
        paper = facts("paper")[1] if profile != "paper" else network
        note = ", ".join(sorted(network))
        if paper != network:
            note += (f" ({profile} profile: one pass for speed, not the table's protocol; "
                     f"the paper profile uses {', '.join(sorted(paper))})")
        notes["network_eval_protocol"] = note
    notes.update(notes_resolution)
    return notes


def _protocol_names() -> set[str]:
    from evaluation.protocols import PROTOCOLS

    return set(PROTOCOLS)


def _lower_is_better() -> set[str]:
    from sweeps.spec import LOWER_IS_BETTER

    return LOWER_IS_BETTER


def _objective(summary: dict[str, Any], metrics: list[str], bucket: str | None = None) -> float:
    """The first metric on the part of the report the table scores (the row's bucket, else all images)."""
    from sweeps.trial import score_group

    overall = score_group(summary, bucket).get("metrics") or {}
    for m in metrics:
        value = (overall.get(m) or {}).get("mean")
        if isinstance(value, (int, float)):
            return float(value)
    return 0.0


def select_rows(sweep: Sweep, args: argparse.Namespace) -> list[Row]:
    rows = list(sweep.rows)
    if args.row:
        labels = {r.label for r in rows}
        missing = [label for label in args.row if label not in labels]
        if missing:
            raise UsageError(f"{sweep.path}: no row {missing[0]!r}; rows: {', '.join(sorted(labels))}")
        rows = [r for r in rows if r.label in args.row]
    if args.max_rows:
        rows = rows[: args.max_rows]
    return rows


def print_table(sweep: Sweep, payload: dict[str, Any]) -> None:
    from rich.console import Console

    from sweeps.table import render_rich

    Console(width=max(160, 30 + 30 * len(sweep.metrics))).print(render_rich(sweep, payload["rows"],
                                                                              payload["settings"]))


def run_model_info(sweep: Sweep, rows: list[Row], args: argparse.Namespace) -> int:
    """``kind: model_info``: params and GFLOPs per row, no training."""
    from assembly.model_info import model_info
    from sweeps.table import write_tables

    results = []
    for row in rows:
        overrides = {k.removeprefix("model.init_args."): v for k, v in row.overrides.items()}
        try:
            info = model_info(row.method, overrides, size=sweep.size, config=sweep.config or row.config)
        except Exception as error:  # noqa: BLE001 - a row that cannot be built is reported, the rest go on
            from sweeps.trial import classify_failure

            results.append({"label": row.label, "status": "failed", "reason": classify_failure(error)})
            continue
        gflops = next((v for k, v in info.items() if k.startswith("gflops")), None)
        values = {"params": info.get("generator_params"), "generator_params": info.get("generator_params"),
                  "discriminator_params": info.get("discriminator_params"), "gflops": gflops}
        metrics = {k: {"mean": v} for k, v in values.items() if v is not None}
        results.append({"label": row.label, "status": "complete", "reason": None,
                        "summary": {"overall": {"n": None, "metrics": metrics}}})
    settings = {"profile": "model_info", "size": f"{sweep.size}x{sweep.size}",
                "flops": "torch.utils.flop_counter, FLOPs = 2 x MACs of generate()", "commit": git_commit()}
    payload = write_tables(Path(args.results).resolve() / sweep.name, sweep, results, settings)
    if not args.no_table:
        print_table(sweep, payload)
    from sweeps.report import after_sweep

    after_sweep(Path(args.results).resolve() / sweep.name, payload)
    return 0 if all(r["status"] == "complete" for r in results) else 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    if not args.name:
        return list_sweeps()
    sweep = load_sweep(args.name)
    validate_sweep(sweep)
    selected = select_rows(sweep, args)
    rows = sweep.rows
    if args.export == "wandb":
        from sweeps.wandb_export import write_wandb_sweep

        path = write_wandb_sweep(sweep, selected, args, Path(args.results).resolve() / sweep.name)
        print(f"wrote {path}: `wandb sweep {path}` then `wandb agent <id>` (needs the W&B service)")
        return 0
    if sweep.kind == "evaluation":
        raise UsageError(f"{sweep.name} is an evaluation protocol ({sweep.paper.get('table')}): it scores a trained "
                         f"checkpoint on the real test set, which needs the dataset and the trained weights; "
                         f"the file is valid — run `inpaint-suite test --config {sweep.config or sweep.method} "
                         f"--ckpt_path CKPT` with its `evaluation` settings")
    if sweep.kind == "model_info":
        return 0 if args.validate else run_model_info(sweep, selected, args)
    if sweep.kind == "search":
        from sweeps.search import run_search

        return run_search(sweep, args)
    profile = args.profile or ("short" if args.data else "smoke")
    if not args.data and not args.profile:
        print(f"[sweep {sweep.name}] no --data given: built-in sample photos, smoke profile "
              f"(a pipeline check; numbers are not comparable with the paper's)", flush=True)
    run = SweepRun(sweep, rows, args, profile, selected)
    run.check_configs()
    if args.validate:
        print(f"{sweep.path}: {len(selected)} row(s) valid")
        return 0
    run.open()
    print(f"[sweep {sweep.name}] study {run.study_name} on {run.storage_url.split('@')[-1]}", flush=True)
    run.preemption.install()
    from sweeps.progress import SweepProgress

    done = sum(r["status"] == "complete" for r in run.results() if r["label"] in {x.label for x in selected})
    run.progress = SweepProgress(sweep.name, total=len(selected), done=done, interval=args.progress_every)
    with run.progress:
        run.work()
    if run.preemption.signum:
        # Preempted: exit at once (the cluster's grace period is short); the table is written by whoever finishes.
        print(f"[sweep {sweep.name}] preempted by {run.preemption.name}: running row handed back; continue with "
              f"--resume (exit {run.preemption.exit_code})", flush=True)
        return run.preemption.exit_code
    results = run.results()
    from sweeps.table import write_tables

    payload = write_tables(run.out_dir, sweep, results, run.settings(results))
    if not args.no_table:
        print_table(sweep, payload)
    print(f"[sweep {sweep.name}] wrote {run.out_dir / 'table.md'} (.csv, .json)", flush=True)
    from sweeps.report import after_sweep

    after_sweep(run.out_dir, payload, run.logger_mode)  # figures/, report.md, the W&B comparison run
    chosen = {r.label for r in selected}
    return 0 if all(r["status"] == "complete" for r in results if r["label"] in chosen) else 1


def copy_args(args: argparse.Namespace, **changes) -> argparse.Namespace:
    new = copy.copy(args)
    for k, v in changes.items():
        setattr(new, k, v)
    return new
