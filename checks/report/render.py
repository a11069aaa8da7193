"""Rendering of the monthly checklist and the overview: Markdown, HTML, JSON.

Everything that comes from the journal (summaries, names, comments, server names: text from
Azure, the database or a person) is escaped: Markdown escaping plus `&lt;`/`&gt;` in Markdown
(renderers pass raw HTML through); HTML comes from the Jinja2 templates of checks/report/pages.py
(autoescape, a CSP that forbids every script and fetch, print rules for A4).
"""
from __future__ import annotations

import json
import re
from typing import Any

from checks.report.model import BOXES, DRY_RUN_CHECKS, NO_EVIDENCE, PARTIAL, TICKED, Box, MonthReport, Overview
from checks.report.protections import counts_text

CONTENT_TYPES = {"md": "text/markdown; charset=utf-8", "html": "text/html; charset=utf-8",
                 "json": "application/json"}

_SHORT = {"backup": "Backup", "retention": "Retention", "soft_delete": "Soft delete", "dry_run": "Dry run",
          "journal": "Journal"}
_STATE_WORD = {TICKED: "ticked", "warning": "warning", "failed": "FAILED", "error": "ERROR", PARTIAL: "partial",
               NO_EVIDENCE: "no evidence"}


def render(obj: MonthReport | Overview, fmt: str, links: Any = None) -> str:
    """`links` (pages.Links) for HTML: where the linked pages are; default next to this page."""
    if fmt == "json":
        return json.dumps(obj.to_dict(), indent=2, default=str) + "\n"
    if fmt == "html":
        from checks.report.pages import Links, month_page, overview_page  # lazy: Jinja2 only for HTML
        links = links or Links()
        return overview_page(obj, links) if isinstance(obj, Overview) else month_page(obj, links)
    return overview_md(obj) if isinstance(obj, Overview) else month_md(obj)


# --- shared wording -------------------------------------------------------------------------

def _fmt_value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "–"
    return str(value)


def _values_text(values: dict[str, Any]) -> str:
    return ", ".join(f"{k.replace('_', ' ')}: {_fmt_value(v)}" for k, v in values.items())


def _time(iso: str) -> str:
    """2026-11-01T06:00:00.123Z -> 2026-11-01 06:00 UTC"""
    return f"{iso[:10]} {iso[11:16]} UTC" if len(iso) >= 16 else iso


def _evidence_lines(box: Box) -> list[str]:
    """Plain-text lines (unescaped) describing the evidence of a box."""
    if box.evidence is None:
        return []
    ev = box.evidence
    head = f"run {ev.run_id} ({ev.trigger}{', dry run' if ev.dry_run else ''}), {_time(ev.at)}"
    lines = [head]
    for r in ev.results:
        parts = [f"{r['check_id']} {r['status']}"]
        if r.get("values"):
            parts.append(_values_text(r["values"]))
        elif r.get("summary"):
            parts.append(r["summary"])
        lines.append(": ".join(parts))
    return lines


def _drill_text(report: MonthReport) -> str:
    d = report.drill
    if d is None:
        return "no restore drill recorded this month"
    rpo = (f", RPO {_fmt_value(d.rpo_seconds)} s, rows lost up to the restore point: {_fmt_value(d.rows_lost)}"
           if d.rpo_seconds is not None or d.rows_lost is not None else "")
    return (f"{d.status}: RTO {_fmt_value(d.rto_minutes)} min{rpo}, restore point {_fmt_value(d.restore_point)}, "
            f"target server {_fmt_value(d.target_server)} (run {d.run_id}, {_time(d.at)}) — {d.summary}")


# --- Markdown --------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#])")


def md(text: Any) -> str:
    """Escape for Markdown inline text and table cells; raw HTML is neutralised too."""
    value = str(text).replace("\r", " ").replace("\n", " ")
    value = _MD_SPECIAL.sub(r"\\\1", value)
    return value.replace("<", "&lt;").replace(">", "&gt;")


def _mark(box: Box) -> str:
    return "[x]" if box.ticked else "[ ]"


