"""French and English output from language-neutral facts (gettext catalogs + Babel).

A rule writes its summary as `msg("Newest backup is {age_hours} h old", age_hours=30.5)`: a
`Message` is a `str` (today's English text, so every reader of a summary keeps working) that also
carries its message id (the English template) and its parameters. The journal stores both, so any
past run can be rendered again in another language; an old entity without an id renders as stored.

Catalogs live in checks/locale/<lang>/LC_MESSAGES/checks.po (the source, in the repository); the
install step compiles them to .mo. Where a .mo is missing (a deployment built without that step)
the .po is compiled in memory by Babel, so output is never silently English.
"""
from __future__ import annotations

import contextvars
import gettext
import re
import string
from contextlib import contextmanager
from datetime import date, datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Mapping

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "checks"
LANGUAGES = ("en", "fr")
DEFAULT_LANGUAGE = "en"


class Message(str):
    """English text that remembers its template (`msgid`) and parameters (`params`); a counted
    message (msgn) also its `plural` template and which parameter is its `count`."""

    msgid: str
    params: dict[str, Any]
    plural: str | None = None
    count: str | None = None

    def __new__(cls, template: str, **params: Any) -> "Message":
        text = super().__new__(cls, template.format(**params) if params else template)
        text.msgid = template
        text.params = dict(params)
        return text

    @classmethod
    def counted(cls, singular: str, plural: str, count: str, params: Mapping[str, Any]) -> "Message":
        """The English form that fits params[count] ("1 day", "2 days"); both forms are kept."""
        english = singular if plural_index("en", params[count]) == 0 else plural
        text = super().__new__(cls, english.format(**params))
        text.msgid, text.params, text.plural, text.count = singular, dict(params), plural, count
        return text

    def __reduce__(self):  # pickling/copying keeps the id (the spool and deepcopy use it)
        return (_rebuild, (self.msgid, self.params, self.plural, self.count))

    def as_fact(self) -> dict[str, Any]:
        """What the journal stores beside the English text (a message inside stays a message)."""
        fact = {"id": self.msgid, "params": {key: {NESTED: value.as_fact()} if isinstance(value, Message) else value
                                             for key, value in self.params.items()}}
        if self.plural is not None:
            fact.update(plural=self.plural, count=self.count)
        return fact


NESTED = "$msg"


def _rebuild(template: str, params: dict[str, Any], plural: str | None = None, count: str | None = None) -> "Message":
    return Message.counted(template, plural, count, params) if plural is not None else Message(template, **params)


def from_fact(fact: Mapping[str, Any]) -> Message:
    """The Message a stored fact describes (KeyError/ValueError/TypeError when it does not fit)."""
    params = {key: from_fact(value[NESTED]) if isinstance(value, dict) and NESTED in value else value
              for key, value in dict(fact.get("params") or {}).items()}
    if isinstance(fact.get("plural"), str):
        return Message.counted(fact["id"], fact["plural"], str(fact["count"]), params)
    return renamed(fact["id"], params) or Message(fact["id"], **params)


def renamed(msgid: str, params: Mapping[str, Any]) -> Message | None:
    """A message journaled under an id that became a counted one (RENAMED), in its counted form now,
    or that was split in two (SPLIT), so runs stored before still render in French with the right plural."""
    from checks.engine.i18n_renamed import RENAMED, SPLIT  # lazy: only old facts need it

    if msgid in SPLIT:  # one id became two (one variable / several): which one by its parameter
        name, several, single = SPLIT[msgid]
        value = params.get(name)
        if not (isinstance(value, Message) and value.msgid == several):
            return Message(single, **{"name": value}) if name in params else None
    forms = RENAMED.get(msgid)
    if forms is None or forms[2] not in params:
        return None
    return Message.counted(forms[0], forms[1], forms[2], params)


def plural_index(lang: str, n: Any) -> int:
    """0 for the singular form of `lang`, 1 for the plural, as gettext counts them (en: n != 1,
    fr: n > 1); a fraction follows CLDR through Babel (fr "1,5 jour", en "1.5 days")."""
    if isinstance(n, bool) or not isinstance(n, (int, float)):
        return 1  # not a number (an unknown count): the plural reads right
    if float(n).is_integer():  # the catalog's own Plural-Forms rule (English: the ids' n != 1)
        rule = getattr(translations(lang), "plural", lambda count: int(count != 1))
        return 1 if rule(int(n)) else 0
    from babel import Locale  # lazy: cold start
    return 0 if Locale.parse(lang).plural_form(n) == "one" else 1


