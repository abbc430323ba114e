"""Independent re-implementations of the authors' official model definitions, used only as test oracles.

Each module here is written from reading one official repository's model code (named in its docstring), not
copied from it and not derived from our ``networks/``. The classes keep the official attribute names, layer order
and layer types, so an official (released or random official-format) state dict loads into them with
``strict=True``, and their ``forward`` reproduces the official semantics step by step (the same torch ops in the
same order: padding modes, normalisations, activations, the spectral-norm API the authors used).

The parity tests (``tests/inpaint_suite/convert/test_official_parity_<method>.py``) load one random
official-format file into both a reference model here and, through ``inpaint-suite convert``, into our model, and
compare their outputs. Nothing in the library imports this package.
"""
