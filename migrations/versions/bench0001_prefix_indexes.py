"""index-served prefix filters on PostgreSQL

Revision ID: bench0001
Revises: content0001
Create Date: 2026-11-23 12:00:00

Lists filter "starts with" as `LIKE 'x%'` (app.views.base.FilterPrefix). On SQLite it is a
BINARY range the unique indexes already serve; on PostgreSQL, with a non-C collation, LIKE
needs a text_pattern_ops index.
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = "bench0001"
down_revision = "content0001"
branch_labels = None
depends_on = None

INDEXES = (("ix_vehicle_plate_prefix", "plate"), ("ix_vehicle_vin_prefix", "vin"))


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, column in INDEXES:
        op.create_index(name, "vehicle", [column], postgresql_ops={column: "text_pattern_ops"})


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, _ in INDEXES:
        op.drop_index(name, table_name="vehicle")