def join_messages(parts: list[str], separator: str = "; ") -> str:
    """Several texts as one (e.g. every problem of a check), each part still translatable.

    The template is `{p0}; {p1}; {p2}`; each language joins with its own separator, taken from the
    catalog's two-part form of it (JOINS: French writes `{p0} ; {p1}`), see Translator.gettext."""
    if len(parts) == 1:
        return parts[0]
    template = separator.join(f"{{p{index}}}" for index in range(len(parts)))
    return Message(template, **{f"p{index}": part for index, part in enumerate(parts)})


def msg(template: str, **params: Any) -> Message:
    """Mark a user-visible text for translation; `{name}` placeholders take `params`."""
    return Message(template, **params)


def msgn(singular: str, plural: str, count: str, /, **params: Any) -> Message:
    """A counted text: `msgn("{days} day left", "{days} days left", "days", days=n)`. Each language
    picks its form for params[count] when it renders (gettext plural forms: French says 0 and 1 jour);
    a text with two counts nests a second msgn as a parameter."""
    return Message.counted(singular, plural, count, params)


def plain(number: float) -> float | int:
    """A number as `{:g}` printed it (30.0 -> 30), kept a number so each language can format it."""
    return int(number) if float(number).is_integer() else number


def N_(text: str) -> str:
    """Mark a constant for extraction only (translated where it is shown)."""
    return text


def N_n(singular: str, plural: str) -> tuple[str, str]:
    """Mark a counted constant (both forms) for extraction only; shown with msgn/tr_n."""
    return singular, plural


# Status and state tokens as people read them (model.Status values; a drill's or an incident's state;
# the journal's outcome): the token is the English word and the message id. A message parameter named
# `status`, `outcome` or `state` holding one is shown as the word of the language (journaled params
# and JSON keep the token, and facts stored earlier render the same way): "vérification : réussi".
STATUS_WORDS = (N_("pass"), N_("warn"), N_("fail"), N_("error"), N_("skipped"))
STATE_WORDS = (N_("provisioning"), N_("verifying"), N_("cleaning_up"), N_("succeeded"), N_("failed"),
               N_("ready"), N_("done"), N_("written"), N_("not written"), N_("disabled"),
               N_("ticked"), N_("warning"), N_("partial"))  # the last three: a checklist box's state
# A check's severity (model.Severity values), read with "gravité": French agrees the word with it.
SEVERITY_WORDS = (N_("low"), N_("medium"), N_("high"), N_("critical"))
# The canary's steps and how it restored the blob (families/canary.py STEPS, restored_by), named in its
# summaries as parameters `step` and `restored_by`: "à l'étape « listé comme supprimé »", "restauré par copie de la
# version précédente" (canary results journaled earlier render the same way: their params hold the tokens).
CANARY_WORDS = (N_("upload"), N_("overwrite"), N_("delete"), N_("listed as deleted"), N_("restore"), N_("verify"),
                N_("delete again"), N_("undelete"), N_("copy of previous version"))
WORD_PARAMS = {"status": STATUS_WORDS, "outcome": STATUS_WORDS, "state": STATE_WORDS, "severity": SEVERITY_WORDS,
               "step": CANARY_WORDS, "restored_by": CANARY_WORDS}


# The separators join_messages is called with, as two-part templates so a catalog can give each
# language its own (French puts a space before ';'); another separator is kept as it is.
JOINS = (N_("{p0}; {p1}"), N_("{p0}, {p1}"), N_("{p0} {p1}"), N_("{p0}: {p1}"))
_JOINED = re.compile(r"\{p0\}(?P<sep>[^{}]+)\{p1\}(?:(?P=sep)\{p\d+\})*")


