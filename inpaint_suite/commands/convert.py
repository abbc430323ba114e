"""``inpaint-suite convert``: an authors' released checkpoint -> our checkpoint (docs/CONVERT.md).

    inpaint-suite convert aotgan G0000000.pt --discriminator D0000000.pt --out aotgan_places2.ckpt
    inpaint-suite convert madf places2.pth --out madf_places2.ckpt
    inpaint-suite convert deepgin latest_net_G.pth --discriminator latest_net_D.pth --variant track1 --out gin.ckpt
    inpaint-suite convert hifill model_logs/places2/0 --out hifill.ckpt      (TF checkpoint prefix, or a .npz)
    inpaint-suite convert METHOD --print-mapping [--variant V]                (the key table as JSON)

The output loads with ``predict --weights OUT`` and ``fit --model.init_args.init_from OUT``. Errors (unknown keys,
wrong shapes, pickles with code, unreadable formats) are one line on stderr, exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from assembly.errors import UsageError
from inpaint_suite.convert import CONVERTERS, ConvertError, convert, converter
from inpaint_suite.convert.common import table_as_rows


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inpaint-suite convert", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:9]))
    parser.add_argument("method", choices=sorted(CONVERTERS))
    parser.add_argument("checkpoint", nargs="?", help="the official generator file (MADF: the snapshot .pth)")
    parser.add_argument("--discriminator", "-d", help="the official discriminator file, when released")
    parser.add_argument("--out", "-o", help="our checkpoint to write (.ckpt)")
    parser.add_argument("--variant", help="which released model (aotgan: default; madf: k2 k1 k0 k2_unused_bn; "
                                          "deepgin: track1 track2 warmup; hifill: places2 places2_bgr)")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="allow a full pickle (classes/code inside): unpickling runs code stored in the file, "
                             "so only for files from a source you trust")
    parser.add_argument("--print-mapping", action="store_true", help="print the key table as JSON and exit")
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    return parser


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        module = converter(args.method)
        if args.print_mapping:
            tables = module.tables(args.variant or module.VARIANTS[0])
            blocks = []
            for role, rows in tables.items():  # one row per line: greppable, still valid JSON
                lines = ",\n".join("  " + json.dumps(row) for row in table_as_rows(rows))
                blocks.append(f"{json.dumps(role)}: [\n{lines}\n]")
            sys.stdout.write("{\n" + ",\n".join(blocks) + "\n}\n")
            return 0
        if not args.checkpoint or not args.out:
            raise UsageError("give the official CHECKPOINT and --out OURS.ckpt (or --print-mapping)")
        out = Path(args.out)
        if out.exists() and not args.force:
            raise UsageError(f"{out} exists; pass --force to overwrite")
        checkpoint = convert(args.method, args.checkpoint, args.discriminator, args.variant, args.trust_pickle)
    except ConvertError as error:
        raise UsageError(str(error)) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, out)
    meta = checkpoint["inpaint_suite"]
    for note in meta.get("notes", []):
        print(f"note: {note}")
    count = sum(v.numel() for v in checkpoint["state_dict"].values())
    roles = " + ".join(meta["roles"])
    print(f"wrote {out}: {args.method} ({meta['variant']}) {roles}, {len(checkpoint['state_dict'])} tensors, "
          f"{count:,} values")
    needed = {k: v for k, v in meta["model_init_args"].items()}
    print("model options these weights need: " + ", ".join(f"{k}={v}" for k, v in needed.items()))
    if needed.get("seg_encoding") == "ade_rgb":
        print("they read the raw ADE20K *_seg.png colours: data.semantic=true, data.seg_encoding=ade_rgb (config "
              "deepgin_track2_official); predict needs --seg SEG.png")
    return 0
