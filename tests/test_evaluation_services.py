"""Service evaluations (好差评, SPEC P14), the service layer: field rules (all errors at once),
the mobile number's 5-day lock in the database (exactly at the boundary, after a failed
evaluation, under concurrency), the cases an enterprise may evaluate, codes, the summary."""

from __future__ import annotations

import datetime
import threading

import pytest
from conftest import PG_URL
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models.audit import AuditEvent
from app.models.evaluation import (
    Evaluation,
    EvaluationCode,
    EvaluationMobileLock,
    mask_mobile,
)
from app.models.identity import AppUser
from app.models.workflow import Application
from app.services import evaluations as svc

T0 = datetime.datetime(2026, 3, 2, 9, 30, 0)


def _user(db_session, username):
    return db_session.query(AppUser).filter_by(username=username).one()


def _code(db_session, title="许可受理窗口") -> EvaluationCode:
    return db_session.query(EvaluationCode).filter_by(title=title).one()


def _ended_case(db_session, evaluated: bool):
    """ent.p's refused personnel change: the evaluated one, or the one still in the to-do."""
    p = _user(db_session, "ent.p")
    cases = (db_session.query(Application)
             .filter(Application.enterprise_id == p.enterprise_id,
                     Application.state == "rejected").all())
    done = {e.case_id for e in db_session.query(Evaluation).filter(
        Evaluation.case_id.isnot(None))}
    found = [c for c in cases if (c.id in done) == evaluated]
    assert found, "demo: ent.p has a refused personnel change"
    return found[0]


def _qr(db_session, mobile="13712345678", at=T0, **over):
    values = {"satisfaction": 5, "mobile": mobile, "code": _code(db_session), "now": at}
    values.update(over)
    return svc.submit(**values)


# ----- fields ---------------------------------------------------------------------------------
@pytest.mark.parametrize("raw, expected", [
    ("13800138000", "13800138000"),
    ("+86 138 0013 8000", "13800138000"),
    ("138-0013-8000", "13800138000"),
    ("8613800138000", "13800138000"),
    ("19912345678", "19912345678"),
    ("12345678901", None),       # no such mobile range
    ("1380013800", None),        # 10 digits
    ("138001380001", None),      # 12 digits
    ("020-38881234", None),      # a Guangzhou landline, not a mobile
    ("+1 650 253 0000", None),   # not a mainland number
    ("abc", None),
    ("1" * 30, None),
    ("", None),
])
def test_mobile_numbers_are_mainland_mobiles(raw, expected):
    assert svc.normalise_mobile(raw) == expected


def test_every_field_error_is_reported_at_once(app):
    clean, errors = svc.validate(satisfaction="", mobile="12345", name="名" * 40,
                                 aspects=["attitude", "bribes"], comment="长" * 501)
    assert set(errors) == {"satisfaction", "mobile", "name", "aspects", "comment"}
    clean, errors = svc.validate(satisfaction="6", mobile="", comment="好" * 500,
                                 aspects=["guidance", "attitude", "attitude"])
    assert set(errors) == {"satisfaction", "mobile"}
    assert clean["aspects"] == ["attitude", "guidance"]  # listed order, no duplicates
    assert len(clean["comment"]) == 500


def test_mask_mobile():
    assert mask_mobile("13912341234") == "139****1234"
    assert mask_mobile("") == ""


def test_invalid_evaluation_saves_nothing_and_takes_no_lock(app, db_session):
    before = db_session.query(Evaluation).count()
    with pytest.raises(svc.EvaluationInvalidError) as exc:
        _qr(db_session, mobile="13712345678", satisfaction=9, comment="x" * 900)
    assert set(exc.value.errors) == {"satisfaction", "comment"}
    assert db_session.query(Evaluation).count() == before
    assert svc.locked_until(db_session, "13712345678") is None


# ----- the 5-day rule -------------------------------------------------------------------------
def test_five_days_exactly_at_the_boundary(app, db_session):
    first = _qr(db_session, at=T0)
    assert first.channel == "qr" and first.enterprise_id is None
    almost = T0 + datetime.timedelta(days=4, hours=23, minutes=59, seconds=59)
    with pytest.raises(svc.EvaluationMobileLockedError) as exc:
        _qr(db_session, at=almost, satisfaction=1)
    assert exc.value.until == T0 + datetime.timedelta(days=5)
    assert exc.value.code == 409
    assert "2026-03-07 09:30" in str(exc.value)  # the day it may evaluate again
    # The same number in another format is the same number.
    with pytest.raises(svc.EvaluationMobileLockedError):
        _qr(db_session, mobile="+86 137-1234-5678", at=almost)
    second = _qr(db_session, at=T0 + datetime.timedelta(days=5), satisfaction=2)
    assert db_session.query(Evaluation).filter_by(mobile="13712345678").count() == 2
    assert second.satisfaction == 2
    lock = db_session.get(EvaluationMobileLock, "13712345678")
    assert lock.until == T0 + datetime.timedelta(days=10)


