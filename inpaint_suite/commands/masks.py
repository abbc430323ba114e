"""``inpaint-suite masks``: export fixed evaluation masks, print hole-ratio statistics, list the generators.

    inpaint-suite masks export --generator G [--set k=v ...] --size S --n N --seed K --out DIR [--device D]
    inpaint-suite masks stats  --generator G [--set k=v ...] --size S --n N --seed K [--json]
    inpaint-suite masks stats  --dir DIR [--json]
    inpaint-suite masks list   [--json]

``G`` is a registry name (``lama_thick``), or a JSON object (``'{"name": "lama_thick", "preset": 512}'``), or a
path to a YAML/JSON file holding such an object (mixtures included). ``--set key=value`` adds or overrides one
parameter (values parsed as YAML: ``--set preset=512 --set hole_range=[0.2,0.4]``). ``S`` is ``512`` or ``HxW``.
Exit codes: 0 ok, 2 bad usage (unknown generator or parameter: the message lists the valid ones).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from assembly.config import parse_sets
from datamodules.masks import build_mask_generator, generator_names, generator_params
from datamodules.masks.manifest import dir_stats, export_masks, generate_ratios, parse_size, ratio_stats


def _parse_generator(text: str, sets: list[str]) -> Any:
    spec: Any
    stripped = text.strip()
    if stripped.startswith("{"):
        spec = json.loads(stripped)
    elif Path(stripped).is_file():
        spec = yaml.safe_load(Path(stripped).read_text())
    else:
        spec = stripped
    if sets:
        spec = {"name": spec} if isinstance(spec, str) else dict(spec)
        spec.update(parse_sets(sets))
    return spec


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inpaint-suite masks", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)

    def add_generator_args(p: argparse.ArgumentParser, required: bool) -> None:
        p.add_argument("--generator", "-g", required=required, help="name, JSON object or YAML/JSON file")
        p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a parameter")
        p.add_argument("--size", default="512", help="S or HxW (default 512)")
        p.add_argument("--n", type=int, default=1000, help="number of masks (default 1000)")
        p.add_argument("--seed", type=int, default=0, help="set seed (default 0)")
        p.add_argument("--device", default="cpu", help="torch device for generation (default cpu)")
        p.add_argument("--batch", type=int, default=64, help="masks per generator call (default 64)")

    exp = sub.add_parser("export", help="write PNGs (255 = hole) + manifest.json")
    add_generator_args(exp, required=True)
    exp.add_argument("--out", required=True, help="output folder (must hold no PNGs yet)")

    st = sub.add_parser("stats", help="hole-ratio mean, std, 10-bin histogram")
    add_generator_args(st, required=False)
    st.add_argument("--dir", help="statistics of the PNG masks in this folder instead of a generator")
    st.add_argument("--json", action="store_true", help="print JSON")

    ls = sub.add_parser("list", help="the registered generators and their parameters")
    ls.add_argument("--json", action="store_true", help="print JSON")
    return parser


def _fail(message: str) -> int:
    print(f"inpaint-suite masks: error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))

    if args.action == "list":
        table = {name: generator_params(name) for name in generator_names()}
        if args.json:
            print(json.dumps(table, indent=1))
        else:
            for name, params in table.items():
                print(f"{name}: {', '.join(params)}")
        return 0

    if args.action == "stats" and args.dir:
        try:
            stats = dir_stats(args.dir)
        except FileNotFoundError as error:
            return _fail(str(error))
        _print_stats(stats, args.json)
        return 0
    if not args.generator:
        return _fail("give --generator G (with --size/--n/--seed) or --dir DIR")
    try:
        spec = _parse_generator(args.generator, args.set)
        build_mask_generator(spec)  # validates names and parameters before any work
        size = parse_size(args.size)
        if args.n < 0:
            raise ValueError(f"--n must be >= 0, got {args.n}")
    except (ValueError, TypeError, json.JSONDecodeError) as error:
        return _fail(str(error))

    if args.action == "export":
        try:
            manifest = export_masks(spec, size, args.n, args.seed, args.out, device=args.device, batch=args.batch)
        except FileExistsError as error:
            return _fail(str(error))
        stats = manifest["stats"]
        print(f"wrote {manifest['n']} masks ({manifest['generator']}, {size[0]}x{size[1]}, seed {args.seed}) to "
              f"{args.out}; hole ratio {stats['hole_ratio_mean']:.4f} +- {stats['hole_ratio_std']:.4f}; "
              f"sha256 {manifest['content_sha256']}")
        return 0

    ratios, _ = generate_ratios(spec, size, args.n, args.seed, device=args.device, batch=args.batch)
    _print_stats(ratio_stats(ratios), args.json)
    return 0


def _print_stats(stats: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(stats))
        return
    print(f"n = {stats['n']}  hole ratio mean {stats['hole_ratio_mean']:.4f}  std {stats['hole_ratio_std']:.4f}")
    for k, frac in enumerate(stats["histogram"]):
        print(f"  [{k / 10:.1f}, {(k + 1) / 10:.1f}{']' if k == 9 else ')'}  {frac:.3f}  {'#' * int(round(frac * 50))}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
