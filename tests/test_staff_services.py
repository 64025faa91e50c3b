"""The staff-row service (app/services/staff.py) and the personnel-change workflow
(app/workflows/licence.py, P12): validation, the electrician's system-wide uniqueness (the
friendly pre-check, the database constraint, a race between the two), proposals of a licence
request, totals, join / leave cases approved, rejected, returned and withdrawn."""

from __future__ import annotations

import datetime

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from stdnum.cn import ric

from app.models.licence import DRAFT, ITEM_CHANGE, LicenceRequest
from app.models.org import Enterprise
from app.models.staff import (
    ACTIVE,
    ELECTRICIAN,
    LEAVING,
    LEFT,
    PROPOSED,
    TECHNICAL,
    PowerStaff,
)
from app.models.workflow import Application
from app.services import licence_check
from app.services import staff as service
from app.workflows import engine
from app.workflows import licence as wf

ENT_P = "广东粤电建设工程有限公司"
ENT_Q = "广州南沙明珠电力工程有限公司"


def resident_id(seed: int, district: str = "440106", born=datetime.date(1988, 3, 14)) -> str:
    body = f"{district}{born:%Y%m%d}{100 + seed % 900:03d}"
    return body + ric.calc_check_digit(body + "0")


def electrician(id_number: str, **extra) -> dict:
    return {"staff_type": ELECTRICIAN, "name": "陈志强", "id_number": id_number,
            "certificate_kind": "high_voltage", "certificate_no": f"T{id_number}",
            "certificate_issuer": "广东省应急管理厅", **extra}


def technical(id_number: str, **extra) -> dict:
    return {"staff_type": TECHNICAL, "name": "黄晓明", "id_number": id_number,
            "title": "intermediate", "specialty": "输配电", **extra}


@pytest.fixture()
def ctx(app, db_session):
    """One request context (English) for the whole test (the session lives as long), as
    system work: the services' own scoping is the views' tests' business."""
    from app.models.base import unscoped

    with app.test_request_context(), force_locale("en"), unscoped():
        yield db_session


@pytest.fixture()
def ents(ctx, db_session):
    return {name: db_session.execute(select(Enterprise.id).where(Enterprise.name == name))
            .scalar_one() for name in (ENT_P, ENT_Q)}


def _actor(db_session, username):
    from app.models.identity import AppUser

    user = db_session.execute(select(AppUser).where(AppUser.username == username)).scalar_one()
    roles = {engine.REGULATOR} if user.authority_id else {engine.ENTERPRISE}
    return engine.Actor(frozenset(roles), name=username, user=user)


def _q_electrician(db_session, ents) -> PowerStaff:
    """One of ent.q's electricians proposed by its new-licence case (demo)."""
    return db_session.execute(select(PowerStaff).where(
        PowerStaff.enterprise_id == ents[ENT_Q], PowerStaff.staff_type == ELECTRICIAN)
        .limit(1)).scalar_one()


def _count(db_session, **where) -> int:
    q = select(func.count(PowerStaff.id))
    for key, value in where.items():
        q = q.where(getattr(PowerStaff, key) == value)
    return db_session.execute(q).scalar_one()


# ----- validation -------------------------------------------------------------------------
def test_clean_staff_reports_every_field(ctx):
    clean, errors = service.clean_staff({}, TECHNICAL)
    assert set(errors) == {"name", "id_number", "title", "specialty"}
    clean, errors = service.clean_staff({}, ELECTRICIAN)
    assert set(errors) == {"name", "id_number", "certificate_kind", "certificate_no",
                           "certificate_issuer"}
    assert service.clean_staff({}, "manager")[1] == {"staff_type": "Choose the staff type."}


