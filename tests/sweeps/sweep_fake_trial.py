"""A fast stand-in for ``python -m sweeps.trial`` (selected with ``SWEEPS_TRIAL_MODULE=sweep_fake_trial``).

Same command line; trains nothing. It appends ``start <dir>`` / ``done <dir>`` to ``$FAKE_TRIAL_LOG``, writes its pid to
``<out>/pid``, sleeps ``$FAKE_TRIAL_SLEEP`` seconds (``"0:0.1,1:60"``: per row index, the two leading digits of the
trial folder), and writes a report whose PSNR is the row index. A row whose folder contains ``$FAKE_TRIAL_FAIL``
fails with a NaN-like reason. Used by the scheduling tests (workers, kill/resume) so they cost no training.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

from sweeps.trial import die_with_parent


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--baseline")
    parser.add_argument("--metrics")
    parser.add_argument("--prune")
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
