"""The track record: how each champion's forecast fared against the figure that came in, as
fraudcast 0.1.0 made it (commit c4c5bd0).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 13:37:41
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "track_record",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("series_id", sa.String(length=100), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("actual", sa.Float(precision=53), nullable=False),
        sa.Column("mean", sa.Float(precision=53), nullable=False),
        sa.Column("lo_80", sa.Float(precision=53), nullable=False),
        sa.Column("hi_80", sa.Float(precision=53), nullable=False),
        sa.Column("lo_95", sa.Float(precision=53), nullable=False),
        sa.Column("hi_95", sa.Float(precision=53), nullable=False),
        sa.Column("inside_80", sa.Boolean(), nullable=False),
        sa.Column("inside_95", sa.Boolean(), nullable=False),
        sa.Column("model_name", sa.Text(), nullable=False),
        sa.Column("model_version", sa.String(length=100), nullable=False),
        sa.Column("data_revision", sa.Text(), nullable=False),
        sa.Column("scored_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["series_id"], ["series.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("series_id", "year", "model_version", name="uq_score_per_version"),
    )


def downgrade() -> None:
    op.drop_table("track_record")