def test_clean_staff_checks_the_id_number_and_derives_the_gender(ctx):
    good = resident_id(7)  # 17th digit 7: male
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    assert "id_number" in service.clean_staff(technical(bad), TECHNICAL)[1]
    assert "id_number" in service.clean_staff(technical("4401061988031"), TECHNICAL)[1]
    clean, errors = service.clean_staff(technical(f" {good[:6]} {good[6:]} ".lower()),
                                        TECHNICAL)
    assert errors == {}
    assert clean["id_number"] == good and clean["gender"] == "M"
    assert clean["certificate_kind"] is None and clean["title"] == "intermediate"
    # A gender given must match; cleaning clean values changes nothing.
    assert "gender" in service.clean_staff(technical(good, gender="F"), TECHNICAL)[1]
    assert service.clean_staff(clean, TECHNICAL) == (clean, {})
    female = resident_id(8)
    assert service.clean_staff(technical(female), TECHNICAL)[0]["gender"] == "F"


def test_clean_staff_checks_lists_and_lengths(ctx):
    number = resident_id(3)
    errors = service.clean_staff(technical(number, title="professor", specialty="x" * 65,
                                           name="张3"), TECHNICAL)[1]
    assert set(errors) == {"title", "specialty", "name"}
    errors = service.clean_staff(electrician(number, certificate_kind="welding",
                                             certificate_no="T-?",
                                             certificate_issuer="某某公司"), ELECTRICIAN)[1]
    assert set(errors) == {"certificate_kind", "certificate_no", "certificate_issuer"}
    clean, errors = service.clean_staff(electrician(number), ELECTRICIAN)
    assert errors == {} and clean["title"] is None


def test_mask_and_issuers(ctx):
    assert service.mask_id("440106198803141234") == "440106********1234"
    assert service.mask_id("") == ""
    assert service.default_issuer("440106") == "广东省应急管理厅"
    assert service.default_issuer("110105") == "北京市应急管理局"
    assert "国家能源局南方监管局" in service.ISSUERS


# ----- uniqueness -------------------------------------------------------------------------
def test_electrician_on_another_roster_is_refused_without_naming_it(app, db_session, ents):
    taken = _q_electrician(db_session, ents)  # proposed by ent.q's case: reserved
    before = _count(db_session)
    with pytest.raises(service.StaffConflictError) as exc:
        service.add_staff(ents[ENT_P], electrician(taken.id_number), PROPOSED)
    message = str(exc.value)
    assert service.mask_id(taken.id_number) in message
    assert "another enterprise" in message
    assert ENT_Q not in message and "南沙" not in message and taken.name not in message
    assert exc.value.code == 409
    assert _count(db_session) == before


def test_same_enterprise_duplicate_gets_its_own_message(app, db_session, ents):
    mine = db_session.execute(select(PowerStaff).where(
        PowerStaff.enterprise_id == ents[ENT_P], PowerStaff.staff_type == ELECTRICIAN,
        PowerStaff.status == ACTIVE).limit(1)).scalar_one()
    with pytest.raises(service.StaffConflictError) as exc:
        service.add_staff(ents[ENT_P], electrician(mine.id_number), PROPOSED)
    assert "this enterprise's roster" in str(exc.value)
    assert mine.name in str(exc.value)
    # Technical staff: unique on one roster, not across enterprises.
    tech = db_session.execute(select(PowerStaff).where(
        PowerStaff.enterprise_id == ents[ENT_P], PowerStaff.staff_type == TECHNICAL)
        .limit(1)).scalar_one()
    with pytest.raises(service.StaffConflictError):
        service.add_staff(ents[ENT_P], technical(tech.id_number), PROPOSED)
    row = service.add_staff(ents[ENT_Q], technical(tech.id_number), PROPOSED)
    assert row.id and row.enterprise_id == ents[ENT_Q]
    # The same person may be an electrician and technical staff of one enterprise.
    service.add_staff(ents[ENT_P], electrician(tech.id_number), PROPOSED)


def test_a_person_who_left_frees_the_id_number(app, db_session, ents):
    taken = _q_electrician(db_session, ents)
    number = taken.id_number
    taken.status = LEFT
    db_session.commit()
    row = service.add_staff(ents[ENT_P], electrician(number), PROPOSED)
    assert row.status == PROPOSED
    # ... and the database agrees: two rows, one of them left.
    assert _count(db_session, id_number=number) == 2


