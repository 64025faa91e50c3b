"""`python -m bench.pdf`: certificate rendering time (SPEC X13; target: median <= 150 ms).

Fresh SQLite database with the demo data and BENCH_DOCS (default 30) filed vehicles of
enterprise A. Prints, in ms:
  cold     the first certificate of the process (font registration, imports, template compile)
  floor    ReportLab alone drawing the same fields with the same font on a canvas
  vehicle  median vehicle certificate, each a different vehicle (no QR image reused)
  filing   median enterprise filing certificate (same filing: its QR image is cached)
"""

from __future__ import annotations

import datetime
import io
import os
import statistics
import tempfile
import time

os.environ.setdefault("REGPORTAL_INSTANCE", tempfile.mkdtemp(prefix="regportal-bench-"))
os.environ["CAPTCHA_ENABLED"] = "0"
os.environ["RATELIMIT_ENABLED"] = "0"

from app import create_app  # noqa: E402


def _ms(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def _floor(vehicle) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    from app.services.pdf import FONT_NAME

    c = canvas.Canvas(io.BytesIO(), pagesize=A4)
    c.setFont(FONT_NAME, 11)
    y = 780
    for value in (vehicle.certificate_no, vehicle.plate, vehicle.vin, vehicle.brand,
                  vehicle.model, vehicle.owner_name, vehicle.enterprise.name):
        c.drawString(72, y, str(value))
        y -= 20
    c.showPage()
    c.save()


def main() -> None:
    docs = int(os.environ.get("BENCH_DOCS", "30"))
    app = create_app({"WTF_CSRF_ENABLED": False})
    from flask_migrate import upgrade

    from app.cli import create_permissions, sync_roles
    from app.demo import load_demo_data
    from app.extensions import db
    from app.models.org import Enterprise
    from app.models.rental import RentalFiling, RentalPremises, Vehicle
    from app.services.certificates import enterprise_certificate_pdf, vehicle_certificate_pdf

    with app.app_context():
        upgrade()
        create_permissions()
        sync_roles()
        load_demo_data()
        ent = db.session.query(Enterprise).filter_by(name="广州市穗通汽车租赁有限公司").one()
        filing = RentalFiling(enterprise_id=ent.id, certificate_no="GDZL2026000001",
                              state="operating", filed_on=datetime.date(2026, 3, 2))
        filing.premises = [RentalPremises(enterprise_id=ent.id, area=300, parking_spaces=20,
                                          address=f"广州市天河区体育西路{i}号")
                           for i in range(1, 4)]
        db.session.add(filing)
        for i in range(docs):
            db.session.add(Vehicle(
                enterprise_id=ent.id, plate=f"粤A{i:05d}", vin=f"LSVAB2BM5KN{i:06d}",
                brand="大众", model="朗逸", seats=5, owner_name=ent.name,
                certificate_no=f"GDZLC2026{i:07d}", filed_on=datetime.date(2026, 3, 5)))
        db.session.commit()
        vehicles = db.session.query(Vehicle).order_by(Vehicle.id).all()

        cold = _ms(lambda: vehicle_certificate_pdf(vehicles[0]))
        floor = statistics.median(_ms(lambda v=v: _floor(v)) for v in vehicles)
        vehicle = statistics.median(_ms(lambda v=v: vehicle_certificate_pdf(v))
                                    for v in vehicles[1:])
        filing_ms = statistics.median(_ms(lambda: enterprise_certificate_pdf(filing))
                                      for _ in range(docs))
    print(f"PDF certificates, {docs} documents, median ms")
    print(f"  cold     {cold:8.1f}")
    print(f"  floor    {floor:8.1f}   (ReportLab canvas, same font)")
    print(f"  vehicle  {vehicle:8.1f}   x{vehicle / floor:.1f} floor")
    print(f"  filing   {filing_ms:8.1f}   x{filing_ms / floor:.1f} floor")


if __name__ == "__main__":
    main()
