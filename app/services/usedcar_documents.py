"""The used-car filing registration form (二手车…信息备案登记表, seed 001 §2.3) as a printed
PDF and as an .xlsx export (U3), and its public verification (X13).

A form is printed from what the enterprise last saved: the open case's payload while a case
is open, else the confirmed filing. Only a confirmed filing carries a verification QR code;
its marker is the confirmation time, so a paper printed before a later re-confirmation is
reported as superseded."""

from __future__ import annotations

import datetime

from flask_babel import format_date, gettext
from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models.usedcar import BUSINESS_TYPES, SECTOR, UsedCarFiling
from app.services import verification as v
from app.services import xlsx
from app.services.certificates import issuing_authority
from app.services.pdf import render_pdf
from app.workflows import usedcar as wf

KIND = "usedcar_filing"
TITLE = _l("Used-Car Business Filing Registration Form")


def form_rows(enterprise, profile, data: dict) -> list[tuple[str, str]]:
    """(label, value) of the form, in the seed's order, as printed and exported."""
    workflow = wf_workflow()
    rows = [
        (gettext("Enterprise name"), enterprise.name),
        (gettext("Unified social credit code"), enterprise.uscc or gettext("None")),
    ]
    if profile is not None:
        rows += [
            (gettext("Business licence number"), profile.licence_no or ""),
            (gettext("Organisation code"), profile.org_code or ""),
            (gettext("Tax registration number"), profile.tax_no or ""),
            (gettext("Enterprise type"), profile.enterprise_type_label),
        ]
    for key in wf.fields_for(data.get("business_type")):
        if key == "branches":
            continue
        value = workflow.display(key, data.get(key))
        if key == "operating_to" and not value:
            value = gettext("Unlimited")
        rows.append((str(wf.FILING_LABELS[key]), "" if value is None else str(value)))
    return rows


def wf_workflow():
    from app.workflows.engine import workflow_for

    return workflow_for(wf.FILING)


def _title(business_type: str) -> str:
    return f"{BUSINESS_TYPES.get(business_type, '')} {TITLE}".strip()


def filename(enterprise, business_type: str, ext: str) -> str:
    return f"{enterprise.uscc or enterprise.id}-{business_type}.{ext}"


def filing_pdf(enterprise, profile, data: dict, filing: UsedCarFiling | None,
               pending_case=None) -> bytes:
    """`filing` is the confirmed filing when `data` is its data (then a QR code is added);
    `pending_case` the open case when `data` is its payload."""
    context = {"printed_on": format_date(datetime.date.today(), "long")}
    if filing is not None:
        url = v.verify_url(v.token_for(KIND, filing.id, filing.confirmed_on.isoformat()))
        context.update(verify_url=url, qr=v.qr_data_uri(url),
                       issuer=issuing_authority(filing.enterprise_id, SECTOR),
                       confirmed_on=format_date(filing.confirmed_on, "long"))
    return render_pdf("pdf/usedcar_filing.html", title=_title(data.get("business_type")),
                      rows=form_rows(enterprise, profile, data),
                      branches=data.get("branches") or [], filing=filing,
                      pending_case=pending_case, enterprise=enterprise, **context)


def filing_xlsx(enterprise, profile, data: dict, path: str) -> str:
    """Two sheets: the form (label, value) and the branches."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(gettext("Filing form")[:31])
    ws.append([xlsx.safe_value(_title(data.get("business_type")))])
    for label, value in form_rows(enterprise, profile, data):
        ws.append([xlsx.safe_value(label), xlsx.safe_value(value)])
    ws = wb.create_sheet(gettext("Branches")[:31])
    header = [gettext("Branch name"), gettext("Business licence number"),
              gettext("Business address"), gettext("Business scope")]
    from openpyxl.cell import WriteOnlyCell

    cells = []
    for text in header:
        cell = WriteOnlyCell(ws, value=text)
        cell.font = Font(bold=True)
        cells.append(cell)
    ws.append(cells)
    for branch in data.get("branches") or []:
        ws.append([xlsx.safe_value(branch.get(k)) for k in ("name", "licence_no", "address",
                                                             "scope")])
    wb.save(path)
    return path


def resolve_filing(obj_id: int, marker: str) -> v.VerifiedDocument | None:
    filing = db.session.get(UsedCarFiling, obj_id)
    if filing is None:
        return None
    enterprise = filing.enterprise
    current = filing.confirmed_on.isoformat()
    note = None
    status = v.VALID
    if marker != current:
        status = v.SUPERSEDED
        note = gettext("This paper is no longer current: the filing was confirmed again on "
                       "%(date)s.", date=format_date(filing.confirmed_on, "long"))
    fields = [
        (gettext("Enterprise name"), enterprise.name),
        (gettext("Unified social credit code"), enterprise.uscc or ""),
        (gettext("Business type"), filing.business_type_label),
        (gettext("Confirmed on"), format_date(filing.confirmed_on, "long")),
    ]
    issuer = issuing_authority(filing.enterprise_id, SECTOR)
    if issuer:
        fields.append((gettext("Confirming authority"), issuer))
    return v.VerifiedDocument(title=_title(filing.business_type), number="", status=status,
                              fields=fields, note=note)


def register_documents() -> None:
    v.register_document(KIND, resolve_filing)
