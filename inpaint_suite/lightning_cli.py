"""``fit | validate | test | predict`` through Lightning's CLI, with the packaged configs addressable by name."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from lightning.pytorch.cli import LightningCLI

from datamodules import InpaintDataModule
from inpaint_suite.cli import UsageError
from lightning_modules import config_names, config_path
from lightning_modules.base import InpaintingModule


def resolve_config_args(argv: Sequence[str]) -> list[str]:
    """Replace ``--config NAME`` (a packaged config such as ``aotgan_smoke``) by its path.

    An argument that is neither an existing file nor a packaged name is a usage error naming the choices.
    """
    out, args = [], list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        value, joined = None, False
        if arg == "--config" and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith("--config="):
            value, joined = arg.split("=", 1)[1], True
        if value is None:
            out.append(arg)
            i += 1
            continue
        if not Path(value).is_file():
            if value.endswith((".yaml", ".yml")) or os.sep in value:
                raise UsageError(f"config file {value} does not exist")
            try:
                value = str(config_path(value))
            except KeyError:
                raise UsageError(f"unknown config {value!r}; packaged configs: {', '.join(config_names())} "
                                 "(or give a YAML path)") from None
        out += [f"--config={value}"] if joined else ["--config", value]
        i += 1 if joined else 2
    return out


class InpaintCLI(LightningCLI):
    """LightningCLI with the suite's defaults: GAN-safe DDP and a stated precision."""

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        trainer = config.trainer
        # GAN steps leave one network without gradients in every backward: DDP must look for unused parameters.
        if trainer.strategy == "auto" and _multi_device(trainer.devices, trainer.accelerator, trainer.num_nodes):
            trainer.strategy = "ddp_find_unused_parameters_true"


def _multi_device(devices, accelerator, num_nodes) -> bool:
    if num_nodes and int(num_nodes) > 1:
        return True
    if isinstance(devices, int):
        return devices > 1 or devices == -1
    if isinstance(devices, str):
        if devices.isdigit():
            return int(devices) > 1
        if devices in ("auto", "-1") and accelerator in ("auto", "gpu", "cuda"):
            import torch

            return torch.cuda.device_count() > 1
        return devices not in ("auto", "1")
    if isinstance(devices, (list, tuple)):
        return len(devices) > 1
    return False


def build_cli(argv: Sequence[str], run: bool = True) -> InpaintCLI:
    return InpaintCLI(
        InpaintingModule,
        InpaintDataModule,
        subclass_mode_model=True,
        args=resolve_config_args(argv),
        run=run,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"default_env": False},
    )


def main(argv: Sequence[str], command: str = "fit") -> int:
    import warnings

    # we pass the (config-resolved) arguments explicitly; Lightning warns when sys.argv also has some
    warnings.filterwarnings("ignore", message=".*LightningCLI's args parameter.*")
    warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode.*")  # the frozen VGG, by design
    build_cli([command, *argv])
    return 0
