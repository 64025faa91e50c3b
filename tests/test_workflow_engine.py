"""The workflow engine (X9): roles per transition, guards, opinions, history, deadlines in
working days, optimistic locking (threads on PostgreSQL) and rollback of a failing effect."""

from __future__ import annotations

import contextlib
import datetime
import threading

import pytest
from flask import g
from flask_login import login_user

from app.errors import (
    CaseConflictError,
    CaseStateError,
    GuardFailedError,
    OpinionRequiredError,
    TransitionForbiddenError,
    TransitionUnknownError,
)
from app.extensions import db
from app.models.base import unscoped
from app.models.identity import AppUser
from app.models.rental import Vehicle
from app.models.workflow import Application, CertificateCounter
from app.workflows import calendar, engine
from app.workflows import rental as wf
from tests.conftest import PG_URL

NEW_VEHICLE = {"plate": "粤A0T1E2", "vin": "LSVAM4180N2199991", "brand": "大众",
               "model": "朗逸", "vehicle_type": "small", "seats": 5, "usage": "rental",
               "owner_name": "广州市穗通汽车租赁有限公司"}


def _vin(stem):
    from app.demo_rental import vin_with_check_digit

    return vin_with_check_digit(stem)


@contextlib.contextmanager
def acting(app, username):
    """A request context signed in as `username`; yields the engine Actor (None = public)."""
    with app.test_request_context():
        if username is None:
            yield engine.applicant("公众申请人")
            return
        user = db.session.query(AppUser).filter_by(username=username).one()
        login_user(user)
        g.user = user
        yield engine.actor_for(user)


def _ent(username):
    with unscoped():
        return db.session.query(AppUser).filter_by(username=username).one().enterprise_id


def _open_vehicle_case(app, plate="粤A0T1E2", vin_stem="LSVAM4180N2199991"):
    with acting(app, "ent.a") as actor:
        case = engine.create(wf.VEHICLE_FILING, enterprise_id=_ent("ent.a"), actor=actor,
                             payload={**NEW_VEHICLE, "plate": plate, "vin": _vin(vin_stem)})
        return case.id


# transition, actor, expected: "ok" or the error class
MATRIX = [
    ("approve", "reg.rental", "ok"),
    ("approve", "ent.a", TransitionForbiddenError),      # enterprise cannot approve itself
    ("approve", "reg.usedcar", TransitionForbiddenError),  # other sector's regulator
    ("approve", "auditor", TransitionForbiddenError),    # reads, never decides
    ("approve", "admin", TransitionForbiddenError),      # no authority: no review role
    ("approve", None, TransitionForbiddenError),         # the public
    ("reject", "reg.rental", "ok"),
    ("reject", "ent.a", TransitionForbiddenError),
    ("return", "reg.rental", "ok"),
    ("return", "ent.b", TransitionForbiddenError),
    ("withdraw", "ent.a", "ok"),
    ("withdraw", "ent.b", TransitionForbiddenError),     # another enterprise
    ("withdraw", "reg.rental", TransitionForbiddenError),
    ("resubmit", "ent.a", CaseStateError),               # not from "submitted"
    ("fly", "reg.rental", TransitionUnknownError),
]


@pytest.mark.parametrize(("name", "username", "expected"), MATRIX,
                         ids=[f"{n}-{u}" for n, u, _ in MATRIX])
def test_transition_roles(app, name, username, expected):
    case_id = _open_vehicle_case(app)
    with acting(app, username) as actor:
        with unscoped():  # the actor may be outside the case's tenancy: load it anyway
            case = db.session.get(Application, case_id)
            before = (case.state, case.version, len(case.history))
        if expected == "ok":
            engine.fire(case, name, actor, opinion="意见")
            assert case.state == engine.workflow_for(case.kind).transition(name).target
            assert case.history[-1].name == name and case.history[-1].opinion == "意见"
        else:
            with pytest.raises(expected):
                engine.fire(case, name, actor, opinion="意见")
            db.session.expire_all()
            with unscoped():
                case = db.session.get(Application, case_id)
                assert (case.state, case.version, len(case.history)) == before


def test_approval_applies_payload_with_certificate_and_full_history(app):
    case_id = _open_vehicle_case(app)
    with acting(app, "reg.rental") as actor:
        case = db.session.get(Application, case_id)
        assert case.reference.startswith("SQ") and case.deadline > datetime.date.today()
        engine.fire(case, "approve", actor, opinion="同意")
        vehicle = db.session.get(Vehicle, case.subject_id)
        assert vehicle.plate == "粤A0T1E2" and vehicle.state == "operating"
        assert vehicle.certificate_no.startswith(f"GDZLC{datetime.date.today().year}")
        log = [(h.name, h.from_state, h.to_state, h.actor_name) for h in case.history]
        assert log == [("submit", None, "submitted", "陈志强"),
                       ("approve", "submitted", "approved", "张建国")]
        assert case.decided_on is not None and case.last_opinion == "同意"


def test_reject_and_return_need_an_opinion(app):
    case_id = _open_vehicle_case(app)
    with acting(app, "reg.rental") as actor:
        case = db.session.get(Application, case_id)
        for name in ("reject", "return"):
            with pytest.raises(OpinionRequiredError):
                engine.fire(case, name, actor, opinion="  ")
        assert case.state == "submitted"


def test_guards_refuse_with_every_reason(app):
    with acting(app, "ent.a") as actor:
        with pytest.raises(GuardFailedError) as err:  # both already filed (demo vehicle)
            engine.create(wf.VEHICLE_FILING, enterprise_id=_ent("ent.a"), actor=actor,
                          payload={**NEW_VEHICLE, "plate": "粤A3K8J2",
                                   "vin": _vin("LSVAM4180N2100001")})
        assert "粤A3K8J2" in str(err.value) and len(err.value.reasons) == 1
        assert "VIN" in str(err.value)


