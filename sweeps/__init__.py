"""Ablation sweeps: one YAML per paper table (``sweeps/<name>.yaml``) and the Optuna runner (``inpaint-suite sweep``).

Modules: :mod:`sweeps.spec` (the file format), :mod:`sweeps.profiles` (budgets, generated trial configs),
:mod:`sweeps.row_configs` (a row's complete config), :mod:`sweeps.options` (the command line),
:mod:`sweeps.study` (Optuna storage, row claims, heartbeats), :mod:`sweeps.trial` (one fit + test in its own
process), :mod:`sweeps.worker` (a worker running a table's rows), :mod:`sweeps.table` (our numbers beside the
paper's), :mod:`sweeps.runner` (the command), :mod:`sweeps.search` (TPE studies), :mod:`sweeps.wandb_export` (W&B
sweep YAML), :mod:`sweeps.provenance` (repository and commit). See ``sweeps/README.md``.
"""
