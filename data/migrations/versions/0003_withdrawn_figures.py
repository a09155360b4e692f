"""A figure can be withdrawn: a revision's row for it holds no value (``figures.value`` NULL).

A figure typed into the wrong series or year had no way out of the store but a later figure in
its place; withdrawing it keeps every earlier row, as every change does.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 06:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite alters a column by copying the table (every row and id kept); PostgreSQL in place.
    with op.batch_alter_table("figures") as batch:
        batch.alter_column("value", existing_type=sa.Float(precision=53), nullable=True)


def downgrade() -> None:
    # A store holding withdrawals cannot go back: the older release would serve them again.
    held = op.get_bind().exec_driver_sql("SELECT COUNT(*) FROM figures WHERE value IS NULL")
    if held.scalar():
        raise RuntimeError("the store holds withdrawn figures, which revision 0002 cannot hold")
    with op.batch_alter_table("figures") as batch:
        batch.alter_column("value", existing_type=sa.Float(precision=53), nullable=False)