def test_plate_filed_by_another_enterprise_is_refused(app):
    with acting(app, "ent.a") as actor:
        with pytest.raises(GuardFailedError, match="粤B6H8K3"):
            engine.create(wf.VEHICLE_FILING, enterprise_id=_ent("ent.a"), actor=actor,
                          payload={**NEW_VEHICLE, "plate": "粤B6H8K3"})


def test_plate_in_another_open_case_is_refused(app):
    _open_vehicle_case(app)
    with acting(app, "ent.b") as actor:
        with pytest.raises(GuardFailedError, match="SQ"):
            engine.create(wf.VEHICLE_FILING, enterprise_id=_ent("ent.b"), actor=actor,
                          payload={**NEW_VEHICLE, "vin": _vin("LSVAM4180N2199992")})


def test_guard_rechecked_at_approval(app):
    """Filed meanwhile by someone else: the approval is refused, nothing changes."""
    case_id = _open_vehicle_case(app)
    with acting(app, "reg.rental") as actor:
        with unscoped():
            db.session.add(Vehicle(enterprise_id=_ent("ent.b"), plate="粤A0T1E2",
                                   vin=_vin("LSVAM4180N2199993"), brand="x", model="y",
                                   seats=5, owner_name="z", filed_on=datetime.date.today()))
            db.session.commit()
        case = db.session.get(Application, case_id)
        with pytest.raises(GuardFailedError):
            engine.fire(case, "approve", actor)
        assert db.session.get(Application, case_id).state == "submitted"


def test_failing_effect_rolls_everything_back(app):
    case_id = _open_vehicle_case(app)

    def explode(case, actor, ctx):
        raise RuntimeError("disk full")

    transition = engine.workflow_for(wf.VEHICLE_FILING).transition("approve")
    object.__setattr__(transition, "effects", (*transition.effects, explode))
    try:
        with acting(app, "reg.rental") as actor:
            counter_before = db.session.get(CertificateCounter,
                                            ("vehicle", datetime.date.today().year)).last
            case = db.session.get(Application, case_id)
            with pytest.raises(RuntimeError):
                engine.fire(case, "approve", actor, opinion="同意")
            db.session.expire_all()
            case = db.session.get(Application, case_id)
            assert case.state == "submitted" and len(case.history) == 1
            assert db.session.query(Vehicle).filter_by(plate="粤A0T1E2").count() == 0
            assert db.session.get(CertificateCounter,
                                  ("vehicle", datetime.date.today().year)).last \
                == counter_before
    finally:
        object.__setattr__(transition, "effects", transition.effects[:-1])


def test_stale_version_is_a_conflict(app):
    case_id = _open_vehicle_case(app)
    with acting(app, "reg.rental") as actor:
        case = db.session.get(Application, case_id)
        stale = case.version
        engine.fire(case, "return", actor, opinion="补充材料")
        with pytest.raises(CaseConflictError):
            engine.fire(case, "approve", actor, expected_version=stale)


@pytest.mark.skipif(not PG_URL, reason="real concurrency needs PostgreSQL")
def test_two_concurrent_approvals_make_exactly_one(app):
    case_id = _open_vehicle_case(app)
    barrier = threading.Barrier(2)
    results = []

    def approve():
        with app.app_context(), acting(app, "reg.rental") as actor:
            case = db.session.get(Application, case_id)
            assert case.version == 1  # both threads hold the same version
            barrier.wait()
            try:
                engine.fire(case, "approve", actor, opinion="同意")
                results.append("ok")
            except CaseConflictError as exc:
                results.append(str(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=approve) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results, key=len)[0] == "ok" and results.count("ok") == 1, results
    with app.app_context():
        case = db.session.get(Application, case_id)
        assert [h.name for h in case.history] == ["submit", "approve"]
        assert db.session.query(Vehicle).filter_by(plate="粤A0T1E2").count() == 1


def test_deadline_counts_chinese_working_days():
    # National Day 2026: 1-7 October off; 26 Sep (Sat) and 10 Oct (Sat) make-up work days.
    assert not calendar.is_working_day(datetime.date(2026, 10, 1))
    assert calendar.is_working_day(datetime.date(2026, 9, 30))
    assert calendar.add_working_days(datetime.date(2026, 9, 30), 1) == datetime.date(2026, 10, 8)
    # An ordinary week: Friday + 1 working day = Monday.
    assert calendar.add_working_days(datetime.date(2026, 11, 20), 1) == datetime.date(2026, 11,
                                                                                      23)
    # Beyond the library's data: weekends only, never an exception.
    assert calendar.add_working_days(datetime.date(2099, 1, 2), 1) == datetime.date(2099, 1, 5)


def test_time_limit_configurable_per_kind_and_variant(app):
    workflow = engine.workflow_for(wf.VEHICLE_FILING)
    with app.app_context():
        assert workflow.time_limit_for(None).days == 5
        assert workflow.time_limit_for("ftz").days == 2
        app.config["WORKFLOW_TIME_LIMITS"] = {wf.VEHICLE_FILING: 3}
        try:
            assert workflow.time_limit_for(None).days == 3
        finally:
            app.config.pop("WORKFLOW_TIME_LIMITS")


def test_overdue_and_transition_audited(app):
    from app.models.audit import AuditEvent

    with app.app_context():
        overdue = [c for c in db.session.query(Application).filter_by(state="submitted")
                   if c.overdue]
        assert overdue, "demo data has overdue cases"
        assert db.session.query(AuditEvent).filter_by(action="transition").count() > 10
