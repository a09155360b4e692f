"""What the changes route and command call: how a series' projection moved at each retrain."""

from __future__ import annotations

from data.store import FigureStore
from models.base import bound_columns, interval_labels
from serving import schemas
from training import tracking
from training.changes import ChangedFigure, ProjectionChange, YearChange, projection_changes
from training.settings import TrainingSettings


def series_changes(
    store: FigureStore, training: TrainingSettings, series_id: str
) -> schemas.ChangesResponse:
    """Every retrain that changed the served projection, newest first (UnknownSeries if none
    such series; an empty list with a message when it was never retrained or never changed)."""
    info = store.get_series(series_id)  # an unknown series is a 404 before MLflow is asked
    history = projection_changes(series_id, store=store, client=tracking.connect(training))
    return schemas.ChangesResponse(
        series_id=series_id,
        unit=info.unit,
        changes=[_change(change, info.unit) for change in history.changes],
        message=history.message,
    )


def _change(change: ProjectionChange, unit: str) -> schemas.ProjectionChange:
    return schemas.ProjectionChange(
        trained_at=change.trained_at,
        version=change.version,
        previous_version=change.previous_version,
        model=change.model,
        previous_model=change.previous_model,
        model_changed=change.model_changed,
        data_revision=change.data_revision,
        summary=change.summary,
        figures=[_figure(figure, unit) for figure in change.figures],
        projection=[_year(year) for year in change.years],
    )


def _figure(changed: ChangedFigure, unit: str) -> schemas.ChangedFigure:
    figure = changed.change.figure
    return schemas.ChangedFigure(
        year=figure.year,
        kind=changed.change.kind,
        value=None if changed.change.kind == "withdrawn" else figure.value,
        previous_value=changed.change.previous_value,
        unit=unit,
        source=schemas.Source(
            publisher=figure.source_publisher,
            title=figure.source_title,
            url=figure.source_url or None,
            accessed_via=figure.accessed_via,
            note=figure.note or None,
        ),
        revision_id=figure.revision_id,
        added_at=figure.revised_at,
        message=figure.revision_message,
        projected=changed.projected,
        surprise=changed.surprise,
    )


def _year(year: YearChange) -> schemas.ProjectionYearChange:
    return schemas.ProjectionYearChange(
        year=year.year, before=_point(year.before), after=_point(year.after), change=year.change
    )


def _point(values: dict[str, float]) -> schemas.ProjectedYear:
    """``mean, lo-80, hi-80, ...`` as mean, lower and upper by level label."""
    labels = interval_labels(values)
    return schemas.ProjectedYear(
        mean=values["mean"],
        lower={label: values[bound_columns(label)[0]] for label in labels},
        upper={label: values[bound_columns(label)[1]] for label in labels},
    )