def test_the_database_refuses_a_second_live_electrician(app, db_session, ents):
    taken = _q_electrician(db_session, ents)
    db_session.add(PowerStaff(enterprise_id=ents[ENT_P], staff_type=ELECTRICIAN,
                              status=ACTIVE, name="王五", id_number=taken.id_number))
    with pytest.raises(IntegrityError):
        db_session.commit()
    db_session.rollback()
    # A technical row with the same number is not an electrician: allowed.
    db_session.add(PowerStaff(enterprise_id=ents[ENT_P], staff_type=TECHNICAL,
                              status=ACTIVE, name="王五", id_number=taken.id_number))
    db_session.commit()


def test_race_between_precheck_and_insert_gives_the_same_message(app, db_session, ents,
                                                                  monkeypatch):
    """The pre-check passes (another transaction has not committed yet) but the insert
    meets the committed row: the unique index refuses, the same message, nothing saved."""
    taken = _q_electrician(db_session, ents)
    before = _count(db_session)
    real = service._holder
    calls = []

    def late_holder(*args, **kwargs):
        calls.append(args)
        return None if len(calls) == 1 else real(*args, **kwargs)

    monkeypatch.setattr(service, "_holder", late_holder)
    with pytest.raises(service.StaffConflictError) as exc:
        service.add_staff(ents[ENT_P], electrician(taken.id_number), PROPOSED)
    assert len(calls) == 2  # pre-check, then the lookup for the message
    assert "another enterprise" in str(exc.value) and ENT_Q not in str(exc.value)
    db_session.rollback()
    assert _count(db_session) == before
    # The session is usable afterwards.
    row = service.add_staff(ents[ENT_P], electrician(resident_id(11)), PROPOSED)
    assert row.id


def test_race_on_update_too(app, db_session, ents, monkeypatch):
    taken = _q_electrician(db_session, ents)
    request = _draft(db_session, ents[ENT_P])
    row = service.add_staff(ents[ENT_P], electrician(resident_id(12)), PROPOSED,
                            request_id=request.id)
    monkeypatch.setattr(service, "check_available", lambda *a, **k: None)
    with pytest.raises(service.StaffConflictError):
        service.update_staff(row, electrician(taken.id_number))
    db_session.expire_all()
    assert db_session.get(PowerStaff, row.id).id_number == resident_id(12)


# ----- licence request proposals ------------------------------------------------------------
def _draft(db_session, enterprise_id) -> LicenceRequest:
    request = LicenceRequest(enterprise_id=enterprise_id, matter=ITEM_CHANGE, state=DRAFT,
                             categories={"install": 3})
    db_session.add(request)
    db_session.commit()
    return request


def test_proposals_of_a_draft_can_be_changed_and_removed(app, db_session, ents):
    request = _draft(db_session, ents[ENT_P])
    row = service.add_staff(ents[ENT_P], technical(resident_id(21)), PROPOSED,
                            request_id=request.id)
    totals = service.request_totals(request)
    roster = service.roster_totals(ents[ENT_P])
    assert totals.technical == roster.technical + 1
    assert [r.id for r in service.request_rows(request, TECHNICAL)][0] == row.id
    service.update_staff(row, technical(resident_id(21), title="senior"))
    assert db_session.get(PowerStaff, row.id).title == "senior"
    with pytest.raises(service.StaffInvalidError) as exc:
        service.update_staff(row, technical("123"))
    assert "id_number" in exc.value.errors and exc.value.code == 422
    service.remove_proposed(row)
    assert db_session.get(PowerStaff, row.id) is None


