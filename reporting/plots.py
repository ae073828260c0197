"""SVG geometry for the report's plots, from the same numbers as its tables.

Pure Python: each function returns coordinates that the template draws as
inline SVG (no JavaScript, no external library, printable)."""

import math

PALETTE = ("#0d6efd", "#dc3545", "#198754", "#fd7e14", "#6f42c1", "#20c997", "#d63384", "#6c757d",
           "#0dcaf0", "#ffc107", "#343a40", "#6610f2")
WIDTH, HEIGHT, PAD = 720, 300, 48


def ck_over_time(series, width=WIDTH, height=HEIGHT, pad=PAD):
    """One line per patient: CK (log scale) against months since their first assessment."""
    lines = []
    for subject, points in series.items():
        start = points[0][0]
        lines.append((subject, [((day - start).days / 30.4375, float(ck)) for day, ck in points if ck > 0]))
    values = [ck for _, pts in lines for _, ck in pts]
    if not values:
        return None
    max_month = max((m for _, pts in lines for m, _ in pts), default=1) or 1
    lo, hi = math.log10(min(values)) - 0.05, math.log10(max(values)) + 0.05

    def x(month):
        return pad + (width - 2 * pad) * month / max_month

    def y(value):
        return height - pad - (height - 2 * pad) * (math.log10(value) - lo) / (hi - lo)

    return {
        "width": width, "height": height, "pad": pad, "x_end": width - pad, "y_end": height - pad,
        "lines": [{"subject": subject, "colour": PALETTE[i % len(PALETTE)],
                   "points": " ".join(f"{x(m):.1f},{y(v):.1f}" for m, v in pts),
                   "last": {"x": round(x(pts[-1][0]), 1), "y": round(y(pts[-1][1]), 1)} if pts else None}
                  for i, (subject, pts) in enumerate(lines)],
        "y_ticks": [{"y": round(y(t), 1), "label": t} for t in (30, 100, 300, 1000, 3000, 10000, 30000)
                    if lo <= math.log10(t) <= hi],
        "x_ticks": [{"x": round(x(m), 1), "label": m} for m in range(0, int(max_month) + 1, 1)],
    }


def bars(values, reference, floor=None, width=WIDTH, height=HEIGHT, pad=PAD):
    """Bars of percent change sorted from lowest to highest (a waterfall), with a
    reference line (e.g. -50 % for CK, +20 % for MMT-8)."""
    items = sorted(((label, float(v)) for label, v in values if v is not None), key=lambda item: item[1])
    if not items:
        return None
    low = min([v for _, v in items] + [reference, 0] + ([floor] if floor is not None else []))
    high = max([v for _, v in items] + [reference, 0])
    low, high = low - 5, high + 5
    span = high - low
    slot = (width - 2 * pad) / len(items)

    def y(value):
        return height - pad - (height - 2 * pad) * (value - low) / span

    zero = y(0)
    return {
        "width": width, "height": height, "pad": pad, "x_end": width - pad, "zero": round(zero, 1),
        "label_y": height - pad + 12,
        "reference": round(y(reference), 1), "reference_label": f"{reference:+g} %",
        "bars": [{"label": label, "value": round(v, 1), "x": round(pad + i * slot + slot * 0.15, 1),
                  "width": round(slot * 0.7, 1), "y": round(min(y(v), zero), 1),
                  "height": round(abs(y(v) - zero), 1), "label_x": round(pad + i * slot + slot / 2, 1),
                  "meets": (v <= reference) if reference < 0 else (v >= reference)}
                 for i, (label, v) in enumerate(items)],
        "y_ticks": [{"y": round(y(t), 1), "label": t} for t in range(-100, 201, 25) if low <= t <= high],
    }
