"""``fit | validate | test | predict`` through Lightning's CLI, with the packaged configs addressable by name."""

from __future__ import annotations

import argparse
import json
import os
import signal
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.utilities.exceptions import SIGTERMException

from assembly import progress, resume
from assembly.checkpoint_io import install_atomic_checkpoint_io
from assembly.checks import check_config, check_moved_keys
from assembly.config import COMPOSE_KEY, DATA_LINKED_MODEL_ARGS, compose_files, converted_model_args, data_options_for
from assembly.errors import UsageError, torch_load_argument
from assembly.preemption import PreemptionCheckpoint, exit_code
from datamodules import InpaintDataModule
from lightning_modules.base import InpaintingModule
from lightning_modules.callbacks import ImageGridLogger, RNGStateCheckpoint
from networks.weights import CheckpointError, describe_load_error


def resolve_config_args(argv: Sequence[str]) -> list[str]:
    """Replace each ``--config NAME_OR_PATH`` by the files it is composed of (``assembly.config.compose_files``:
    its ``compose:`` parts, then the file itself), each written as the two arguments ``--config PATH``
    (``--config=PATH`` too), so LightningCLI merges them in order and later steps find configs in one form.

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
        elif arg.split("=", 1)[0] == "--compose":
            raise UsageError("compose: lists the parts inside a config file; on the command line give each part "
                             "as --config PART (e.g. --config aotgan --config profile/smoke)")
        if value is None:
            out.append(arg)
            i += 1
            continue
        for path in compose_files(value):
            out += ["--config", str(path)]
        i += 1 if joined else 2
    return out


class InpaintCLI(LightningCLI):
    """LightningCLI with the suite's defaults: GAN-safe DDP and a stated precision."""

    def __init__(self, *args, **kwargs) -> None:
        self.raw_args = list(kwargs.get("args") or [])
        super().__init__(*args, **kwargs)

    def add_arguments_to_parser(self, parser) -> None:
        # a forced callback: configs say `image_grids: {every_n_steps: N}` (0 = no training grids)
        parser.add_lightning_class_args(ImageGridLogger, "image_grids")
        # one option decides how the Track-2 map is encoded: the data module decodes it, the model records it
        parser.link_arguments("data.seg_encoding", "model.init_args.seg_encoding", apply_on="parse")
        parser.add_argument("--run_name", type=str | None, default=None,
                            help="the run's folder name: trainer.default_root_dir becomes results/runs/NAME (a "
                                 "sibling of the config's), loggers and checkpoints follow; --ckpt_path last "
                                 "resumes the newest good checkpoint found there")
        # a config file's list of parts, already expanded into --config files (resolve_config_args)
        parser.add_argument(f"--{COMPOSE_KEY}", type=list[str] | None, default=None,
                            help="inside a config file: the parts it is made of, read before it (model/aotgan, "
                                 "data/places2, trainer/paper, profile/smoke, or a named config); expanded into "
                                 "--config files before parsing")

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        apply_run_name(config)
        resolve_last_checkpoint(config, self.subcommand)
        check_checkpoint_args(config)
        if flag_value(self.raw_args, INIT_FROM_FLAGS) is None:  # on the command line: with_weights_options did it
            check_weights_options(config)

        check_config(config, self.subcommand, self.raw_args)  # every bad value, before the model is built
        trainer = config.trainer
        # GAN steps leave one network without gradients in every backward: DDP must look for unused parameters.
        if trainer.strategy == "auto" and _multi_device(trainer.devices, trainer.accelerator, trainer.num_nodes):
            trainer.strategy = "ddp_find_unused_parameters_true"

    def instantiate_classes(self) -> None:
        """Constructors validate their options (``nan_policy``, mask specs, ...): a ValueError there is a bad
        configuration, reported as one line, not a traceback."""
        try:
            super().instantiate_classes()
        except CheckpointError:
            raise
        except (ValueError, KeyError) as error:
            message = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
            raise UsageError(f"invalid configuration: {one_line(message)}") from error
        prepare_trainer_for_long_runs(self.trainer)


def prepare_trainer_for_long_runs(trainer) -> None:
    """Atomic checkpoint writes, checkpoints in the run's own folder (not a logger version's), a checkpoint on
    preemption, and the random states in every checkpoint: see ``assembly.checkpoint_io``, ``assembly.resume``,
    ``assembly.preemption`` and ``lightning_modules.callbacks.rng_state``."""
    install_atomic_checkpoint_io(trainer)
    for callback in trainer.checkpoint_callbacks:
        if isinstance(callback, ModelCheckpoint) and callback.dirpath is None:
            callback.dirpath = str(resume.checkpoint_dir(trainer.default_root_dir))
    if not any(isinstance(cb, PreemptionCheckpoint) for cb in trainer.callbacks):
        trainer.callbacks.append(PreemptionCheckpoint())
    if not any(isinstance(cb, RNGStateCheckpoint) for cb in trainer.callbacks):
        trainer.callbacks.append(RNGStateCheckpoint())  # a resumed fit continues the random streams
    progress.install(trainer)  # step-limited runs: "Epoch E · step S/max_steps", not Lightning's "Epoch 0/-2"


