"""A fraudcast process runs its small matrices on one BLAS thread unless the user says otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SHOW = (
    "import serving.cli, scipy.linalg, threadpoolctl; "
    "print(sorted({info['num_threads'] for info in threadpoolctl.threadpool_info() "
    "if info['user_api'] == 'blas'}))"
)


def _blas_threads(**environment: str) -> str:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"}
    }
    done = subprocess.run(
        [sys.executable, "-c", SHOW],
        env=env | environment,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return done.stdout.strip()


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: BLAS would use one thread anyway")
def test_blas_runs_on_one_thread_unless_the_user_sets_it() -> None:
    assert _blas_threads() == "[1]"
    assert _blas_threads(OPENBLAS_NUM_THREADS="2") == "[2]"
