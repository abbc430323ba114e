"""``inpaint-suite model-info METHOD [--set key=value ...] [--json]``: parameter counts and GFLOPs.

FLOPs are counted by ``torch.utils.flop_counter`` for one ``generate()`` call on a 1×3×S×S image with a centre
hole (S = 256 unless ``--size``): FLOPs = 2 × multiply-adds of convolutions and matrix products; element-wise
operations, normalisations and activations are not counted (the convention of fvcore/thop-style tables).
"""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from assembly import model_info as info_module
from assembly.config import parse_sets
from lightning_modules import METHODS


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="inpaint-suite model-info", description=__doc__.splitlines()[0])
    parser.add_argument("method", help=f"one of: {', '.join(sorted(METHODS))}")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="override a model option (model.init_args.KEY), VALUE read as YAML; repeatable")
    parser.add_argument("--config", help="packaged config name or YAML path (default: the method's)")
    parser.add_argument("--size", type=int, default=256, help="square input size for FLOPs (default 256)")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args(argv)
    info = info_module.model_info(args.method, parse_sets(args.sets, strip_prefix="model.init_args."), args.size, args.config)
    if args.json:
        print(json.dumps(info))
    else:
        table = Table(title=f"{args.method} {' '.join(args.sets)}".strip())
        table.add_column("quantity")
        table.add_column("value", justify="right")
        for key, value in info.items():
            table.add_row(key, "—" if value is None else f"{value:,}" if isinstance(value, int) else f"{value:g}")
        Console().print(table)
    return 0
