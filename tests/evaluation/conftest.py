"""Shared fixtures for the evaluation tests."""

import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")