def placeholders(template: str) -> set[str]:
    """The `{name}` placeholders of a message template (the catalog test compares them)."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def normalise_language(value: str | None) -> str | None:
    """'fr', 'fr-FR', 'FR_fr' -> 'fr'; an unknown language -> None."""
    code = (value or "").strip().replace("_", "-").split("-", 1)[0].lower()
    return code if code in LANGUAGES else None


def negotiate(accept_language: str | None) -> str | None:
    """The best supported language of an HTTP Accept-Language header, or None."""
    from babel import Locale  # lazy: cold start

    preferred = []
    for part in (accept_language or "").split(","):
        tag, _, quality = part.strip().partition(";q=")
        try:
            weight = float(quality) if quality else 1.0
        except ValueError:
            continue
        if tag and weight > 0:
            preferred.append((weight, tag.strip().replace("-", "_")))
    ordered = [tag for _, tag in sorted(preferred, key=lambda item: -item[0])]
    found = Locale.negotiate(ordered, list(LANGUAGES), sep="_") if ordered else None
    return str(found.language) if found else None


@lru_cache(maxsize=None)
def translations(lang: str) -> gettext.NullTranslations:
    """The catalog for `lang` ('en' has none: the message ids are English)."""
    if lang == DEFAULT_LANGUAGE:
        return gettext.NullTranslations()
    mo = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"
    po = mo.with_suffix(".po")
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        with mo.open("rb") as handle:
            return gettext.GNUTranslations(handle)
    return _compile_in_memory(po)


def _compile_in_memory(po: Path) -> gettext.GNUTranslations:
    import io

    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as handle:
        catalog = read_po(handle)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


class Translator:
    """Everything a face needs to speak one language: text, messages, dates, numbers."""

    def __init__(self, lang: str | None = None):
        self.lang = normalise_language(lang) or DEFAULT_LANGUAGE
        self._catalog = translations(self.lang)

    def gettext(self, text: str) -> str:
        if not text:
            return text
        joined = _JOINED.fullmatch(text)
        if joined and text not in JOINS:  # {p0}; {p1}; {p2}: this language's separator, from JOINS
            return text.replace(f"}}{joined['sep']}{{", f"}}{self.separator(joined['sep'])}{{")
        return self._catalog.gettext(text)

    def separator(self, separator: str) -> str:
        """This language's form of a separator ('; ' -> ' ; ' in French), from the JOINS pairs."""
        pair = self._catalog.gettext(f"{{p0}}{separator}{{p1}}")
        if pair.startswith("{p0}") and pair.endswith("{p1}") and "{" not in pair[4:-4]:
            return pair[4:-4]
        return separator

    def ngettext(self, singular: str, plural: str, n: Any) -> str:
        """The catalog's form of a counted template for `n` (its Plural-Forms rule; a fraction by CLDR)."""
        return self._catalog.ngettext(singular, plural, 2 if plural_index(self.lang, n) else 1)  # 2-form languages

    def __call__(self, text: str, **params: Any) -> str:
        """Translate a template and fill it (numbers and dates in the language's format)."""
        template = self.gettext(text)
        return template.format(**self._formatted(params)) if placeholders(template) or params else template

    def message(self, text: str | None, fact: Mapping[str, Any] | None = None) -> str:
        """A stored text with its message fact (id + params) in this language; without a fact,
        the text itself through the catalog (static texts: titles, remediations), else as stored."""
        if fact and isinstance(fact.get("id"), str):
            try:
                return self.render(from_fact(fact))
            except (KeyError, IndexError, ValueError, TypeError):  # a catalog/param mismatch: keep the evidence
                return text or ""
        if isinstance(text, Message):
            return self.message(text, text.as_fact())
        return self.gettext(text or "")

    def render(self, message: Message) -> str:
        """A message in this language; a counted one in the form its count takes here."""
        if message.plural is None:
            return self(message.msgid, **message.params)
        template = self.ngettext(message.msgid, message.plural, message.params[message.count])
        return template.format(**self._formatted(message.params))

    def _formatted(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {key: self.value(self.word(value) if value in WORD_PARAMS.get(key, ()) else value)
                for key, value in params.items()}

    def word(self, token: Any) -> Any:
        """A status, state, severity or canary-step token as this language's word ('fail' -> 'échec'); anything
        else as is."""
        words = STATUS_WORDS + STATE_WORDS + SEVERITY_WORDS + CANARY_WORDS
        return self.gettext(token) if isinstance(token, str) and token in words else token

    def value(self, value: Any) -> Any:
        """Numbers and times in the language's format (1 234,5 / 26 nov. 2026 06:00 UTC); an ISO time
        given as text too (the journal keeps the ISO form); other text as is."""
        from babel.dates import format_date
        from babel.numbers import format_decimal

        if isinstance(value, Message):  # a message inside a message (a remark quoting a summary)
            return self.message(value)
        if isinstance(value, bool) or value is None:
            return value
        if self.lang == DEFAULT_LANGUAGE:  # English keeps the plain forms readers and tools already parse
            return ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else value
        if isinstance(value, str):
            moment = _iso_time(value)
            return self.time(moment) if moment else value
        if isinstance(value, (int, float)):
            return format_decimal(value, locale=self.lang)
        if isinstance(value, datetime):
            return self.time(value)
        if isinstance(value, date):
            return format_date(value, "medium", locale=self.lang)
        if isinstance(value, (list, tuple)):
            return ", ".join(str(self.value(item)) for item in value)
        return value

    def date(self, value: date | datetime) -> str:
        from babel.dates import format_date
        return format_date(value, "medium", locale=self.lang)

    def time(self, value: datetime, seconds: bool | None = None) -> str:
        """A moment as the report shows it, in UTC and saying so: '1 nov. 2026 06:00 UTC' (seconds
        when it has some, or when asked: a restore point is exact to the second)."""
        moment = value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)
        shown = "%H:%M:%S" if seconds or (seconds is None and (moment.second or moment.microsecond)) else "%H:%M"
        return f"{self.date(moment)} {moment.strftime(shown)} UTC"


