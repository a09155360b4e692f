"""fraudcast fetches and sends nothing at run time: MLflow's usage telemetry stays off."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

#: Variables under which MLflow turns its telemetry off by itself (CI, pytest, opt-outs): the
#: child process runs without them, as on a planner's machine.
_MLFLOW_OPT_OUTS = {
    "MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK", "PYTEST_CURRENT_TEST", "GITHUB_ACTIONS", "CI",
    "CIRCLECI", "GITLAB_CI", "JENKINS_URL", "TRAVIS", "TF_BUILD", "BITBUCKET_BUILD_NUMBER",
    "CODEBUILD_BUILD_ARN", "BUILDKITE", "TEAMCITY_VERSION", "CLOUD_RUN_EXECUTION",
    "RUNBOT_HOST_URL", "RUNBOT_BUILD_NAME", "RUNBOT_WORKER_ID",
}  # fmt: skip


@pytest.mark.parametrize("entry", ["training.pipeline", "serving.cli", "serving.app"])
def test_mlflow_telemetry_is_off_whichever_way_fraudcast_starts(entry):
    probe = (
        f"import {entry}\n"
        "from mlflow.telemetry import get_telemetry_client\n"
        "print(get_telemetry_client())\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in _MLFLOW_OPT_OUTS}
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "None"
