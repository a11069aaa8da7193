"""The outage spool keeps what it was given, and only that (issue 27 items 1 and 2).

Item 1: redaction never turns valid JSON into something else: objects are redacted before they are
serialised (the spool, the full run in the logs) and the text redaction over a log line keeps any JSON
in it valid, whatever quotes and backslashes stand next to a secret.
Item 2: VERIFIER_SPOOL_DIR may be shared: the verifier replays only files it wrote and signed in its own
0700 subfolder; anything else is left untouched and named in the run's notes.
"""
import itertools
import json
import logging
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path


from checks.engine.config import Settings
from checks.engine.model import CheckResult, Outcome, Run, Severity, Status
from checks.engine.redact import RedactingFilter, redact, redacted_json, register_secrets
from checks.journal import spoolfs
from checks.journal.spool import QUARANTINE, Spool, write_or_reduce
from checks.journal.store import Journal, JournalRejected
from checks.service import RunRequest, verify
from test_evidence_journal import only, spec  # noqa: F401 (only is a fixture)

DOWN_STORAGE = ("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=c2VjcmV0a2V5;"
                "BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;TableEndpoint=http://127.0.0.1:9/devstoreaccount1;")
KEYWORDS = ("password", "pwd", "AccountKey", "SharedAccessKey", "access_token", "client_secret", "sig")
NEIGHBOURS = ('"', "\\", "'", '\\"', '""', "\n", "\t", ";", "&", " ", "@", "/", "é", "\u2028", "=", ",", ":", "}",
              "]", "")
KNOWN = "n0wn-Spool-Secret"  # masked wherever it stands alone; here after a backslash escape (\n0wn...)
NAME = 'documents/2026/contract sig=1".pdf'  # the name of the issue: sig= next to a quote


def shape(value):
    if isinstance(value, dict):
        return "dict", len(value), tuple(shape(v) for v in value.values())
    if isinstance(value, list):
        return "list", tuple(shape(v) for v in value)
    return type(value).__name__


def texts(a, b):
    for keyword in KEYWORDS:
        yield f"{a}{keyword}=S3cretValue{b}x.pdf"
        yield f"{keyword}={a}S3cret{b}"
        yield f"{keyword} = '{a}S3cret{b}'"
        yield f'{keyword}="{a}S3cret{b}"'
        yield f"x {keyword}={a}{b}"
    yield f"postgresql://user{a}:p{b}S3cret@db/x"
    yield f'"password": "{a}S3cret{b}"'
    yield f"Authorization: Bearer {a}S3cret{b}"
    yield f"{a}{KNOWN}{b}"


# --- item 1: redaction never breaks JSON -----------------------------------------------------------------

def test_redacting_json_text_keeps_it_valid_json_of_the_same_shape():
    """Every secret pattern next to every quote, backslash and separator, in JSON written three ways:
    the redacted text still loads, with the same keys, items and types (a log line with a run in it)."""
    register_secrets([KNOWN])
    broken = []
    for a, b in itertools.product(NEIGHBOURS, repeat=2):
        for text in texts(a, b):
            document = {"name": text, "list": [text, "sig=", text], text: {"next": "x", "n": 1}}
            for style in ({}, {"separators": (",", ":")}, {"indent": 1, "ensure_ascii": False}):
                serialised = json.dumps(document, **style)
                try:
                    assert shape(json.loads(redact(serialised))) == shape(document)
                except (ValueError, AssertionError):
                    broken.append((serialised, redact(serialised)))
    assert not broken, f"{len(broken)} broken, e.g. {broken[:3]}"


def test_data_is_redacted_before_it_is_serialised():
    register_secrets([KNOWN])
    separators = [n for n in NEIGHBOURS if n != "é"]  # a letter next to it makes it part of a longer word
    for a, b in itertools.product(separators, repeat=2):
        values = list(texts(a, b))
        document = {"values": values, "by_name": {v: i for i, v in enumerate(values)}}
        text = redacted_json(document)
        back = json.loads(text)
        assert len(back["values"]) == len(values) and len(back["by_name"]) == len(values)  # no key lost
        assert "S3cretValue" not in text and KNOWN not in text