# A time written as ISO 8601 text with its zone (what the journal and the checks store): 2026-11-01T06:00:00Z
ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})")


def _iso_time(text: str) -> datetime | None:
    """The moment an ISO time text names, or None (other text, or a date that does not exist)."""
    if not ISO_TIME.fullmatch(text):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:  # 2026-02-30T..., or more fraction digits than Python reads
        return None


@lru_cache(maxsize=None)
def translator(lang: str | None = None) -> Translator:
    return Translator(lang)


# The language of what is being rendered now: set by a face (CLI --lang, HTTP ?lang=) around the
# rendering, read by the templates' `_()`; a context variable, so concurrent requests don't mix.
_CURRENT: contextvars.ContextVar[str] = contextvars.ContextVar("checks_language", default=DEFAULT_LANGUAGE)


def current() -> Translator:
    return translator(_CURRENT.get())


def tr(text: str, **params: Any) -> str:
    """A face's own text (CLI lines, runbook) in the language being rendered now; faces import it as `_`
    (Babel extracts `_()` calls)."""
    return current()(text, **params)


def tr_n(singular: str, plural: str, count: str, /, **params: Any) -> str:
    """A face's own counted text (msgn's rules) in the language being rendered now; faces import it as `_n`."""
    return current().render(Message.counted(singular, plural, count, params))


@contextmanager
def language(lang: str | None) -> Iterator[Translator]:
    token = _CURRENT.set(normalise_language(lang) or DEFAULT_LANGUAGE)
    try:
        yield current()
    finally:
        _CURRENT.reset(token)


def restored(text: str, fact: Mapping[str, Any] | None) -> str:
    """A journaled text as a Message again (from its stored id + params), so it can be rendered in
    any language later; the stored text itself when it has no usable fact."""
    if not fact or not isinstance(fact.get("id"), str) or not isinstance(fact.get("params", {}), dict):
        return text
    try:
        return from_fact(fact)
    except (KeyError, IndexError, ValueError, TypeError):
        return text


def restored_notes(notes: list[str], stored: Any) -> list[str]:
    """A run's journaled notes as messages again where its NoteFacts (JSON: a fact or null per note) kept
    their ids; a fact that does not give back the stored text is ignored: the stored text is the evidence."""
    import json
    try:
        facts = json.loads(stored) if isinstance(stored, str) and stored else []
    except (ValueError, RecursionError):
        return notes
    facts = facts if isinstance(facts, list) else []
    back = [restored(note, fact) if isinstance(fact, dict) else note for note, fact in zip(notes, facts)]
    return [again if str(again) == note else note for again, note in zip(back, notes)] + notes[len(back):]


def summary_of(result: Any) -> str:
    """A check result's summary, language-neutral where the journal kept its message."""
    return restored(result.summary, (getattr(result, "messages", None) or {}).get("summary"))


def remediation_of(result: Any) -> str:
    return restored(result.remediation, (getattr(result, "messages", None) or {}).get("remediation"))


def fact_of(text: Any) -> dict[str, Any] | None:
    """The message fact of a text, when it is a Message."""
    return text.as_fact() if isinstance(text, Message) else None
