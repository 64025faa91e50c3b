"""My downloads: the signed-in user's background jobs with their progress and result files
(UI and REST). A job is visible to its owner only (and to system admins): the ORM hook
answers None for anyone else's job, which is a 404 here."""

from __future__ import annotations

from flask import abort, flash, g, jsonify, redirect, send_file, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.api import ModelRestApi, safe
from flask_appbuilder.models.sqla.filters import FilterEqualFunction
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access, permission_name, protect
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models.job import Job
from app.security import PV_JOB
from app.services import jobs

JOB_LABELS = {
    "id": _l("No."),
    "title": _l("Job"),
    "kind": _l("Kind"),
    "state": _l("State"),
    "state_label": _l("State"),
    "progress": _l("Progress"),
    "done": _l("Done"),
    "total": _l("Total"),
    "message": _l("Message"),
    "result_name": _l("File"),
    "result_size": _l("Size"),
    "created_on": _l("Created on"),
    "started_on": _l("Started on"),
    "finished_on": _l("Finished on"),
}


def _own_job(pk: int) -> Job:
    # The scoped session returns another user's job as None: not found, never the job.
    job = db.session.get(Job, pk)
    if job is None:
        abort(404)
    return job


def _send_result(job: Job):
    path = jobs.result_path(job) if job.downloadable else None
    if path is None:
        abort(404)
    return send_file(path, mimetype=job.result_mime or "application/octet-stream",
                     as_attachment=True, download_name=job.result_name or job.result_path,
                     max_age=0)


class JobView(BaseView):
    route_base = "/jobs"
    default_view = "list"
    class_permission_name = PV_JOB
    method_permission_name = {"list": "list", "status": "show", "download": "download",
                              "delete": "delete"}
    base_permissions = ["can_list", "can_show", "can_download", "can_delete"]

    @expose("/")
    @has_access
    def list(self):
        rows = (db.session.query(Job).filter(Job.owner_id == g.user.id)
                .order_by(Job.created_on.desc(), Job.id.desc()).limit(100).all())
        return self.render_template("jobs/list.html", rows=rows, labels=JOB_LABELS,
                                    appbuilder=self.appbuilder)

    @expose("/<int:pk>/status")
    @has_access
    def status(self, pk):
        job = _own_job(pk)
        data = jobs.status(job)
        data["download_url"] = url_for("JobView.download", pk=job.id) if job.downloadable \
            else None
        return jsonify(data)

    @expose("/<int:pk>/download")
    @has_access
    def download(self, pk):
        return _send_result(_own_job(pk))

    @expose("/<int:pk>/delete", methods=["POST"])
    @has_access
    def delete(self, pk):
        job = _own_job(pk)
        if not job.finished:
            flash(gettext("A job still running cannot be removed."), "warning")
        else:
            jobs.delete(job)
            db.session.commit()
            flash(gettext("Removed."), "info")
        return redirect(url_for("JobView.list"))


class JobApi(ModelRestApi):
    """`/api/v1/job/`: the caller's jobs (progress of a large export), and the result file."""

    resource_name = "job"
    datamodel = SQLAInterface(Job)
    class_permission_name = PV_JOB
    allow_browser_login = False
    method_permission_name = {"get_list": "list", "get": "show", "info": "list",
                              "download": "download"}
    include_route_methods = {"get_list", "get", "download"}
    label_columns = JOB_LABELS
    list_columns = ["id", "title", "kind", "state", "progress", "done", "total", "message",
                    "result_name", "result_size", "created_on", "finished_on"]
    show_columns = list_columns + ["started_on"]
    order_columns = ["created_on", "id"]
    base_order = ("id", "desc")
    # "My" downloads, also for a system admin (who may still open another's job by id).
    base_filters = [["owner_id", FilterEqualFunction, lambda: g.user.id]]

    @expose("/<int:pk>/download", methods=["GET"])
    @protect()
    @safe
    @permission_name("download")
    def download(self, pk):
        """Download the result file of a finished job
        ---
        get:
          parameters:
          - in: path
            schema:
              type: integer
            name: pk
          responses:
            200:
              description: The job's file
              content:
                application/octet-stream:
                  schema:
                    type: string
                    format: binary
            401:
              $ref: '#/components/responses/401'
            404:
              $ref: '#/components/responses/404'
        """
        job = db.session.get(Job, pk)
        if job is None or not job.downloadable or jobs.result_path(job) is None:
            return self.response_404()
        return _send_result(job)


__all__ = ["JOB_LABELS", "JobApi", "JobView"]
