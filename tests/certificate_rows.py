"""Rental rows for the certificate and verification tests, written directly (the rental
workflows that normally create them are tested elsewhere)."""

from __future__ import annotations

import datetime

from conftest import ids

from app.models.rental import RentalFiling, RentalPremises, Vehicle

FILING_NO = "GDZL2026000001"
VEHICLE_NO = "GDZLC20269000001"  # outside the demo vehicles' numbers
B_FILING_NO = "GDZL2026000002"
B_VEHICLE_NO = "GDZLC20269000002"
PREMISES = ("广州市天河区体育西路191号地下停车场", "广州市白云区机场路1688号")


def make_rental_rows(db_session) -> dict:
    """A filing with two premises and a vehicle for enterprise A, the same for B."""
    k = ids(db_session)
    a, b = k["ent_a"], k["ent_b"]
    # The demo data already filed A and B: give their filings known values.
    filing = db_session.query(RentalFiling).filter_by(enterprise_id=a).one()
    filing.certificate_no, filing.state, filing.time_share = FILING_NO, "operating", True
    filing.filed_on = datetime.date(2026, 3, 2)
    filing.premises = [
        RentalPremises(enterprise_id=a, address=PREMISES[0], area=800, parking_spaces=60,
                       phone="020-38880000"),
        RentalPremises(enterprise_id=a, address=PREMISES[1], area=300, parking_spaces=25),
    ]
    vehicle = Vehicle(enterprise_id=a, plate="粤A7K2M9", vin="LSVAB2BM5KN012345", brand="大众",
                      model="朗逸", vehicle_type="small", seats=5, colour="白", usage="rental",
                      owner_name="广州市穗通汽车租赁有限公司",
                      registered_on=datetime.date(2025, 12, 1), certificate_no=VEHICLE_NO,
                      filed_on=datetime.date(2026, 3, 5))
    b_filing = db_session.query(RentalFiling).filter_by(enterprise_id=b).one()
    b_filing.certificate_no, b_filing.state = B_FILING_NO, "operating"
    b_filing.filed_on = datetime.date(2026, 2, 1)
    b_vehicle = Vehicle(enterprise_id=b, plate="粤B3C4D5", vin="LFV2A21K8M4098765",
                        brand="丰田", model="卡罗拉", seats=5,
                        owner_name="深圳市鹏程小客车租赁有限公司", certificate_no=B_VEHICLE_NO,
                        filed_on=datetime.date(2026, 2, 3))
    db_session.add_all([filing, vehicle, b_filing, b_vehicle])
    db_session.commit()
    return {"filing": filing.id, "vehicle": vehicle.id, "b_filing": b_filing.id,
            "b_vehicle": b_vehicle.id, "ent_a": a, "ent_b": b}
