"""The assembly layer: what the entry points (``inpaint_suite`` CLI, ``sweeps``) share, below both of them.

Error types with exit codes, reading and composing configs, building the LightningCLI, early config checks,
resuming, atomic checkpoint IO, preemption and progress display. Imports run one way: entry points import this
package; this package imports the methods (``lightning_modules``), ``evaluation``, ``datamodules`` and ``networks``,
never the entry points.
"""
