"""``kind: search`` studies: TPE over declared distributions, Lightning pruning inside each trial.

```yaml
kind: search
method: tiny
metrics: [psnr, ssim]
search:
  n_trials: 20
  objective: {metric: psnr, direction: maximize}
  prune: {monitor: val/psnr}            # optional: Optuna's PyTorchLightningPruningCallback, median pruner
  space:
    model.init_args.lr_g: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}
    model.init_args.width: {type: int, low: 8, high: 32, step: 8}
    data.masks: {type: categorical, choices: [aim_free_form, aim_box]}
```
Trial slots ``0..n_trials-1`` are claimed like table rows (:mod:`sweeps.study`), so several workers never exceed
``n_trials`` and a killed worker's trial is re-run.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from sweeps import study as st
from sweeps.report import after_sweep
from sweeps.row_configs import row_config
from sweeps.spec import Row, Sweep
from sweeps.table import print_table, summarize_report, write_tables
from sweeps.worker import SweepRun, run_trial_process


def distributions(space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out = {}
    for key, d in space.items():
        if d["type"] == "float":
            out[key] = FloatDistribution(float(d["low"]), float(d["high"]), log=bool(d.get("log", False)),
                                         step=d.get("step"))
        elif d["type"] == "int":
            out[key] = IntDistribution(int(d["low"]), int(d["high"]), log=bool(d.get("log", False)),
                                       step=int(d.get("step", 1)))
        else:
            out[key] = CategoricalDistribution(list(d["choices"]))
    return out


def run_search(sweep: Sweep, args: argparse.Namespace) -> int:
    search = sweep.search
    profile = args.profile or ("short" if args.data else "smoke")
    n_trials = args.max_rows or search["n_trials"]
    slots = [Row(label=f"trial {i}", method=sweep.method, overrides={}, paper=None, index=i) for i in range(n_trials)]
    run = SweepRun(sweep, slots, args, profile)
    objective = search["objective"]
    if objective["metric"] not in run.metrics:
        run.metrics.append(objective["metric"])
    if args.validate:
        row_config(sweep, slots[0], profile, run.extra, run.out_dir / "check", run.metrics, "disabled")
        return 0
    if run.storage_url.startswith("sqlite:///"):
        Path(run.storage_url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    run.storage = st.open_storage(run.storage_url, heartbeat=args.heartbeat)
    run.claims = st.Claims(run.storage)
    run.study_name = st.study_name_for(run.study_base(), run.storage, args.resume)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=2) if search.get("prune") else optuna.pruners.NopPruner()
    run.study = optuna.create_study(study_name=run.study_name, storage=run.storage,
                                    direction=objective["direction"], sampler=optuna.samplers.TPESampler(seed=0),
                                    pruner=pruner, load_if_exists=True)
    dists = distributions(search["space"])
    while True:
        st.fail_lost_trials(run.study)
        states = st.slot_states(run.study, run.claims, n_trials)
        todo = [s for s in states if st.claimable(s, args.retry_failed, args.max_lost)]
        if not todo:
            if any(s.running or s.pending_claim for s in states):
                time.sleep(min(args.heartbeat, 5))
                continue
            break
        state = todo[0]
        if not run.claims.claim(run.study_name, state.slot, state.attempts):
            continue
        trial = run.study.ask(fixed_distributions=dists)
        for key, value in {"slot": state.slot, "worker": st.worker_id(), "attempt": state.attempts,
                           "label": f"trial {state.slot}"}.items():
            trial.set_user_attr(key, value)
        run.storage.record_heartbeat(trial._trial_id)
        run.claims.link(run.study_name, state.slot, state.attempts, trial.number)
        row = Row(label=f"trial {state.slot}", method=sweep.method, overrides=dict(trial.params), paper=None,
                  index=state.slot)
        out = run.trial_dir(row, trial.number)
        out.mkdir(parents=True, exist_ok=True)
        config = row_config(sweep, row, profile, run.extra, out, run.metrics, run.logger_mode)
        (out / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        prune = None
        if search.get("prune"):
            prune = {"storage": st.database_url(run.storage_url), "study": run.study_name, "trial_id": trial._trial_id,
                     "monitor": search["prune"].get("monitor", "val/psnr")}
        frozen = run.storage.get_trial(trial._trial_id)
        with st.Heartbeat(run.storage, trial._trial_id, args.heartbeat):
            result = run_trial_process(out / "config.yaml", out, row, run.metrics, args.trial_timeout, prune)
        if result["status"] == "complete":
            summary = summarize_report(json.loads((out / "test_report.json").read_text()))
            value = ((summary["overall"] or {}).get("metrics", {}).get(objective["metric"]) or {}).get("mean")
            st.finish_trial(run.study, frozen, TrialState.COMPLETE if value is not None else TrialState.FAIL, value,
                            {"summary": summary, "status": "complete"})
        else:
            st.finish_trial(run.study, frozen, TrialState.PRUNED if result["status"] == "pruned" else TrialState.FAIL,
                            None, {"fail_reason": result.get("reason"), "status": result["status"]})
    # The table: one row per trial, labelled with its parameters.
    trials = sorted(run.study.get_trials(deepcopy=False), key=lambda t: t.number)
    rows, results = [], []
    for t in trials:
        label = f"#{t.number} " + ", ".join(f"{k.split('.')[-1]}={v:.3g}" if isinstance(v, float)
                                             else f"{k.split('.')[-1]}={v}" for k, v in t.params.items())
        rows.append(Row(label=label, method=sweep.method, overrides=dict(t.params), paper=None, index=len(rows)))
        results.append({"label": label, "status": t.state.name.lower(), "reason": t.user_attrs.get("fail_reason"),
                        "trial": t.number, "summary": t.user_attrs.get("summary")})
    table_sweep = Sweep(**{**sweep.__dict__, "rows": rows})
    settings = run.settings(results)
    try:
        best = run.study.best_trial
        settings["best"] = f"#{best.number} {objective['metric']}={best.value:.4g} {best.params}"
    except ValueError:
        settings["best"] = None
    payload = write_tables(run.out_dir, table_sweep, results, settings)
    if not args.no_table:
        print_table(table_sweep, payload)
    after_sweep(run.out_dir, payload, run.logger_mode)
    return 0 if any(t.state == TrialState.COMPLETE for t in trials) else 1
