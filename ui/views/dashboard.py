"""Dashboard: deflection, KCS reuse and create, triage accuracy and coverage, priorities and
SLA breaches by day, the biggest knowledge gaps.  Every figure is the API's, as it gives it."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from ui.common import call, pct, require_sign_in, when

FIELDS = {
    "type": "Type",
    "impact": "Impact",
    "urgency": "Urgency",
    "category": "Category",
    "assignment_group": "Assignment group",
    "tier": "Tier",
}


def _by_day(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """``[{day, key, count}]`` as a day × key table of counts."""
    df = pd.DataFrame(rows)
    return df.pivot_table(index="day", columns="key", values="count", aggfunc="sum", fill_value=0)


require_sign_in()
days = st.columns([1, 5])[0].number_input("Days", min_value=1, max_value=3650, value=30, step=1)
d = call("GET", "/dashboard", params={"days": int(days)})
if d is None:
    st.stop()
st.caption(f"Since {when(d['since'])}: {d['tickets']} desk tickets, {d['decided']} decided.")

triage = d["triage"]
row1 = st.columns(4)
row1[0].metric(
    "Deflection rate",
    pct(d["deflection_rate"]),
    help=f"{d['deflected']} of {d['decided']} decided tickets resolved with a suggested article",
)
row1[1].metric("Reuse", d["reuse"], help="Resolutions that reused a KB article (KCS reuse)")
row1[2].metric("Create", d["create"], help="Resolutions captured as a new article (KCS create)")
row1[3].metric("KCS reuse rate", pct(d["reuse_rate"]), help="reuse / (reuse + create)")
row2 = st.columns(4)
row2[0].metric(
    "Triage accuracy",
    pct(triage["accuracy"]),
    help=f"{triage['corrections']} corrections of {triage['requests']} triaged requests",
)
row2[1].metric("Triage coverage", pct(triage["coverage"]), help="Fields answered, not abstained")
row2[2].metric("Open tickets", d["open"])
row2[3].metric("SLA breached now", d["breached_now"])
st.caption(
    f"Escalated: {d['escalated']} · feedback: {d['helpful']} helped, "
    f"{d['not_helpful']} did not help"
)

left, right = st.columns(2)
with left:
    st.markdown("**Tickets by priority and day**")
    if d["priorities"]:
        st.bar_chart(_by_day(d["priorities"]))
    else:
        st.caption("No tickets in this period.")
with right:
    st.markdown("**SLA breaches by day**")
    if d["sla_breaches"]:
        st.bar_chart(_by_day(d["sla_breaches"]))
    else:
        st.caption("No SLA breaches in this period.")

st.markdown("**Triage by field** (accuracy: not corrected; coverage: answered, not abstained)")
fields = triage.get("fields") or {}
if fields:
    table = pd.DataFrame(
        [
            {
                "field": FIELDS.get(name, name),
                "requests": f["requests"],
                "answered": f["answered"],
                "corrected": f["corrected"],
                "accuracy": pct(f["accuracy"]),
                "coverage": pct(f["coverage"]),
            }
            for name, f in fields.items()
        ]
    )
    st.dataframe(table, hide_index=True)
    chart = pd.DataFrame(
        {
            "accuracy": {FIELDS.get(n, n): f["accuracy"] for n, f in fields.items()},
            "coverage": {FIELDS.get(n, n): f["coverage"] for n, f in fields.items()},
        }
    )
    st.bar_chart(chart, stack=False)
else:
    st.caption("No triaged requests in this period.")

st.markdown("**Top knowledge gaps** (recent tickets no article answered)")
if d["top_gaps"]:
    st.dataframe(
        [
            {
                "gap": g["label"],
                "tickets": g["size"],
                "best article score": g.get("best_article_score"),
                "latest": when(g.get("latest")),
                "examples": "; ".join(r["title"] for r in g.get("representatives", [])[:3]),
            }
            for g in d["top_gaps"]
        ],
        hide_index=True,
    )
else:
    st.caption("No gaps: every recent ticket had a good article.")