def test_the_rule_holds_across_channels(app, db_session):
    """A number that evaluated through a QR code cannot evaluate a case the next day."""
    case = _ended_case(db_session, evaluated=False)
    user = _user(db_session, "ent.p")
    now = datetime.datetime.now()
    _qr(db_session, mobile="13612345678", at=now - datetime.timedelta(days=1))
    with pytest.raises(svc.EvaluationMobileLockedError):
        svc.submit(satisfaction=5, mobile="13612345678", case=case, user=user, now=now)
    ev = svc.submit(satisfaction=5, mobile="13512345678", case=case, user=user, now=now)
    assert ev.case_id == case.id and ev.enterprise_id == user.enterprise_id
    assert ev.channel == "todo" and ev.submitted_by_id == user.id


def test_the_lock_statement_is_atomic_take_or_refuse(app, db_session):
    """The statement itself, twice in one transaction and across transactions."""
    assert svc.take_mobile_lock(db_session, "13812340000", T0) is True
    assert svc.take_mobile_lock(db_session, "13812340000", T0 + datetime.timedelta(days=1)) \
        is False
    db_session.commit()
    assert svc.take_mobile_lock(db_session, "13812340000",
                                T0 + datetime.timedelta(days=4, hours=23, minutes=59,
                                                        seconds=59)) is False
    assert svc.take_mobile_lock(db_session, "13812340000", T0 + datetime.timedelta(days=5)) \
        is True
    db_session.rollback()  # a failed evaluation gives its lock back
    assert svc.locked_until(db_session, "13812340000") == T0 + datetime.timedelta(days=5)


def test_two_submissions_for_one_number_exactly_one_wins(app, db_session):
    """Sequentially: the second is refused whatever its channel."""
    results = []
    for level in (5, 1):
        try:
            _qr(db_session, mobile="13412345678", at=T0, satisfaction=level)
            results.append("ok")
        except svc.EvaluationMobileLockedError:
            results.append("locked")
    assert results == ["ok", "locked"]
    assert db_session.query(Evaluation).filter_by(mobile="13412345678").count() == 1


