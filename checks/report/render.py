"""Rendering of the monthly checklist and the overview: Markdown, HTML, JSON.

Markdown and HTML come from the Jinja2 templates in checks/report/templates/ (pages.py builds
the environment), in the language of the rendering in progress (`checks.engine.i18n.language`):
`render(report, "md", lang="fr")`. Everything that comes from the journal (summaries, names,
comments: text from Azure, the database or a person) is escaped: the `md` filter in Markdown
(Markdown escaping plus `&lt;`/`&gt;`, since renderers pass raw HTML through), autoescape in HTML
(with a CSP that forbids every script and fetch, print rules for A4). JSON is language-neutral.
"""
from __future__ import annotations

import json
import re
from typing import Any

from checks.report.model import MonthReport, Overview

CONTENT_TYPES = {"md": "text/markdown; charset=utf-8", "html": "text/html; charset=utf-8",
                 "json": "application/json"}
# the templates' links (checks/report/templates/*.html): journal text is escaped, so never matches
_STEP = re.compile(r'<a href="[^"<>]*" rel="(?:prev|next)">[^<]*</a>')
_LINK = re.compile(r'<a href="[^"<>]*">(.*?)</a>', re.S)
_EMPTY_STEPS = re.compile(r'<p class="no-print">\s*(?:·\s*)?</p>\n?')


def render(obj: Any, fmt: str, links: Any = None, lang: str | None = None, standalone: bool = False) -> str:
    """`links` (pages.Links) for HTML: where the linked pages are; default next to this page.
    `lang`: 'en' or 'fr'; None keeps the language already chosen by the caller (default English).
    `obj`: a MonthReport, an Overview or a fleet.FleetOverview (every target of a month).
    `standalone`: an HTML page written alone (`report --format html > FILE`): no page sits next to
    it, so its links are plain text (the previous/next month links left out); `--site` links."""
    if fmt == "json":
        return json.dumps(obj.to_dict(), indent=2, default=str) + "\n"
    if fmt == "html" and standalone:
        return unlinked(render(obj, fmt, links, lang))
    from checks.engine.i18n import current, language
    from checks.report import pages  # lazy: Jinja2 only when rendering text

    with language(lang or current().lang):
        fleet = not isinstance(obj, (MonthReport, Overview))
        if fmt == "html":
            links = links or pages.Links()
            if fleet:
                return pages.fleet_page(obj, links)
            return pages.overview_page(obj, links) if isinstance(obj, Overview) else pages.month_page(obj, links)
        if fleet:
            return pages.render_template("fleet.md", fleet=obj, summary=obj.to_dict())
        if isinstance(obj, Overview):
            return pages.render_template("overview.md", ov=obj)
        return pages.render_template("month.md", report=obj)


def unlinked(html: str) -> str:
    """The page with each link's text in place of the link."""
    return _LINK.sub(r"\1", _EMPTY_STEPS.sub("", _STEP.sub("", html)))