def failing_with_the_name(_ctx):
    return Outcome.fail(f"newest signed document's file {NAME} is missing", blob_path=NAME,
                          seen=[NAME, "password=\"x\\\"y\"", f"\\{KNOWN}"])


def test_a_failed_run_with_a_quote_after_sig_is_spooled_and_recorded_late_as_failed(base_env, only, tmp_path):
    """The issue's run: recorded during an outage, it must reach the journal later, still FAIL."""
    register_secrets([KNOWN])
    spool_dir = Path(base_env["VERIFIER_SPOOL_DIR"])
    down = Settings.from_env({"AzureWebJobsStorage": DOWN_STORAGE, "JOURNAL_TABLE": "Down",
                              "VERIFIER_SPOOL_DIR": str(spool_dir)})
    only(spec("database.signed_document", failing_with_the_name))
    lost = verify(RunRequest(trigger="timer"), down, Journal.from_settings(down, retry_total=1,
                                                                           retry_backoff_factor=0.01))
    assert lost.journal_status.startswith("error") and lost.status is Status.FAIL
    only(spec("t.ok", lambda c: Outcome.passed("ok")))
    up = Settings.from_env(base_env)
    journal = Journal.from_settings(up)
    nxt = verify(RunRequest(trigger="timer"), up, journal)
    assert any(lost.run_id in n and "recorded now" in n for n in nxt.notes), nxt.notes
    assert not any("quarantine" in n or "could not be written" in n for n in nxt.notes)
    back = journal.get_run(lost.run_id)
    assert back is not None and back.status is Status.FAIL
    assert back.results[0].details["blob_path"] == NAME.replace("sig=1", "sig=***")
    assert KNOWN not in json.dumps(back.to_dict()) and not (Spool(spool_dir).own / QUARANTINE).exists()


def full_run_in(caplog, marker):
    lines = [r.getMessage() for r in caplog.records if marker in r.getMessage()]
    assert lines, caplog.text
    return json.loads(lines[-1].split(marker, 1)[1])


def test_the_full_run_in_the_logs_is_valid_json(only, caplog, tmp_path):
    """When the journal is down the run goes to the log in full: parseable, after the log filter too."""
    caplog.handler.addFilter(RedactingFilter())
    settings = Settings.from_env({"AzureWebJobsStorage": DOWN_STORAGE, "JOURNAL_TABLE": "Down",
                                  "VERIFIER_SPOOL_DIR": str(tmp_path / "spool")})
    only(spec("database.signed_document", failing_with_the_name))
    caplog.set_level(logging.ERROR, logger="checks.service")
    run = verify(RunRequest(trigger="timer"), settings, Journal.from_settings(settings, retry_total=1,
                                                                              retry_backoff_factor=0.01))
    logged = full_run_in(caplog, "full run follows: ")
    assert logged["run_id"] == run.run_id and logged["results"][0]["status"] == "fail"
    assert logged["results"][0]["details"]["blob_path"] == NAME.replace("sig=1", "sig=***")


def test_the_full_run_logged_when_the_journal_refuses_it_is_valid_json(caplog):
    caplog.handler.addFilter(RedactingFilter())

    class RefusesFullRuns:
        written = []

        def write_run(self, run):
            if not any(r.details.get("reduced") for r in run.results):
                raise JournalRejected("journal write failed: 400 PropertyValueTooLarge")
            self.written.append(run)

    started = datetime(2026, 11, 2, 6, tzinfo=timezone.utc)
    run = Run(run_id="20261102T060000Z-abcdef", trigger="timer", started_at=started, finished_at=started)
    run.results.append(CheckResult("t.fail", "T", Status.FAIL, Severity.HIGH, f"missing {NAME}",
                                   {"blob_path": NAME}, "", started, 5))
    caplog.set_level(logging.ERROR, logger="checks.journal.spool")
    assert write_or_reduce(run, RefusesFullRuns()).startswith("written in reduced form")
    assert full_run_in(caplog, "full run: ")["results"][0]["details"]["blob_path"] == \
        NAME.replace("sig=1", "sig=***")