def _race(app, code_id, mobile, now):
    barrier = threading.Barrier(2)
    results = []

    def submit(level):
        with app.app_context():
            code = db.session.get(EvaluationCode, code_id)
            barrier.wait()
            try:
                svc.submit(satisfaction=level, mobile=mobile, code=code, now=now)
                results.append("ok")
            except svc.EvaluationMobileLockedError:
                results.append("locked")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=submit, args=(level,)) for level in (5, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


@pytest.mark.skipif(not PG_URL, reason="real concurrency needs PostgreSQL")
def test_concurrent_submissions_for_one_number_exactly_one_wins_on_postgresql(app,
                                                                             db_session):
    code_id = _code(db_session).id
    db_session.remove()
    for i in range(5):  # several rounds: a new number each time, then an expired lock
        mobile = f"1331234567{i}"
        assert sorted(_race(app, code_id, mobile, T0)) == ["locked", "ok"]
        assert sorted(_race(app, code_id, mobile, T0 + datetime.timedelta(days=5))) == [
            "locked", "ok"]
        with app.app_context():
            assert db.session.query(Evaluation).filter_by(mobile=mobile).count() == 2


def test_concurrent_submissions_for_one_number_exactly_one_wins_on_sqlite(app, db_session):
    """SQLite has one writer at a time: the second waits, then finds the lock taken."""
    if PG_URL:
        pytest.skip("the PostgreSQL variant runs instead")
    code_id = _code(db_session).id
    db_session.remove()
    assert sorted(_race(app, code_id, "13312345670", T0)) == ["locked", "ok"]
    with app.app_context():
        assert db.session.query(Evaluation).filter_by(mobile="13312345670").count() == 1


# ----- cases ----------------------------------------------------------------------------------
def test_one_evaluation_per_case_in_the_database(app, db_session):
    case = _ended_case(db_session, evaluated=True)
    db_session.add(Evaluation(channel="todo", case_id=case.id, enterprise_id=case.enterprise_id,
                              mobile="13912340000", satisfaction=3, aspects=[]))
    with pytest.raises(IntegrityError):
        db_session.commit()
    db_session.rollback()


def test_a_case_is_evaluated_once_and_the_loser_keeps_no_lock(app, db_session):
    case = _ended_case(db_session, evaluated=True)
    user = _user(db_session, "ent.p")
    with pytest.raises(svc.EvaluationExistsError):
        svc.submit(satisfaction=5, mobile="13112345678", case=case, user=user)
    assert svc.locked_until(db_session, "13112345678") is None


def test_only_ended_recent_power_cases_of_ones_own_enterprise(app, db_session):
    p, q, a = (_user(db_session, u) for u in ("ent.p", "ent.q", "ent.a"))
    case = _ended_case(db_session, evaluated=False)
    assert svc.case_for_evaluation(case.id, p).id == case.id
    for user in (q, a):  # another power enterprise, a rental enterprise
        with pytest.raises(svc.EvaluationCaseError):
            svc.case_for_evaluation(case.id, user)
    open_case = db_session.query(Application).filter(
        Application.enterprise_id == p.enterprise_id,
        Application.state == "submitted").first()
    rental = db_session.query(Application).filter(
        Application.enterprise_id == a.enterprise_id,
        Application.state == "approved").first()
    for other, user in ((open_case, p), (rental, a)):
        with pytest.raises(svc.EvaluationCaseError):
            svc.case_for_evaluation(other.id, user)
    for forged in (0, -1, 2**31, 10**9):
        with pytest.raises(svc.EvaluationCaseError):
            svc.case_for_evaluation(forged, p)
    assert [c.id for c in svc.cases_to_evaluate(p)] == [case.id]
    assert svc.cases_to_evaluate(a) == [] and svc.cases_to_evaluate(q) == []
    # Decided more than 90 days ago: no longer offered.
    case.decided_on = datetime.datetime.now() - datetime.timedelta(days=91)
    db_session.commit()
    assert svc.cases_to_evaluate(p) == []
    with pytest.raises(svc.EvaluationCaseError):
        svc.case_for_evaluation(case.id, p)


def test_evaluation_is_audited(app, db_session):
    ev = _qr(db_session, mobile="13012345678", at=T0)
    event = db_session.query(AuditEvent).filter_by(action="evaluate",
                                                   target_id=str(ev.id)).one()
    assert "130****5678" in event.detail and "13012345678" not in event.detail


# ----- codes ----------------------------------------------------------------------------------
def test_codes_are_generated_by_power_authorities_only(app, db_session):
    reg = _user(db_session, "reg.power")
    one = svc.create_code(svc.CodeRequest("service", "  许可受理窗口 二  "), reg)
    two = svc.create_code(svc.CodeRequest("matter", "延续", matter="power_renewal"), reg)
    assert one.title == "许可受理窗口 二" and one.matter is None
    assert len(one.token) >= 32 and one.token != two.token
    assert one.authority_id == reg.authority_id and one.created_by_id == reg.id
    with pytest.raises(svc.EvaluationCodeError) as exc:
        svc.create_code(svc.CodeRequest("matter", "", matter="rental_filing"), reg)
    assert set(exc.value.errors) == {"title", "matter"}
    with pytest.raises(svc.EvaluationCodeError) as exc:
        svc.create_code(svc.CodeRequest("matter", "某事项"), reg)
    assert set(exc.value.errors) == {"matter"}
    with pytest.raises(svc.EvaluationCodeError) as exc:
        svc.create_code(svc.CodeRequest("other", "x" * 101), reg)
    assert set(exc.value.errors) == {"kind", "title"}
    for username in ("reg.rental", "admin", "ent.p"):  # no power sector / no authority
        with pytest.raises(svc.EvaluationCodeError):
            svc.create_code(svc.CodeRequest("service", "窗口"), _user(db_session,
                                                                      username))


def test_a_code_for_one_case(app, db_session):
    reg = _user(db_session, "reg.power")
    case = _ended_case(db_session, evaluated=False)
    rental = db_session.query(Application).filter(Application.kind == "vehicle_filing").first()
    code = svc.create_code(svc.CodeRequest("matter", "本案评价",
                                           case_reference=case.reference), reg)
    assert code.case_id == case.id and code.matter == case.kind
    with pytest.raises(svc.EvaluationCodeError) as exc:
        svc.create_code(svc.CodeRequest("matter", "x", matter="power_new",
                                        case_reference=case.reference), reg)
    assert set(exc.value.errors) == {"matter"}
    for ref in ("NOPE-0001", rental.reference):
        with pytest.raises(svc.EvaluationCodeError) as exc:
            svc.create_code(svc.CodeRequest("matter", "x", case_reference=ref), reg)
        assert set(exc.value.errors) == {"case_reference"}


def test_a_switched_off_code_takes_no_evaluation(app, db_session):
    code = _code(db_session)
    svc.set_code_active(code, False)
    assert svc.active_code(code.token) is None
    assert svc.active_code("x" * 100) is None and svc.active_code("") is None
    with pytest.raises(svc.EvaluationCaseError):
        _qr(db_session, mobile="13912345000", code=code)


# ----- summary --------------------------------------------------------------------------------
def test_summary_counts_levels_and_the_satisfied_share(app, db_session):
    s = svc.summary(db_session.query(Evaluation))
    # Demo: 20 through codes (8 very satisfied, 5, 3, 2, 2) and one case evaluation (4).
    assert s.counts == {5: 8, 4: 6, 3: 3, 2: 2, 1: 2}
    assert s.total == 21 and s.satisfied == 17
    assert round(s.share, 4) == round(17 / 21, 4)
    empty = svc.summary(db_session.query(Evaluation).filter(Evaluation.id < 0))
    assert empty.total == 0 and empty.share is None and empty.average is None
    rows = svc.summary_rows(s)
    assert rows[0][1:] == [8, round(8 / 21, 4)] and rows[-2][1] == 21 and rows[-1][1] == 17