def apply_run_name(config) -> None:
    """``--run_name NAME``: the run folder becomes a sibling of the config's, and loggers, checkpoint folders
    and the SLURM/hpc folder that pointed inside the old one move with it."""
    name = config.get("run_name") if "run_name" in config else None
    if not name:
        return
    trainer = config.trainer
    old = trainer.get("default_root_dir")
    try:
        new = resume.run_dir_for(name, old)
    except ValueError as error:
        raise UsageError(str(error)) from None
    trainer.default_root_dir = str(new)
    if not old:
        return

    def moved(path):
        if not path:
            return path
        try:
            return str(new / Path(path).relative_to(old))
        except ValueError:
            return path  # outside the run folder: the user chose it

    loggers = trainer.get("logger")
    for entry in loggers if isinstance(loggers, list) else [loggers]:
        init_args = entry.get("init_args") if hasattr(entry, "get") else None
        if init_args is not None and init_args.get("save_dir"):
            init_args.save_dir = moved(init_args.save_dir)
    for entry in trainer.get("callbacks") or []:
        init_args = entry.get("init_args") if hasattr(entry, "get") else None
        if init_args is not None and init_args.get("dirpath"):
            init_args.dirpath = moved(init_args.dirpath)


def resolve_last_checkpoint(config, subcommand: str | None) -> None:
    """``--ckpt_path last`` becomes the newest loadable checkpoint of the run (see ``assembly.resume``),
    before the model is built. ``fit`` with nothing to resume starts from step 0 (one command for the first
    submission and every requeue); ``test``/``validate``/``predict`` with nothing to load are a usage error."""
    if "ckpt_path" not in config or config.get("ckpt_path") != "last":
        return
    run_dir = config.trainer.get("default_root_dir") or os.getcwd()
    point = resume.find_resume_checkpoint(run_dir)
    for line in resume.describe(point, run_dir):
        print(line, flush=True)
    if point.path is None and subcommand != "fit":
        raise UsageError(f"--ckpt_path last: no loadable checkpoint under {run_dir} to {subcommand}")
    config.ckpt_path = str(point.path) if point.path else None


NOISE = ("Subtypes:", "Errors:", "Given value", "- Expected a <class 'NoneType'>",
         "Does not validate against any of the Union subtypes")


def one_line(message: str) -> str:
    """jsonargparse's multi-line report as one line: the key and the specific reasons, without the type dump."""
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    kept = [line.lstrip("- ") for line in lines if not line.startswith(NOISE)]
    return " ".join(kept or lines[:1])


CKPT_KEYWORDS = ("last", "best", "hpc", "registry")  # ckpt_path values Lightning resolves itself


def check_checkpoint_args(config) -> None:
    """``--ckpt_path`` must name an existing file (or a Lightning keyword), and it is always loaded with
    ``weights_only=True``: Lightning passes ``None`` to ``torch.load``, which the environment variable
    ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` would turn into unrestricted unpickling (code execution)."""
    if "weights_only" in config:
        if config.weights_only is False:
            raise UsageError("--weights_only=false is refused: checkpoints are loaded with weights_only=True "
                             "(a pickle can run code); convert untrusted files with `inpaint-suite convert`")
        config.weights_only = True
    ckpt = config.get("ckpt_path") if "ckpt_path" in config else None
    if ckpt and str(ckpt) not in CKPT_KEYWORDS and not str(ckpt).startswith("registry:") \
            and "://" not in str(ckpt) and not Path(ckpt).is_file():
        raise UsageError(f"checkpoint {ckpt} does not exist")


def _multi_device(devices, accelerator, num_nodes) -> bool:
    if num_nodes and int(num_nodes) > 1:
        return True
    if isinstance(devices, int):
        return devices > 1 or devices == -1
    if isinstance(devices, str):
        if devices.isdigit():
            return int(devices) > 1
        if devices in ("auto", "-1") and accelerator in ("auto", "gpu", "cuda"):
            return torch.cuda.device_count() > 1
        return devices not in ("auto", "1")
    if isinstance(devices, (list, tuple)):
        return len(devices) > 1
    return False


INIT_FROM_FLAGS = ("--model.init_from", "--model.init_args.init_from")


def flag_value(args: Sequence[str], flags: Sequence[str]) -> str | None:
    """The last value given to any of ``flags`` (``--flag value`` or ``--flag=value``), else None."""
    value = None
    for i, arg in enumerate(args):
        for flag in flags:
            if arg == flag and i + 1 < len(args):
                value = args[i + 1]
            elif arg.startswith(flag + "="):
                value = arg.split("=", 1)[1]
    return value


