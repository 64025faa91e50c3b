"""Background jobs (DESIGN.md "Background jobs"): what the UI polls for its progress bar and
what "my downloads" lists. A job belongs to its owner (OwnerMixin: the ORM hook shows it to
the owner and to system admins only); its result file lives under JOB_DIR, outside the web
root, and is served only through the job views."""

from __future__ import annotations

import datetime

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import Column, DateTime, ForeignKey, Index, Integer, String, Text

from app.models.base import OwnerMixin

QUEUED = "queued"
RUNNING = "running"
DONE = "done"
FAILED = "failed"
JOB_STATES = (QUEUED, RUNNING, DONE, FAILED)
FINISHED_STATES = (DONE, FAILED)

JOB_STATE_LABELS = {
    QUEUED: _l("Queued"),
    RUNNING: _l("Running"),
    DONE: _l("Done"),
    FAILED: _l("Failed"),
}


class Job(OwnerMixin, Model):
    __tablename__ = "job"
    __table_args__ = (Index("ix_job_owner_created", "owner_id", "created_on"),)

    id = Column(Integer, primary_key=True)
    # The owner's enterprise when it had one (reporting; visibility is by owner).
    enterprise_id = Column(Integer, ForeignKey("enterprise.id", ondelete="SET NULL"),
                           nullable=True, index=True)
    kind = Column(String(32), nullable=False)  # handler name: "export", "import", ...
    title = Column(String(255), nullable=False, default="")
    state = Column(String(16), nullable=False, default=QUEUED, index=True)
    progress = Column(Integer, nullable=False, default=0)  # percent, 0-100
    done = Column(Integer, nullable=False, default=0)  # items processed
    total = Column(Integer, nullable=True)  # items to process, when known
    message = Column(String(500), nullable=True)  # shown to the owner (result or error)
    error = Column(Text, nullable=True)  # technical detail for system admins
    locale = Column(String(16), nullable=True)  # the owner's UI language at submission
    params = Column(Text, nullable=True)  # JSON: what the handler is to do
    result_path = Column(String(255), nullable=True)  # file name under JOB_DIR
    result_name = Column(String(255), nullable=True)  # download name
    result_mime = Column(String(128), nullable=True)
    result_size = Column(Integer, nullable=True)
    created_on = Column(DateTime, nullable=False, default=datetime.datetime.now)
    started_on = Column(DateTime, nullable=True)
    finished_on = Column(DateTime, nullable=True)

    @property
    def state_label(self) -> str:
        return str(JOB_STATE_LABELS.get(self.state, self.state))

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES

    @property
    def downloadable(self) -> bool:
        return self.state == DONE and bool(self.result_path)

    def __repr__(self) -> str:
        return f"Job {self.id} {self.kind} {self.state}"

    def __str__(self) -> str:
        return self.title or f"{self.kind} #{self.id}"
