"""Subcommands of ``inpaint-suite`` other than the LightningCLI ones; each module exposes ``main(argv) -> int``."""
