"""Rendering of the monthly checklist and the overview: Markdown, HTML, JSON.

Everything that comes from the journal (summaries, names, comments, server names: text from
Azure, the database or a person) is escaped: `html.escape` in HTML, Markdown escaping plus
`&lt;`/`&gt;` in Markdown (renderers pass raw HTML through). The HTML is one self-contained
document: inline CSS, no scripts, no external assets, a CSP that forbids loading anything, and
print rules (A4, no colours needed to read the state: every box says ticked / not ticked in words).
"""
from __future__ import annotations

import html
import json
import re
from typing import Any

from checks.report.model import BOXES, DRY_RUN_CHECKS, NO_EVIDENCE, PARTIAL, TICKED, Box, MonthReport, Overview
from checks.report.protections import counts_text

CONTENT_TYPES = {"md": "text/markdown; charset=utf-8", "html": "text/html; charset=utf-8",
                 "json": "application/json"}
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

_SHORT = {"backup": "Backup", "retention": "Retention", "soft_delete": "Soft delete", "dry_run": "Dry run",
          "journal": "Journal"}
_STATE_WORD = {TICKED: "ticked", "warning": "warning", "failed": "FAILED", "error": "ERROR", PARTIAL: "partial",
               NO_EVIDENCE: "no evidence"}


