"""Domain models; importing this package maps every table (Alembic reads Model.metadata)."""

from app.models import attachment, audit, identity, org, outbox, rental, workflow  # noqa: F401
from app.models import content  # noqa: F401
from app.models.base import Model  # noqa: F401
