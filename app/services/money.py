"""Amounts as Chinese financial capitals (大写), e.g. 12345.67 → 壹万贰仟叁佰肆拾伍元陆角柒分."""

from __future__ import annotations

from decimal import Decimal

import cn2an


def in_capitals(amount) -> str:
    if amount is None or amount == "":
        return ""
    value = Decimal(str(amount)).quantize(Decimal("0.01"))
    if value == 0:
        return "零元整"
    return cn2an.an2cn(format(value, "f"), "rmb")
