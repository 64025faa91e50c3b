"""Rental demo data: enterprises A and B filed, with vehicles in every state and cases in
every state (pending, overdue, approved, rejected, returned), all made through the workflow
engine so their histories are real. Called by app.demo.load_demo_data()."""

from __future__ import annotations

import datetime

from app.extensions import db
from app.models.identity import AppUser
from app.models.org import Enterprise
from app.models.rental import RentalFiling, Vehicle
from app.workflows import engine
from app.workflows import rental as wf

# Public demo application (README): status lookup by USCC, resubmission with this code.
DEMO_APPLICANT_USCC = "91440106MA9UPX7Y2U"
DEMO_ACCESS_CODE = "DEMOCODE26"
DEMO_REJECTED_USCC = "91440101MA5CXWPQ8J"
DEMO_REJECTED_ACCESS_CODE = "DEMOCODE27"  # rejected: can be corrected and resubmitted

_VIN_VALUES = {**{str(d): d for d in range(10)},
               **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
               **dict(zip("JKLMN", range(1, 6), strict=True)), "P": 7, "R": 9,
               **dict(zip("STUVWXYZ", range(2, 10), strict=True))}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def vin_with_check_digit(vin17: str) -> str:
    """Put the ISO 3779 / GB 16735 check digit in position 9."""
    total = sum(_VIN_VALUES[c] * w for c, w in zip(vin17, _VIN_WEIGHTS, strict=True))
    check = total % 11
    return vin17[:8] + ("X" if check == 10 else str(check)) + vin17[9:]


VEHICLES = {
    # plate, VIN stem, brand, model, seats, colour, usage, final state
    "A": [
        ("粤A3K8J2", "LSVAM4180N2100001", "大众", "朗逸", 5, "白", "rental", "operating"),
        ("粤A7M2Q9", "LFV2A21K0N3100002", "丰田", "卡罗拉", 5, "银", "rental", "operating"),
        ("粤AD12345", "LGXC74C40N0100003", "比亚迪", "秦PLUS DM-i", 5, "蓝", "time_share",
         "operating"),
        ("粤A5P6R1", "LHGCR2650N8100004", "本田", "思域", 5, "黑", "rental", "suspended"),
        ("粤A9T3W7", "LSGKB54H0N0100005", "别克", "英朗", 5, "灰", "rental", "terminated"),
        ("粤A2C4E6", "LVHRW1830N5100006", "日产", "轩逸", 5, "白", "rental", "scrapped"),
    ],
    "B": [
        ("粤B6H8K3", "LSVAM4180N2200001", "大众", "速腾", 5, "黑", "rental", "operating"),
        ("粤BD56789", "LGXC74C40N0200002", "比亚迪", "海豚", 5, "粉", "time_share",
         "operating"),
        ("粤B1N4S8", "LFV2A21K0N3200003", "丰田", "凯美瑞", 5, "白", "rental", "suspended"),
        ("粤B3U5Y2", "LHGCR2650N8200004", "本田", "雅阁", 5, "银", "rental", "terminated"),
        ("粤B8X1Z5", "LVHRW1830N5200005", "日产", "天籁", 5, "灰", "rental", "scrapped"),
    ],
}
PENDING = {
    # plate, VIN stem, brand, model, outcome (submitted | overdue | rejected | returned)
    "A": [("粤A6F2G8", "LSVAM4180N2100011", "大众", "帕萨特", "submitted"),
          ("粤A8L3N5", "LFV2A21K0N3100012", "丰田", "亚洲龙", "overdue"),
          ("粤A4B7D1", "LHGCR2650N8100013", "本田", "凌派", "rejected"),
          ("粤A1H9J4", "LSGKB54H0N0100014", "别克", "威朗", "returned")],
    "B": [("粤B2E7G9", "LSVAM4180N2200011", "大众", "宝来", "submitted"),
          ("粤B5J1L6", "LFV2A21K0N3200012", "丰田", "雷凌", "overdue"),
          ("粤B9Q4T2", "LHGCR2650N8200013", "本田", "飞度", "rejected")],
}
PREMISES = {
    "A": [{"address": "广州市天河区天河路385号太古汇地下停车场B2层", "area": 1200,
           "parking_spaces": 60, "phone": "020-38880001"},
          {"address": "广州市白云区机场路1688号白云机场P5停车场", "area": 800,
           "parking_spaces": 40, "phone": "020-36060002"}],
    "B": [{"address": "深圳市福田区深南大道6008号特区报业大厦停车场", "area": 900,
           "parking_spaces": 45, "phone": "0755-83510003"}],
}


DEMO_PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]"
             b"/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")


def demo_attachment(enterprise_id: int, user_id: int, filename: str):
    """A real stored (minimal) PDF, for demo materials and reports."""
    import io

    from werkzeug.datastructures import FileStorage

    from app.services.attachments import save_upload

    return save_upload(FileStorage(io.BytesIO(DEMO_PDF), filename=filename), enterprise_id,
                       user_id)


def _report(enterprise_id: int, user_id: int):
    """The written report (原因说明) a suspension / termination needs."""
    return demo_attachment(enterprise_id, user_id, "书面报告.pdf")


def _actor(user: AppUser, role: str) -> engine.Actor:
    return engine.Actor(frozenset({role}), name=user.get_full_name() or user.username,
                        user=user)


