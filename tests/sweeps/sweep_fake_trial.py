"""A fast stand-in for ``python -m sweeps.trial`` (selected with ``SWEEPS_TRIAL_MODULE=sweep_fake_trial``).

Same command line; trains nothing. It appends ``start <dir>`` / ``done <dir>`` to ``$FAKE_TRIAL_LOG``, writes its pid to
``<out>/pid``, sleeps ``$FAKE_TRIAL_SLEEP`` seconds (``"0:0.1,1:60"``: per row index, the two leading digits of the
trial folder), and writes a report whose PSNR is the row index. A row whose folder contains ``$FAKE_TRIAL_FAIL``
fails with a NaN-like reason. Used by the scheduling tests (workers, kill/resume) so they cost no training.

With ``$FAKE_TRIAL_STEP_SLEEP`` it simulates training instead of sleeping: ``trainer.max_steps`` steps of that many
seconds, from the ``global_step`` of ``--ckpt-path`` when given, saving ``<out>/checkpoints/last.ckpt`` (a real
``torch.save`` file) every ``$FAKE_TRIAL_CKPT_EVERY`` steps (default 5). SIGTERM/SIGUSR1 are handled by the real
trial's :data:`sweeps.trial.PREEMPTION`: the next step boundary saves a checkpoint and writes the real "handed back"
result. ``<out>/steps.json`` records ``{"start": first step, "end": last step}``.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import yaml

from sweeps.trial import LAST_CKPT, PREEMPTION, checkpoint_step, die_with_parent, write_handed_back


def save(out: Path, step: int) -> None:
    import torch

    path = out / "checkpoints" / LAST_CKPT
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".last.tmp")
    torch.save({"global_step": step, "state_dict": {"w": torch.full((4,), float(step))}}, tmp)
    os.replace(tmp, path)


def train(args, out: Path) -> bool:
    """Simulated steps; False when preempted (the result is written)."""
    max_steps = int(yaml.safe_load(args.config.read_text())["trainer"]["max_steps"])
    step = checkpoint_step(args.ckpt_path) if args.ckpt_path else 0
    start = step
    every = int(os.environ.get("FAKE_TRIAL_CKPT_EVERY", "5"))
    delay = float(os.environ["FAKE_TRIAL_STEP_SLEEP"])
    PREEMPTION.in_lightning = True  # as inside Lightning's loops: the signal stops training at a step boundary
    while step < max_steps:
        if PREEMPTION.signum is not None:
            save(out, step)
            write_handed_back(out, f"{PREEMPTION.name} during training")
            return False
        time.sleep(delay)
        step += 1
        if step % every == 0:
            save(out, step)
    (out / "steps.json").write_text(json.dumps({"start": start, "end": step}))
    return True


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--baseline")
    parser.add_argument("--metrics")
    parser.add_argument("--prune")
    parser.add_argument("--ckpt-path", type=Path)
    parser.add_argument("--bucket")
    parser.add_argument("--protocol")
    args = parser.parse_args()
    die_with_parent()
    out = args.out
    row = int(out.name[:2])
    (out / "pid").write_text(str(os.getpid()))
    log = os.environ.get("FAKE_TRIAL_LOG")

    def note(word: str) -> None:
        if log:
            with open(log, "a") as handle:
                handle.write(f"{word} {row} {out.name}\n")

    if os.environ.get("FAKE_TRIAL_STEP_SLEEP"):
        PREEMPTION.install()
        note("start")
        if not train(args, out):
            note("handed_back")
            return 0
    else:
        note("start")
        sleeps = dict(item.split(":") for item in os.environ.get("FAKE_TRIAL_SLEEP", "").split(",") if ":" in item)
        time.sleep(float(sleeps.get(str(row), sleeps.get("*", 0.1))))
    if os.environ.get("FAKE_TRIAL_FAIL") and os.environ["FAKE_TRIAL_FAIL"] in out.name:
        (out / "result.json").write_text(json.dumps({"status": "failed", "reason": "nan: injected failure"}))
        note("failed")
        return 0
    metric = {"mean": float(row), "ci95": [row - 0.5, row + 0.5], "n": 4, "std": 0.1}
    report = {"settings": {"num_images": 4, "image_size": [64, 64], "mask_set_hash": "fakehash"},
              "overall": {"n": 4, "metrics": {"psnr": metric, "ssim": metric, "l1": metric}}}
    (out / "test_report.json").write_text(json.dumps(report))
    (out / "result.json").write_text(json.dumps({"status": "complete", "reason": None}))
    note("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
