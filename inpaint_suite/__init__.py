"""The ``inpaint-suite`` command line: glue that puts networks, data, training and sweeps together.

It is a top-level package of its own because the console script and the commands that join the other packages
(``fit``, ``model-info``, ``evaluate``, ``predict``, ``convert``, ``bench``) have no natural home in them: the
design keeps ``networks``, ``datamodules`` and ``lightning_modules`` ignorant of each other's callers.
"""

__version__ = "0.1.0"