def _vehicle_payload(plate, stem, brand, model, seats=5, colour="白", usage="rental",
                     owner=""):
    return {"plate": plate, "vin": vin_with_check_digit(stem), "brand": brand, "model": model,
            "vehicle_type": "small", "seats": seats, "colour": colour, "usage": usage,
            "owner_name": owner, "registered_on": "2024-03-15"}


def _backdate(case, days: int) -> None:
    when = datetime.datetime.now() - datetime.timedelta(days=days)
    case.submitted_on = when
    case.deadline = engine.workflow_for(case.kind).time_limit.deadline(when.date())
    for entry in case.history:
        entry.at = when


def load_rental_demo(orgs: dict) -> None:
    users = {u.username: u for u in db.session.query(AppUser)}
    regulator = _actor(users["reg.rental"], engine.REGULATOR)
    for key, username in (("A", "ent.a"), ("B", "ent.b")):
        ent: Enterprise = orgs[key]
        filing = RentalFiling(enterprise_id=ent.id, time_share=(key == "A"))
        db.session.add(filing)
        db.session.flush()
        case = engine.create(wf.FILING, enterprise_id=ent.id, actor=regulator, payload={
            "name": ent.name, "uscc": ent.uscc, "legal_representative":
            ent.legal_representative, "contact_name": ent.contact_name,
            "contact_mobile": ent.contact_mobile, "address": ent.address,
            "region_code": ent.region_code, "time_share": key == "A",
            "premises": PREMISES[key]}, subject_id=filing.id)
        engine.fire(case, "approve", regulator, opinion="材料齐全，准予备案。")
        _backdate(case, 400)
        filing.filed_on = filing.state_since = datetime.date.today() - datetime.timedelta(
            days=390)
        staff = _actor(users[username], engine.ENTERPRISE)
        for plate, stem, brand, model, seats, colour, usage, state in VEHICLES[key]:
            case = engine.create(wf.VEHICLE_FILING, enterprise_id=ent.id, actor=staff,
                                 payload=_vehicle_payload(plate, stem, brand, model, seats,
                                                          colour, usage, ent.name))
            engine.fire(case, "approve", regulator, opinion="同意备案。")
            _backdate(case, 300)
            vehicle = db.session.get(Vehicle, case.subject_id)
            vehicle.filed_on = vehicle.state_since = case.submitted_on.date() + \
                datetime.timedelta(days=3)
            kind = {"suspended": wf.VEHICLE_SUSPEND, "terminated": wf.VEHICLE_TERMINATE,
                    "scrapped": wf.VEHICLE_SCRAP}.get(state)
            if kind:
                change = engine.create(kind, enterprise_id=ent.id, actor=regulator,
                                       attachments=[_report(ent.id, staff.user_id)],
                                       subject_id=case.subject_id, payload={
                                           "plate": plate, "reason": "车辆年检到期，暂停运营。"
                                           if state == "suspended" else "车辆已达报废年限。",
                                           "effective_date": (datetime.date.today()
                                                              - datetime.timedelta(days=30)
                                                              ).isoformat()})
                engine.fire(change, "approve", regulator, opinion="同意。")
                _backdate(change, 30)
                vehicle.state_since = change.submitted_on.date() + datetime.timedelta(days=2)
        for plate, stem, brand, model, outcome in PENDING[key]:
            case = engine.create(wf.VEHICLE_FILING, enterprise_id=ent.id, actor=staff,
                                 payload=_vehicle_payload(plate, stem, brand, model,
                                                          owner=ent.name))
            if outcome == "overdue":
                _backdate(case, 30)
            elif outcome == "rejected":
                engine.fire(case, "reject", regulator,
                            opinion="行驶证照片不清晰，车辆所有人与申请企业不一致。")
            elif outcome == "returned":
                engine.fire(case, "return", regulator, opinion="请补充上传车辆保险单。")
    db.session.commit()
    _public_applications(orgs, regulator)


def _public_applications(orgs: dict, regulator: engine.Actor) -> None:
    """One public application under review (with a known access code) and one rejected."""
    region = orgs["A"].region_code
    sectors = list(orgs["A"].sectors)
    for name, uscc, contact, mobile, code, reject in (
            ("广州市云途出行汽车租赁有限公司", DEMO_APPLICANT_USCC, "赵敏", "13600136005",
             DEMO_ACCESS_CODE, False),
            ("广州市速达汽车租赁服务有限公司", DEMO_REJECTED_USCC, "孙立", "13500135006",
             DEMO_REJECTED_ACCESS_CODE, True)):
        ent = Enterprise(name=name, uscc=uscc, region_code=region, status="active",
                         sectors=sectors, contact_name=contact, contact_mobile=mobile)
        db.session.add(ent)
        db.session.flush()
        filing = RentalFiling(enterprise_id=ent.id)
        db.session.add(filing)
        db.session.flush()
        case = engine.create(wf.FILING, enterprise_id=ent.id, actor=engine.applicant(contact),
                             subject_id=filing.id, access_code=code or engine.new_access_code(),
                             payload={"name": name, "uscc": uscc, "legal_representative": contact,
                                      "contact_name": contact, "contact_mobile": mobile,
                                      "address": "广州市天河区体育西路101号", "region_code": region,
                                      "time_share": False, "premises": [{
                                          "address": "广州市天河区体育西路101号负一层",
                                          "area": 300, "parking_spaces": 20, "phone": ""}]})
        if reject:
            engine.fire(case, "reject", regulator,
                        opinion="经营场所证明材料缺失，请补充租赁合同后重新提交。")