# --- item 2: only the verifier's own files are replayed; foreign files are never touched -------------------

def forged_run(run_id="20261102T060000Z-f0f0f0"):
    started = datetime(2026, 11, 2, 6, tzinfo=timezone.utc)
    run = Run(run_id=run_id, trigger="timer", started_at=started, finished_at=started + timedelta(seconds=3))
    for check in ("database.connectivity", "postgres.backup_retention", "blob.soft_delete"):
        run.results.append(CheckResult(check, check, Status.PASS, Severity.HIGH, "fine", {}, "", started, 5))
    return run


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file() and spoolfs.own_name() not in p.parts}


def test_a_run_file_dropped_in_a_shared_spool_folder_is_never_replayed_nor_moved(base_env, only):
    """The issue's case: a hand-written <runid>.json and two other foreign files in the shared folder."""
    shared = Path(base_env["VERIFIER_SPOOL_DIR"])
    shared.mkdir(mode=0o777)
    forged = forged_run()
    (shared / f"{forged.run_id}.json").write_text(json.dumps(forged.to_dict()))
    (shared / "20261101T000000Z-cccccc.json").write_text("{not json")
    (shared / "report.json").write_text('{"someone": "else"}')
    before = snapshot(shared)
    only(spec("t.ok", lambda c: Outcome.passed("ok")))
    settings = Settings.from_env(base_env)
    journal = Journal.from_settings(settings)
    run = verify(RunRequest(trigger="timer"), settings, journal)
    assert run.journal_status == "written"
    assert journal.get_run(forged.run_id) is None  # no box ticked by a file someone dropped
    assert snapshot(shared) == before and not (shared / QUARANTINE).exists()  # not moved, not rewritten
    note = next(n for n in journal.get_run(run.run_id).notes if forged.run_id in n)
    assert "2 files named like spooled runs" in note and "left untouched" in note


def own_folder(spool: Spool) -> int:
    return os.open(spool.own, os.O_RDONLY)


def test_a_tampered_or_unsigned_file_in_the_own_folder_is_left_untouched_and_named(base_env, only, tmp_path):
    settings = Settings.from_env(base_env)
    spool = Spool(settings.spool_dir)
    failed = forged_run("20261102T060000Z-aaaaaa")
    failed.results[0].status = Status.FAIL
    spool.save(failed)
    tampered = spool.own / f"{failed.run_id}.json"
    envelope = json.loads(tampered.read_bytes())
    envelope["run"] = envelope["run"].replace('"fail"', '"pass"')  # a FAIL turned into a PASS
    tampered.write_text(json.dumps(envelope))
    other = Spool(tmp_path / "another-deployment")  # signed, but with another spool's key
    other.save(forged_run("20261102T070000Z-bbbbbb"))
    (spool.own / "20261102T070000Z-bbbbbb.json").write_bytes((other.own / "20261102T070000Z-bbbbbb.json").read_bytes())
    (spool.own / "20261102T080000Z-cccccc.json").write_text(json.dumps(forged_run("20261102T080000Z-cccccc")
                                                                      .to_dict()))  # no signature at all
    before = {p.name: p.read_bytes() for p in spool.own.iterdir()}
    only(spec("t.ok", lambda c: Outcome.passed("ok")))
    journal = Journal.from_settings(settings)
    run = verify(RunRequest(trigger="timer"), settings, journal)
    assert all(journal.get_run(i) is None for i in ("20261102T060000Z-aaaaaa", "20261102T070000Z-bbbbbb",
                                                    "20261102T080000Z-cccccc"))
    assert {p.name: p.read_bytes() for p in spool.own.iterdir()} == before  # untouched, none quarantined
    notes = journal.get_run(run.run_id).notes
    for run_id, why in (("aaaaaa", "signature does not match"), ("bbbbbb", "signature does not match"),
                        ("cccccc", "no signature of this verifier")):
        assert any(run_id in n and why in n and "not replayed, left untouched" in n for n in notes), notes