def render(obj: MonthReport | Overview, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(obj.to_dict(), indent=2, default=str) + "\n"
    if isinstance(obj, Overview):
        return overview_md(obj) if fmt == "md" else overview_html(obj)
    return month_md(obj) if fmt == "md" else month_html(obj)


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
    return (f"{d.status}: RTO {_fmt_value(d.rto_minutes)} min, restore point {_fmt_value(d.restore_point)}, "
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
        signed = ", ".join(md(s.by) + ("" if s.current else " (stale)") for s in m.signoffs) or "–"
        out.append(f"| {m.month} | " + " | ".join(cells) + f" | {m.ticked}/{len(m.boxes)} | "
                   f"{md(counts_text(m.protections))} | {drill} | {signed} |")
    out.append("")
    return "\n".join(out)


# --- HTML ------------------------------------------------------------------------------------

def h(text: Any) -> str:
    return html.escape(str(text), quote=True)


_CSS = """
:root { --ok: #1a7f37; --bad: #b42318; --warn: #9a6700; --muted: #57606a; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; color: #1f2328;
       max-width: 1000px; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .25rem; } h2 { font-size: 1.15rem; margin-top: 1.75rem;
     border-bottom: 1px solid #d0d7de; padding-bottom: .2rem; }
.meta { color: var(--muted); } code { font: 12px ui-monospace, Menlo, Consolas, monospace; }
table { border-collapse: collapse; width: 100%; margin-top: .5rem; }
th, td { border: 1px solid #d0d7de; padding: .35rem .5rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
.box { font-size: 1.2rem; width: 2.2rem; text-align: center; }
.state { font-weight: 600; white-space: nowrap; }
.ticked { color: var(--ok); } .failed, .error { color: var(--bad); } .warning, .partial { color: var(--warn); }
.no-evidence { color: var(--muted); }
.remark { color: var(--warn); margin-top: .2rem; } .evidence div + div { margin-top: .15rem; }
ul.problems li { margin-bottom: .5rem; } .remediation { color: var(--muted); }
.summary-line { font-size: 1.05rem; font-weight: 600; }
@media print {
  @page { size: A4; margin: 15mm; }
  body { margin: 0; max-width: none; font-size: 11pt; color: #000; }
  th { background: none; } tr, li { break-inside: avoid; } h2 { break-after: avoid; }
  .ticked, .failed, .error, .warning, .partial, .no-evidence, .remark, .remediation { color: #000; }
}
"""


def _doc(title: str, body: str) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{h(CSP)}\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{h(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")


def _state_cell(box: Box) -> str:
    css = box.state.replace(" ", "-")
    return f"<td class=\"state {h(css)}\">{h(_STATE_WORD.get(box.state, box.state))}</td>"


def _signoffs_html(report: MonthReport) -> list[str]:
    if not report.signoffs:
        return [f"<p>Not signed off yet. <code>python -m checks signoff --month {h(report.month)} "
                f"--by NAME</code></p>"]
    parts = ["<table><thead><tr><th>Reviewed by</th><th>When</th><th>Via</th><th>State at sign-off</th>"
             "<th>Comment</th></tr></thead><tbody>"]
    for s in report.signoffs:
        who = h(s.by)
        state = f"{s.boxes_ticked} of {len(BOXES)} ticked, {s.run_count} run(s)"
        if not s.current:
            state += "<div class=\"remark\">the report changed after this sign-off</div>"
        parts.append(f"<tr><td>{who}</td><td>{h(_time(s.at))}</td><td>{h(s.via)}</td><td>{state}</td>"
                     f"<td>{h(s.comment)}</td></tr>")
    parts.append("</tbody></table>")
    return parts


def month_html(report: MonthReport) -> str:
    title = f"Monthly backup checklist — {report.month}"
    parts = [f"<h1>{h(title)}</h1>",
             f"<p class=\"meta\">Generated {h(_time(report.generated_at))} from the internal journal; "
             f"{len(report.runs)} run(s) recorded this month. Report digest <code>{h(report.digest)}</code>.</p>",
             f"<p class=\"summary-line\">{report.ticked} of {len(report.boxes)} boxes ticked</p>",
             "<table class=\"checklist\"><thead><tr><th>Box</th><th>Item</th><th>State</th><th>Evidence</th>"
             "</tr></thead><tbody>"]
    for box in report.boxes:
        evidence = "".join(f"<div>{h(line)}</div>" for line in _evidence_lines(box)) or "<div>no evidence</div>"
        remarks = "".join(f"<div class=\"remark\">⚠ {h(r)}</div>" for r in box.remarks)
        parts.append(f"<tr><td class=\"box\" aria-label=\"{'ticked' if box.ticked else 'not ticked'}\">"
                     f"{'☑' if box.ticked else '☐'}</td><td>{h(box.label)}</td>{_state_cell(box)}"
                     f"<td class=\"evidence\">{evidence}{remarks}</td></tr>")
    parts.append("</tbody></table>")
    parts.append("<h2>Failures and warnings</h2>")
    if not report.problems:
        parts.append(f"<p>{'None this month.' if report.runs else 'None (no run recorded).'}</p>")
    else:
        parts.append("<ul class=\"problems\">")
        for p in report.problems:
            resolved = (f" — <em>resolved: passed later in run {h(p.resolved_by)}</em>" if p.resolved_by else "")
            remediation = (f"<div class=\"remediation\">Remediation: {h(p.remediation)}</div>"
                           if p.remediation else "")
            parts.append(f"<li><span class=\"state {h(p.status)}\">{h(p.status.upper())}</span> "
                         f"<code>{h(p.check_id)}</code> {h(p.title)} — {h(p.summary)} "
                         f"<span class=\"meta\">(run {h(p.run_id)}, {h(_time(p.at))}, severity {h(p.severity)})"
                         f"</span>{resolved}{remediation}</li>")
        parts.append("</ul>")
    parts.append("<h2>Protections</h2><table><thead><tr><th>Protection</th><th>Check</th><th>State</th>"
                 "<th>Newest result</th></tr></thead><tbody>")
    for p in report.protections:
        parts.append(f"<tr><td>{h(p.label)}</td><td><code>{h(p.check_id)}</code></td>"
                     f"<td class=\"state {h(p.status.replace(' ', '-'))}\">{h(p.status)}</td>"
                     f"<td>{h(p.summary) + ' (run ' + h(p.run_id) + ')' if p.run_id else '–'}</td></tr>")
    parts.append("</tbody></table>")
    parts += ["<h2>Latest restore drill</h2>", f"<p>{h(_drill_text(report))}</p>", "<h2>Sign-off</h2>"]
    parts += _signoffs_html(report)
    parts.append("<h2>Runs of the month</h2>")
    if not report.runs:
        parts.append("<p>No run recorded.</p>")
    else:
        parts.append("<table><thead><tr><th>Run</th><th>Started</th><th>Trigger</th><th>Dry run</th><th>Status</th>"
                     "<th>pass / warn / fail / error / skipped</th></tr></thead><tbody>")
        for r in report.runs:
            c = r.counts
            parts.append(f"<tr><td><code>{h(r.run_id)}</code></td><td>{h(_time(r.started_at))}</td>"
                         f"<td>{h(r.trigger)}</td><td>{'yes' if r.dry_run else 'no'}</td><td>{h(r.status)}</td>"
                         f"<td>{h(c.get('pass', 0))} / {h(c.get('warn', 0))} / {h(c.get('fail', 0))} / "
                         f"{h(c.get('error', 0))} / {h(c.get('skipped', 0))}</td></tr>")
        parts.append("</tbody></table>")
    for note in report.notes:
        parts.append(f"<p class=\"meta\">Note: {h(note)}</p>")
    parts.append("<p class=\"meta\">A box is ticked only by evidence from this month's runs: the newest run with a "
                 "result for the item decides. Dry run = " + ", ".join(f"<code>{h(c)}</code>" for c in DRY_RUN_CHECKS)
                 + " all passed in one run.</p>")
    return _doc(title, "\n".join(parts))


def overview_html(ov: Overview) -> str:
    title = f"Backup checklist overview — {ov.first_month} to {ov.last_month}"
    parts = [f"<h1>{h(title)}</h1>",
             f"<p class=\"meta\">Generated {h(_time(ov.generated_at))}; one journal partition read per month.</p>",
             "<table><thead><tr><th>Month</th>" + "".join(f"<th>{h(_SHORT[b.key])}</th>" for b in BOXES)
             + "<th>Ticked</th><th>Protections</th><th>Restore drill</th><th>Signed off</th></tr></thead><tbody>"]
    for m in ov.months:
        cells = "".join(f"<td class=\"state {h(b.state.replace(' ', '-'))}\">"
                        f"{'☑' if b.ticked else '☐'} {h(_STATE_WORD.get(b.state, b.state))}</td>" for b in m.boxes)
        drill = (f"{h(m.drill.status)}, RTO {h(_fmt_value(m.drill.rto_minutes))} min" if m.drill else "–")
        signed = ", ".join(h(s.by) + ("" if s.current else " (stale)") for s in m.signoffs) or "–"
        parts.append(f"<tr><td>{h(m.month)}</td>{cells}<td>{m.ticked}/{len(m.boxes)}</td>"
                     f"<td>{h(counts_text(m.protections))}</td><td>{drill}</td><td>{signed}</td></tr>")
    parts.append("</tbody></table>")
    return _doc(title, "\n".join(parts))
