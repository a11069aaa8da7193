"""argparse's own words ("usage:", "options:", its error messages) in the language being rendered.

argparse translates them with `gettext.gettext`/`ngettext`, bound to its module globals `_` and
`ngettext` when it is imported, from the process-wide default domain (so from environment
variables, not from `--lang`). `install()` points those two names at our catalog's translator for
the language being rendered (i18n.language(...), set by the CLI around parsing): `--lang fr` then
covers argparse's texts too, and English is unchanged (its message ids are argparse's English).
The texts are listed here so the catalog extraction finds them (their ids are argparse's, byte for byte).
"""
from __future__ import annotations

import argparse
from typing import Any

from checks.engine.i18n import N_, N_n, current

ARGPARSE_TEXTS = (
    N_("usage: "), N_("positional arguments"), N_("options"), N_("show this help message and exit"),
    N_("%(prog)s: error: %(message)s\n"), N_("argument %(argument_name)s: %(message)s"),
    N_("unrecognized arguments: %s"), N_("the following arguments are required: %s"),
    N_("one of the arguments %s is required"), N_("not allowed with argument %s"),
    N_("expected one argument"), N_("expected at most one argument"), N_("expected at least one argument"),
    N_n("expected %s argument", "expected %s arguments"),
    N_("invalid %(type)s value: %(value)r"), N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("ambiguous option: %(option)s could match %(matches)s"), N_("ignored explicit argument %r"),
    N_("unexpected option string: %s"),
)


# section headings: argparse writes `<heading>:` itself, so the language's space before a colon (French
# "options :") is added to the heading here
HEADINGS = ("positional arguments", "options")


def _gettext(text: str) -> str:
    translated = current().gettext(text)
    if text in HEADINGS:
        colon = current().separator(": ")  # " : " in French, from the catalog's "{p0}: {p1}"
        translated += colon[:colon.index(":")] if ":" in colon else ""
    return translated


def _ngettext(singular: str, plural: str, n: Any) -> str:
    return current().ngettext(singular, plural, n)


def install() -> None:
    """Route argparse's gettext calls through the language being rendered (idempotent)."""
    argparse._ = _gettext  # type: ignore[attr-defined]  # argparse reads these module globals at call time
    argparse.ngettext = _ngettext  # type: ignore[attr-defined]
