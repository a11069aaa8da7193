"""`--lang` anywhere (issue 29 item 5): before or after the subcommand, `--lang fr` or `--lang=fr`, like -v/--settings."""
from __future__ import annotations

import io

import pytest

from checks.cli import COMMANDS, main
from checks.engine.i18n import current

# every subcommand (and sub-subcommand) with the least it needs to parse
COMMAND_LINES = [
    ["run"], ["run", "--check", "database.connectivity", "--no-journal"], ["journal"], ["journal", "verify"],
    ["journal", "seal", "--month", "2026-11"], ["list"], ["report", "--month", "2026-11"],
    ["ack", "--run", "r", "--check", "c", "--by", "b", "--reason", "x"], ["signoff", "--month", "2026-11", "--by", "b"],
    ["drill", "start"], ["drill", "status"], ["drill", "cleanup"], ["restore", "status"],
    ["restore", "postgres", "--point", "2026-11-01T00:00:00Z"], ["restore", "blobs", "--container", "c"], ["targets"],
]


@pytest.mark.parametrize("words", COMMAND_LINES, ids=" ".join)
@pytest.mark.parametrize("form", ["end", "end=", "after-command"])
def test_lang_after_any_subcommand(words, form, monkeypatch):
    seen = {}

    def command(args, out, env):
        seen.update(lang=args.lang, rendered=current().lang)
        return 0

    monkeypatch.setitem(COMMANDS, words[0], command)
    argv = {"end": [*words, "--lang", "fr"], "end=": [*words, "--lang=fr"],
            "after-command": [words[0], "--lang", "fr", *words[1:]]}[form]
    assert main(argv, out=io.StringIO(), env={}) == 0
    assert seen == {"lang": "fr", "rendered": "fr"}


def test_lang_after_the_subcommand_wins_over_the_one_before(monkeypatch):
    seen = {}
    monkeypatch.setitem(COMMANDS, "list", lambda args, out, env: seen.update(lang=current().lang) or 0)
    assert main(["--lang", "en", "list", "--lang", "fr"], out=io.StringIO(), env={}) == 0
    assert seen == {"lang": "fr"}


def test_lang_after_the_subcommand_renders_french(capsys):
    out = io.StringIO()
    assert main(["list", "--lang", "fr"], out=out, env={}) == 0
    assert "Aller-retour témoin" in out.getvalue()  # the check titles in French
    assert main(["drill", "status", "--lang=fr"], out=io.StringIO(), env={}) == 1
    assert "journal non configuré" in capsys.readouterr().err


def test_bad_lang_after_the_subcommand_is_a_usage_error(capsys):
    assert main(["run", "--lang", "de"], out=io.StringIO(), env={}) == 2
    err = capsys.readouterr().err
    assert "--lang" in err and "'de'" in err and "Traceback" not in err