def month_md(report: MonthReport) -> str:
    out = [f"# Monthly backup checklist — {report.month}", ""]
    out.append(f"Generated {md(_time(report.generated_at))} from the internal journal; "
               f"{len(report.runs)} run(s) recorded this month. "
               f"**{report.ticked} of {len(report.boxes)} boxes ticked.** Report digest `{report.digest}`.")
    out += ["", "| | Item | State | Evidence |", "|---|---|---|---|"]
    for box in report.boxes:
        evidence = "; ".join(md(line) for line in _evidence_lines(box)) or "**no evidence**"
        remarks = "".join(f"<br>⚠ {md(r)}" for r in box.remarks)
        out.append(f"| {_mark(box)} | {md(box.label)} | {md(_STATE_WORD.get(box.state, box.state))} | "
                   f"{evidence}{remarks} |")
    out += ["", "## Failures and warnings", ""]
    if not report.problems:
        out.append("None this month." if report.runs else "None (no run recorded).")
    for p in report.problems:
        resolved = f" — resolved: passed later in run {md(p.resolved_by)}" if p.resolved_by else ""
        out.append(f"- **{md(p.status.upper())}** `{_code(p.check_id)}` {md(p.title)} — {md(p.summary)} "
                   f"(run {md(p.run_id)}, {md(_time(p.at))}, severity {md(p.severity)}){resolved}")
        if p.remediation:
            out.append(f"  - Remediation: {md(p.remediation)}")
    out += ["", "## Protections", "", "| Protection | Check | State | Newest result |", "|---|---|---|---|"]
    for p in report.protections:
        out.append(f"| {md(p.label)} | `{_code(p.check_id)}` | {md(p.status)} | "
                   + (f"{md(p.summary)} (run {md(p.run_id)})" if p.run_id else "–") + " |")
    out += ["", "## Latest restore drill", "", md(_drill_text(report)), "", "## Sign-off", ""]
    if not report.signoffs:
        out.append(f"Not signed off yet. `python -m checks signoff --month {report.month} --by NAME`")
    for s in report.signoffs:
        out.append(f"- Signed off by **{md(s.by)}** on {md(_time(s.at))} via {md(s.via)}"
                   + f": {s.boxes_ticked} of {len(BOXES)} boxes ticked, {s.run_count} run(s)"
                   + ("" if s.current else " — **the report changed after this sign-off**")
                   + (f". Comment: {md(s.comment)}" if s.comment else ""))
    out += ["", "## Runs of the month", ""]
    if not report.runs:
        out.append("No run recorded.")
    else:
        out += ["| Run | Started | Trigger | Dry run | Status | pass / warn / fail / error / skipped |",
                "|---|---|---|---|---|---|"]
        for r in report.runs:
            c = r.counts
            out.append(f"| {md(r.run_id)} | {md(_time(r.started_at))} | {md(r.trigger)} | "
                       f"{'yes' if r.dry_run else 'no'} | {md(r.status)} | {c.get('pass', 0)} / {c.get('warn', 0)} / "
                       f"{c.get('fail', 0)} / {c.get('error', 0)} / {c.get('skipped', 0)} |")
    for note in report.notes:
        out += ["", f"Note: {md(note)}"]
    out += ["", _legend_md(), ""]
    return "\n".join(out)


def _code(text: str) -> str:
    return str(text).replace("`", "'").replace("\n", " ")


def _legend_md() -> str:
    return ("A box is ticked only by evidence from this month's runs: the newest run with a result for the "
            "item decides. Dry run = " + ", ".join(f"`{c}`" for c in DRY_RUN_CHECKS) + " all passed in one run.")


def overview_md(ov: Overview) -> str:
    out = [f"# Backup checklist overview — {ov.first_month} to {ov.last_month}", "",
           f"Generated {md(_time(ov.generated_at))}; one journal partition read per month.", "",
           "| Month | " + " | ".join(_SHORT[b.key] for b in BOXES) + " | Ticked | Protections | Restore drill | Signed off |",
           "|---|" + "---|" * (len(BOXES) + 4)]
    for m in ov.months:
        cells = [("✔" if b.ticked else "✘ " + md(_STATE_WORD.get(b.state, b.state))) for b in m.boxes]
        drill = (f"{md(m.drill.status)}, RTO {md(_fmt_value(m.drill.rto_minutes))} min" if m.drill else "–")
        drill += f", RPO {md(_fmt_value(m.drill.rpo_seconds))} s" if m.drill and m.drill.rpo_seconds is not None else ""
        signed = ", ".join(md(s.by) + ("" if s.current else " (stale)") for s in m.signoffs) or "–"
        out.append(f"| {m.month} | " + " | ".join(cells) + f" | {m.ticked}/{len(m.boxes)} | "
                   f"{md(counts_text(m.protections))} | {drill} | {signed} |")
    out.append("")
    return "\n".join(out)
