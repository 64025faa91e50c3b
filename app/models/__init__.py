"""Domain models; importing this package maps every table (Alembic reads Model.metadata)."""

from app.models import (  # noqa: F401
    attachment,
    audit,
    campaign,
    content,
    evaluation,
    identity,
    job,
    licence,
    org,
    outbox,
    rental,
    report,
    staff,
    usedcar,
    workflow,
)
from app.models.base import Model  # noqa: F401