def test_the_own_folder_and_its_files_are_private_and_signed(base_env):
    spool = Spool(Settings.from_env(base_env).spool_dir)
    spool.save(forged_run())
    assert spool.own.parent == Path(base_env["VERIFIER_SPOOL_DIR"]) and not spool.own.is_symlink()
    assert (spool.own.stat().st_mode & 0o777, spool.own.stat().st_uid) == (0o700, os.geteuid())
    for name in (spoolfs.KEY_FILE, "20261102T060000Z-f0f0f0.json"):
        assert (spool.own / name).stat().st_mode & 0o777 == 0o600
    envelope = json.loads((spool.own / "20261102T060000Z-f0f0f0.json").read_text())
    assert envelope["format"] == spoolfs.FORMAT and len(envelope["mac"]) == 64
    assert json.loads(envelope["run"])["run_id"] == "20261102T060000Z-f0f0f0"


def refused_everywhere(spool: Spool, settings, only, expected: str):
    """Nothing is written into the refused folder, nothing replayed from it; both runs say why."""
    only(spec("t.ok", lambda c: Outcome.passed("ok")))
    lost = forged_run("20261102T090000Z-dddddd")
    spool.save(lost)
    assert any("could not be kept in the outage spool" in n and expected in n for n in lost.notes), lost.notes
    journal = Journal.from_settings(settings)
    run = verify(RunRequest(trigger="timer"), settings, journal)
    assert any("were not replayed" in n and expected in n for n in run.notes), run.notes
    assert journal.get_run("20261102T060000Z-f0f0f0") is None and journal.get_run(lost.run_id) is None


def planted(folder: Path) -> Path:
    """A folder someone else prepared: a signed-looking run and a key of their own."""
    folder.mkdir(mode=0o700)
    (folder / spoolfs.KEY_FILE).write_bytes(b"k" * 32)
    os.chmod(folder / spoolfs.KEY_FILE, 0o600)
    name = "20261102T060000Z-f0f0f0.json"
    (folder / name).write_bytes(spoolfs.seal(b"k" * 32, name, json.dumps(forged_run().to_dict())))
    return folder


def test_an_own_subfolder_that_is_a_symbolic_link_is_refused(base_env, only, tmp_path):
    settings = Settings.from_env(base_env)
    spool = Spool(settings.spool_dir)
    spool.folder.mkdir()
    elsewhere = planted(tmp_path / "elsewhere")
    spool.own.symlink_to(elsewhere, target_is_directory=True)
    refused_everywhere(spool, settings, only, "symbolic link")
    assert sorted(p.name for p in elsewhere.iterdir()) == ["20261102T060000Z-f0f0f0.json", spoolfs.KEY_FILE]


def test_an_own_subfolder_of_another_user_is_refused(base_env, only, monkeypatch):
    """Someone else made medicapp-verifier-<our uid> first (here: the verifier runs as another uid)."""
    settings = Settings.from_env(base_env)
    spool_dir = settings.spool_dir
    spool_dir.mkdir()
    real = os.geteuid()
    monkeypatch.setattr(os, "geteuid", lambda: real + 4242)
    spool = Spool(spool_dir)
    planted(spool.own)
    refused_everywhere(spool, settings, only, "belongs to another user")


def test_an_own_subfolder_open_to_others_or_a_loose_key_is_refused(base_env, only):
    settings = Settings.from_env(base_env)
    spool = Spool(settings.spool_dir)
    spool.save(forged_run())
    os.chmod(spool.own, 0o777)
    refused_everywhere(spool, settings, only, "other users have access to it (mode 0o777")
    os.chmod(spool.own, 0o700)
    os.chmod(spool.own / spoolfs.KEY_FILE, 0o644)
    refused_everywhere(spool, settings, only, "key file spool.key is not the verifier's")
    assert (spool.own / "20261102T060000Z-f0f0f0.json").exists()  # kept for when the key is fixed
