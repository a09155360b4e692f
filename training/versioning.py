"""The code version recorded with every run: it changes exactly when modelling code changes."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib import metadata
from pathlib import Path

_MODELLING_PACKAGES = ("features", "models", "training")


@lru_cache(maxsize=1)
def code_version() -> str:
    """``<package version>+<hash of the modelling sources>``, stable across machines and clones."""
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parent.parent
    for package in _MODELLING_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if "benchmarks" in path.parts:
                continue
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    try:
        version = metadata.version("fraudcast")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        version = "0+unknown"
    return f"{version}+{digest.hexdigest()[:12]}"