def test_proposals_only_on_an_editable_request_of_the_enterprise(app, db_session, ents):
    mine = _draft(db_session, ents[ENT_P])
    theirs = _draft(db_session, ents[ENT_Q])
    submitted = db_session.execute(select(LicenceRequest).where(
        LicenceRequest.enterprise_id == ents[ENT_Q], LicenceRequest.state != DRAFT)).scalar_one()
    before = _count(db_session)
    for enterprise, request in ((ents[ENT_P], theirs), (ents[ENT_Q], submitted),
                                (ents[ENT_P], 10**9)):
        with pytest.raises(service.StaffLockedError):
            service.add_staff(enterprise, technical(resident_id(22)), PROPOSED,
                              request_id=getattr(request, "id", request))
    assert _count(db_session) == before
    assert service.add_staff(ents[ENT_P], technical(resident_id(22)), PROPOSED,
                             request_id=mine.id).request_id == mine.id


def test_roster_rows_are_locked(app, db_session, ents):
    active = db_session.execute(select(PowerStaff).where(
        PowerStaff.enterprise_id == ents[ENT_P], PowerStaff.status == ACTIVE)
        .limit(1)).scalar_one()
    submitted = _q_electrician(db_session, ents)  # proposed by a request under review
    for row in (active, submitted):
        with pytest.raises(service.StaffLockedError):
            service.remove_proposed(row)
        with pytest.raises(service.StaffLockedError):
            service.update_staff(row, service.staff_values(row))


# ----- totals -------------------------------------------------------------------------------
def test_totals_by_title_and_kind(app, db_session, ents):
    p = service.roster_totals(ents[ENT_P])
    q = service.roster_totals(ents[ENT_Q])
    titles = dict((k, n) for k, _label, n in service.title_rows(p))
    kinds = dict((k, n) for k, _label, n in service.kind_rows(p))
    live = {"status": ACTIVE, "enterprise_id": ents[ENT_P]}
    assert p.technical == _count(db_session, staff_type=TECHNICAL, **live) == 25
    assert p.electricians == _count(db_session, staff_type=ELECTRICIAN, **live) == 60
    assert sum(titles.values()) == 25 and titles["senior"] == 3
    assert sum(kinds.values()) == 60 and kinds["cable"] == 6
    # ent.q's rows are proposals of its case: on nobody's roster yet, counted by its request.
    assert (q.technical, q.electricians) == (0, 0)
    request = db_session.execute(select(LicenceRequest).where(
        LicenceRequest.enterprise_id == ents[ENT_Q])).scalar_one()
    counted = licence_check.staff_totals(request)
    assert (counted.technical, counted.electricians) == (6, 16)


# ----- personnel changes --------------------------------------------------------------------
def _join(app, db_session, ents, values):
    actor = _actor(db_session, "ent.p")
    row = service.add_staff(ents[ENT_P], values, PROPOSED, commit=False)
    return wf.propose_join(row, actor)


def _fire(app, db_session, case_id, name, username, opinion=None):
    case = db_session.get(Application, case_id)
    engine.fire(case, name, _actor(db_session, username), opinion=opinion)
    return case.state


@pytest.mark.parametrize("ending", ["approve", "reject", "withdraw", "return_withdraw"])
def test_join_case_outcomes(app, db_session, ents, ending):
    number = resident_id(31)
    case = _join(app, db_session, ents, electrician(number))
    row = db_session.execute(select(PowerStaff).where(PowerStaff.id_number == number)).scalar_one()
    assert row.status == PROPOSED and row.case_id == case.id and case.subject_id == row.id
    assert case.payload["action"] == "join" and case.payload["issuer"] == "广东省应急管理厅"
    # Reserved at once: ent.q cannot take the person meanwhile.
    with pytest.raises(service.StaffConflictError):
        service.add_staff(ents[ENT_Q], electrician(number), PROPOSED)
    if ending == "approve":
        assert _fire(app, db_session, case.id, "approve", "reg.power") == engine.APPROVED
        db_session.expire_all()
        row = db_session.get(PowerStaff, row.id)
        assert row.status == ACTIVE and row.joined_on == datetime.date.today()
        return
    if ending == "reject":
        _fire(app, db_session, case.id, "reject", "reg.power", opinion="证书过期")
        # A refused join is not resubmitted: the row was released.
        assert "resubmit" not in {t.name for t in engine.workflow_for(wf.PERSONNEL)
                                  .available(db_session.get(Application, case.id),
                                             _actor(db_session, "ent.p"))}
    elif ending == "withdraw":
        _fire(app, db_session, case.id, "withdraw", "ent.p")
    else:
        _fire(app, db_session, case.id, "return", "reg.power", opinion="补充证书")
        db_session.expire_all()
        assert db_session.get(PowerStaff, row.id).status == PROPOSED  # still reserved
        _fire(app, db_session, case.id, "withdraw", "ent.p")
    db_session.expire_all()
    assert db_session.get(PowerStaff, row.id) is None
    # The ID number is free again, for anyone.
    assert service.add_staff(ents[ENT_Q], electrician(number), PROPOSED).id


