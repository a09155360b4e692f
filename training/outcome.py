"""How one series' retrain ended: the statuses runs, outcomes and the API share."""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    """How one series' retrain ended (the value is what MLflow's ``promotion.decision`` tag,
    the API and the CLI show)."""

    #: a new model won the gates and serves
    PROMOTED = "promoted"
    #: the champion's own model, refitted on new figures, serves
    REFRESHED = "refreshed"
    #: the champion serves as it was
    KEPT = "kept"
    #: figures and code as at the last retrain: nothing was done
    UNCHANGED = "unchanged"
    #: the retrain raised; figures and champion are as they were
    FAILED = "failed"
