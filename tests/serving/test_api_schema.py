"""Property-based checks of the whole API against its OpenAPI schema: no 5xx, no schema drift."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from serving.app import create_app
from tests.support import make_state, running_server

# The schema does not depend on the stores, so it is read from an app that never starts.
schema = schemathesis.openapi.from_dict(create_app().openapi())


@pytest.fixture(scope="module")
def base_url(trained_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("schema") / "service"
    shutil.copytree(trained_root, root)
    with running_server(make_state(root)) as url:
        yield url


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_never_answers_5xx_or_off_schema(case: schemathesis.Case, base_url: str) -> None:
    response = case.call(base_url=base_url)
    # 503 is the documented answer for a write the store is too busy for, not a server fault.
    assert response.status_code < 500 or response.status_code == 503, response.text
    case.validate_response(
        response,
        checks=[response_schema_conformance, status_code_conformance, content_type_conformance],
    )


def test_the_documented_retrain_statuses_are_the_ones_answered() -> None:
    """The schema had said "promoted, kept, failed or running" while the answers said
    "refreshed" and "unchanged", and a job's outcomes were free-form objects: a client
    alerting on the documented values would have keyed on the wrong list."""
    from training.outcome import Outcome

    components = create_app().openapi()["components"]["schemas"]
    status = components["RetrainStatus"]["properties"]["status"]
    assert set(status["enum"]) == {str(outcome) for outcome in Outcome} | {"running"}
    outcome = components["JobOutcome"]["properties"]
    assert set(outcome["status"]["enum"]) == {str(outcome) for outcome in Outcome}
    assert components["Job"]["properties"]["outcomes"]["items"] == {
        "$ref": "#/components/schemas/JobOutcome"
    }
    assert set(components["Job"]["properties"]["state"]["enum"]) == {
        "queued", "running", "succeeded", "failed"
    }  # fmt: skip


def test_the_schema_says_a_forecast_years_mean_is_its_point_forecast() -> None:
    """A small county's forecast answered "mean": 0 above a path of 0.2 a year, and a new
    count's "mean" is its rate's median: a client reading the field by its name alone takes
    it for an average. The schema says what the field holds, for forecasts and what-ifs."""
    components = create_app().openapi()["components"]["schemas"]
    for name in ("ForecastPoint", "ProjectedYear"):
        said = components[name]["properties"]["mean"]["description"]
        assert "point forecast" in said and "median of a Poisson count" in said, name


def _v1_operations() -> list[tuple[str, str, dict]]:
    paths = create_app().openapi()["paths"]
    return [
        (method, path, operation)
        for path, operations in paths.items()
        if path.startswith("/v1/")
        for method, operation in operations.items()
    ]


def test_every_operation_under_v1_documents_its_500_as_a_problem() -> None:
    """A fault of the service under /v1 answers 500 with the one Problem shape
    (serving/errors.py), yet the schema at /docs did not list 500: a generated client met it as
    an undocumented answer, its body of no known shape."""
    problem = {"$ref": "#/components/schemas/Problem"}
    operations = _v1_operations()
    assert len(operations) >= 12
    for method, path, operation in operations:
        answers = operation["responses"]
        assert answers["500"]["content"]["application/json"]["schema"] == problem, (method, path)
        if "404" in answers:  # the route's own errors are kept beside it
            assert answers["404"]["content"]["application/json"]["schema"] == problem


def test_every_get_under_v1_documents_its_etag_and_304() -> None:
    """Every GET under /v1 sends an ETag and answers If-None-Match with 304 (no body)
    (serving/revalidation.py), yet the schema at /docs listed neither the header nor the 304:
    a generated client met 304 as an undocumented answer."""
    gets = 0
    for method, path, operation in _v1_operations():
        answers = operation["responses"]
        if method != "get":
            assert "304" not in answers, (method, path)  # a write is not revalidated
            continue
        gets += 1
        assert "content" not in answers["304"], path
        assert {"ETag", "Cache-Control"} <= set(answers["304"]["headers"]), path
        assert {"ETag", "Cache-Control"} <= set(answers["200"]["headers"]), path
        asked = [
            parameter
            for parameter in operation.get("parameters", [])
            if parameter["in"] == "header" and parameter["name"] == "If-None-Match"
        ]
        assert len(asked) == 1 and not asked[0]["required"], path
    assert gets >= 9  # series, figures, forecast (JSON, CSV, PNG), report, model, changes, job