@pytest.mark.parametrize("ending", ["approve", "reject", "withdraw"])
def test_leave_case_outcomes(app, db_session, ents, ending):
    row = db_session.execute(select(PowerStaff).where(
        PowerStaff.enterprise_id == ents[ENT_P], PowerStaff.staff_type == ELECTRICIAN,
        PowerStaff.status == ACTIVE).limit(1)).scalar_one()
    number, row_id = row.id_number, row.id
    case = wf.propose_leave(row, _actor(db_session, "ent.p"))
    assert case.payload["action"] == "leave"
    # A second leave of the same person is refused.
    with pytest.raises(wf.LicenceRequestError):
        wf.propose_leave(db_session.get(PowerStaff, row_id), _actor(db_session, "ent.p"))
    db_session.expire_all()
    assert db_session.get(PowerStaff, row_id).status == LEAVING
    assert service.roster_totals(ents[ENT_P]).electricians == 60  # still counted
    if ending == "approve":
        _fire(app, db_session, case.id, "approve", "reg.power")
        db_session.expire_all()
        left = db_session.get(PowerStaff, row_id)
        assert left.status == LEFT and left.left_on == datetime.date.today()
        assert service.roster_totals(ents[ENT_P]).electricians == 59
        # The person may now join another enterprise.
        assert service.add_staff(ents[ENT_Q], electrician(number), PROPOSED).id
        return
    if ending == "reject":
        _fire(app, db_session, case.id, "reject", "reg.power", opinion="仍在岗")
    else:
        _fire(app, db_session, case.id, "withdraw", "ent.p")
    db_session.expire_all()
    assert db_session.get(PowerStaff, row_id).status == ACTIVE


def test_join_race_in_propose_join(app, db_session, ents):
    """propose_join flushes through the guard too: a row added without the service meets
    the index and the same message; no case is opened."""
    taken = _q_electrician(db_session, ents)
    cases = db_session.execute(select(func.count(Application.id))).scalar_one()
    row = PowerStaff(enterprise_id=ents[ENT_P], staff_type=ELECTRICIAN, name="王五",
                     id_number=taken.id_number, certificate_kind="cable")
    with pytest.raises(service.StaffConflictError):
        wf.propose_join(row, _actor(db_session, "ent.p"))
    db_session.rollback()
    assert db_session.execute(select(func.count(Application.id))).scalar_one() == cases


def test_non_power_enterprise_cannot_open_a_personnel_change(ctx, db_session):
    from conftest import ids

    k = ids(db_session)
    actor = _actor(db_session, "ent.a")
    row = service.add_staff(k["ent_a"], technical(resident_id(41)), PROPOSED,
                            commit=False)
    with pytest.raises(Exception) as exc:
        wf.propose_join(row, actor)
    assert "power-facility" in str(exc.value)
    db_session.rollback()
    assert _count(db_session, enterprise_id=k["ent_a"]) == 0


def test_demo_join_case_is_under_review(db_session, ents):
    case = db_session.execute(select(Application).where(
        Application.kind == wf.PERSONNEL, Application.enterprise_id == ents[ENT_P],
        Application.state == "submitted")).scalar_one()
    row = db_session.get(PowerStaff, case.subject_id)
    assert case.state == engine.SUBMITTED and row.status == PROPOSED and row.name == "罗家豪"