def weights_model_args(path: str | None) -> dict:
    """The model options a converted checkpoint states it needs (``inpaint_suite.model_init_args``, written by
    ``inpaint-suite convert``); ``{}`` for our own checkpoints or an unreadable file (init_from reports that)."""
    if not path or not Path(path).is_file():
        return {}

    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - the real load (init_from) names the problem
        return {}
    meta = state.get("inpaint_suite", {}) if isinstance(state, dict) else {}
    return dict(meta.get("model_init_args") or {}) if isinstance(meta, dict) else {}


def _cli_value(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def with_weights_options(args: list[str]) -> list[str]:
    """``--model.init_from CONVERTED.ckpt`` brings the model options those weights need (HiFill's TF padding,
    DeepGIN Track 2's colour seg input, ...): they are inserted right after the last ``--config``, so they override
    the config while the user's own later flags still win. An option the CLI links from the data section
    (``seg_encoding``) is given as that data option (``--data.seg_encoding``, with ``--data.semantic=true``)."""
    needed = converted_model_args(weights_model_args(flag_value(args, INIT_FROM_FLAGS)))
    if not needed:
        return args
    flags = [f"--model.init_args.{key}={_cli_value(value)}" for key, value in needed.items()
             if key not in DATA_LINKED_MODEL_ARGS]
    flags += [f"--data.{key}={_cli_value(value)}" for key, value in data_options_for(needed).items()]
    # after the last config (resolve_config_args writes each as "--config PATH"), else after the subcommand
    at = max((i + 2 for i, a in enumerate(args) if a == "--config"), default=1)
    print("init_from: the converted weights need " + ", ".join(f"{k}={v}" for k, v in needed.items()))
    return args[:at] + flags + args[at:]


def check_weights_options(config) -> None:
    """A converted checkpoint named in a YAML ``init_from`` (not seen by :func:`with_weights_options`) whose
    required options the config contradicts is a usage error listing the flags to add."""
    model = config.get("model") if "model" in config else None
    init_args = model.get("init_args") if model is not None and "init_args" in model else None
    if init_args is None or "init_from" not in init_args:
        return
    needed = converted_model_args(weights_model_args(init_args.get("init_from")))
    data = config.get("data") if "data" in config else None
    have = {f"model.init_args.{k}": init_args[k] for k in needed if k not in DATA_LINKED_MODEL_ARGS and k in init_args}
    if data is not None:
        have.update({f"data.{k}": data.get(k) for k in data_options_for(needed) if k in data})
    want = {f"model.init_args.{k}": v for k, v in needed.items() if k not in DATA_LINKED_MODEL_ARGS}
    want.update({f"data.{k}": v for k, v in data_options_for(needed).items()})
    wrong = {k: v for k, v in want.items() if k in have and have[k] != v}
    if wrong:
        shown = ", ".join(f"{k}={have[k]}" for k in wrong)
        flags = " ".join(f"--{k} {_cli_value(v)}" for k, v in wrong.items())
        raise UsageError(f"{init_args.get('init_from')} was converted for other model options than the config's "
                         f"({shown}); these weights need: {flags}")


def build_cli(argv: Sequence[str], run: bool = True, cli_class: type[InpaintCLI] | None = None) -> InpaintCLI:
    """``cli_class``: a subclass of InpaintCLI (the sweep runner's parse-only check uses the same parser)."""
    args = resolve_config_args(argv)
    check_moved_keys(args)  # an option that moved names its new key (jsonargparse would say "no action for key")
    return (cli_class or InpaintCLI)(
        InpaintingModule,
        InpaintDataModule,
        subclass_mode_model=True,
        args=with_weights_options(args),
        run=run,
        save_config_kwargs={"overwrite": True},
        # errors raise ArgumentError (reported as one line by main) instead of printing the whole usage
        parser_kwargs={"default_env": False, "exit_on_error": False},
    )


def main(argv: Sequence[str], command: str = "fit") -> int:
    # we pass the (config-resolved) arguments explicitly; Lightning warns when sys.argv also has some
    warnings.filterwarnings("ignore", message=".*LightningCLI's args parameter.*")
    warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode.*")  # the frozen VGG, by design
    # GAN modules optimise manually and their checkpoints hold the state after the step, which is what resuming wants
    warnings.filterwarnings("ignore", message=".*manual optimization and every_n_train_steps.*")

    try:
        build_cli([command, *argv])
    except SIGTERMException as stopped:  # PreemptionCheckpoint saved last.ckpt and said so
        return exit_code(getattr(stopped, "signum", signal.SIGTERM))
    except argparse.ArgumentError as error:  # jsonargparse: unknown key, wrong type, unknown class path
        raise UsageError(f"{command}: {one_line(str(error))} (inpaint-suite {command} --help lists the options)") \
            from None
    except Exception as error:  # a --ckpt_path that torch.load refuses or cannot read is bad input, not a bug
        loaded = torch_load_argument(error)
        if loaded is None:
            raise
        raise CheckpointError(describe_load_error(loaded, error)) from error
    return 0
