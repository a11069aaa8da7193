"""Evidence that cannot be wrong or leaked (issue 15): settings parsed at validation time,
redaction of tracebacks without over-masking, caller errors as 400s."""
import io
import json
import logging

import azure.functions as func
import pytest

from checks import heartbeat, http_api, http_report
from checks.cli import main
from checks.engine.config import ConfigError, Settings
from test_database_pg import one, scratch_db  # noqa: F401 (fixture)

MALFORMED = [
    ("AzureWebJobsStorage", "abc"), ("AzureWebJobsStorage", "="), ("AzureWebJobsStorage", ";;;"),
    ("AzureWebJobsStorage", "AccountName=x"), ("JOURNAL_ACCOUNT_URL", "https://[::1"),
    ("DATABASE_URL", "postgresql://verifier:Pw%zzSecret-77@127.0.0.1/medicapp"),
    ("DATABASE_URL", "postgresql://verifier@127.0.0.1:abc/medicapp"), ("DATABASE_URL", "host=x port"),
    ("PGPORT", "abc"), ("PGSSLMODE", "bogus"), ("BLOB_CONNECTION_STRING", "garbage"),
    # issue 27: a key that is not base64 (was: every run spooled as an outage), an unencoded '@' in the password
    ("AzureWebJobsStorage", "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=notbase64!!;"
                            "TableEndpoint=http://127.0.0.1:9/devstoreaccount1"),
    ("DATABASE_URL", "postgresql://verifier:p@ssSecret-77@127.0.0.1/medicapp"),
]


@pytest.mark.parametrize("name,value", MALFORMED)
def test_malformed_connection_setting_is_a_config_error_naming_it(name, value, base_env, env_patch, capsys):
    env = dict(base_env, **{name: value})
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    assert list(info.value.problems) == [name]
    # CLI: exit 2, the variable named, no traceback, no secret
    assert main(["run", "--check", "database.connectivity"], out=io.StringIO(), env=env) == 2
    err = capsys.readouterr().err
    assert name in err and "Traceback" not in err and "Secret-77" not in err
    # HTTP: 500 naming the variable; the timer and the heartbeat do not raise
    env_patch(env)
    resp = http_api.verify(func.HttpRequest(method="POST", url="/api/verify", body=b""))
    assert resp.status_code == 500 and name in json.loads(resp.get_body())["problems"]
    assert http_api.run_timer(past_due=False)["status"] == "error"
    assert heartbeat.run_daily()["state"] == "unknown"
    assert "error" in http_api.run_drill_timer(past_due=False)


@pytest.mark.parametrize("good", [
    "UseDevelopmentStorage=true",
    "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + "a2V5" * 21 + "aw==;EndpointSuffix=core.windows.net",
    "BlobEndpoint=https://acct.blob.core.windows.net;SharedAccessSignature=sv=2024&sig=" + "YWJj" * 10 + "YWI%3D",
])
def test_valid_connection_strings_still_pass_and_the_sdk_takes_them(good):
    from azure.storage.blob import BlobServiceClient
    settings = Settings.from_env({"BLOB_CONNECTION_STRING": good})
    BlobServiceClient.from_connection_string(settings.blob_connection_string)


@pytest.mark.parametrize("name,value", [("CHECK_TIMEOUT_SECONDS", "1_0"), ("RUN_LEASE_SECONDS", "٢٠"),
                                        ("BACKUP_MAX_AGE_HOURS", "2_6"), ("BLOB_LIST_CAP", "１０")])
def test_integer_settings_accept_ascii_digits_only(name, value):
    with pytest.raises(ConfigError) as info:
        Settings.from_env({name: value})
    assert "ASCII digits" in info.value.problems[name]


# --- item 7: redaction of tracebacks, no over-masking --------------------------------------------

def test_traceback_in_a_debug_log_record_is_redacted(base_env, pg_cluster, monkeypatch):
    """LOG_LEVEL=debug: a check that raises with the password in its exception → the runner logs exc_info."""
    from checks import service
    from checks.engine.model import CheckSpec, Severity
    from checks.engine.redact import RedactingFilter
    from checks.service import RunRequest, load_settings, verify
    password = "Tr4ceback-Secret-9"
    env = dict(base_env, DATABASE_URL=pg_cluster.url("verifier", password, "medicapp"), LOG_LEVEL="debug")
    settings = load_settings(env)  # registers the secrets, as every face does

    def raises(_ctx):
        raise RuntimeError(f"driver said: cannot use {password} here")

    monkeypatch.setattr(service, "select", lambda p, read_only_only=False: [
        CheckSpec(id="t.raise", title="t", severity=Severity.HIGH, remediation="r", risk="r", run=raises)])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    old = root.handlers[:], root.level
    root.handlers[:], root.level = [handler], logging.DEBUG
    try:
        run = verify(RunRequest(trigger="cli", write_journal=False), settings)
    finally:
        root.handlers[:], root.level = old
    text = stream.getvalue()
    assert "Traceback (most recent call last)" in text and "RuntimeError" in text  # the stack is kept...
    assert password not in text and "***" in text                                 # ...without the secret
    assert password not in json.dumps(run.to_dict())


def test_stack_info_is_redacted_too():
    from checks.engine.redact import RedactingFilter, register_secrets
    register_secrets(["Stack-Secret-4711"])
    record = logging.LogRecord("t", logging.ERROR, __file__, 1, "boom", None, None,
                               sinfo="Stack (most recent call last):\n  value Stack-Secret-4711")
    RedactingFilter().filter(record)
    assert "Stack-Secret-4711" not in record.stack_info


def test_a_short_password_is_masked_as_a_credential_never_inside_identifiers():
    from checks.engine.redact import redact, register_from_env
    register_from_env({"DATABASE_URL": "postgresql://verifier:public@db.example.org:5432/medicapp"})
    assert redact("table public.patients not found") == "table public.patients not found"
    assert redact('relation "public"."patients" has 3 rows; schema public') == \
        'relation "public"."patients" has 3 rows; schema public'
    assert "public@" not in redact("connect postgresql://verifier:public@db.example.org/medicapp failed")
    assert redact("password=public host=x") == "password=*** host=x"


def test_known_values_of_8_characters_are_masked_where_they_stand():
    from checks.engine.redact import redact, register_secrets
    register_secrets(["Kn0wn-Value-88"])
    assert redact("the key Kn0wn-Value-88 was refused.") == "the key *** was refused."
    assert redact("column my_Kn0wn-Value-88x") == "column my_Kn0wn-Value-88x"  # part of a longer name


# --- item 8: a signed document's path stays in its container -------------------------------------

@pytest.mark.parametrize("path", ["../private/secret.txt", "/private/secret.txt", "..\\private\\secret.txt",
                                  "%2e%2e/private/secret.txt", "%252e%252e%252fprivate%252fsecret.txt",
                                  "docs/../../private/secret.txt"])
def test_signed_document_path_that_leaves_its_container_fails_unread(path, pg_cluster, scratch_db, azurite):
    import hashlib
    import uuid
    from azure.storage.blob import BlobServiceClient
    from checks.engine.model import Status
    content = b"another container's secret"
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    docs, private = "docs" + uuid.uuid4().hex[:8], "private"
    service.create_container(docs)
    if not service.get_container_client(private).exists():
        service.create_container(private)
    service.get_blob_client(private, "secret.txt").upload_blob(content, overwrite=True)
    pg_cluster.execute("insert into documents (patient_id, title, signed, blob_path, sha256, created_at) values "
                       f"(1, 'Evil', true, '{path}', '{hashlib.sha256(content).hexdigest()}', "
                       "now() + interval '1 day')", scratch_db)
    requests = []
    env = {"DATABASE_URL": pg_cluster.url("verifier", "verifier-demo-pw", scratch_db),
           "SIGNED_DOCUMENT_TABLE": "documents", "SIGNED_DOCUMENT_CHECKSUM_COLUMN": "sha256",
           "SIGNED_DOCUMENT_CONTAINER": docs, "BLOB_CONNECTION_STRING": azurite.connection_string}
    result = one(env, "database.signed_document",
                 azure_kwargs={"raw_response_hook": lambda r: requests.append(r.http_request.url)})
    assert result.status is Status.FAIL and "path leaves the container" in result.summary
    assert requests == []  # never read


def test_ordinary_blob_names_stay_accepted():
    from checks.families.signed_document import blob_path_problem
    for name in ("patients/4/doc-3.pdf", "a..b/c.pdf", "scan 1.pdf", "x/.hidden"):
        assert blob_path_problem(name) is None, name


# --- item 9: caller errors are 400s naming the field ----------------------------------------------

def post(handler, body: bytes, route="/api/verify"):
    resp = handler(func.HttpRequest(method="POST", url=route, body=body,
                                    headers={"Content-Type": "application/json"}))
    return resp.status_code, json.loads(resp.get_body())


@pytest.mark.parametrize("field,value", [("azure_server", "Other_DB!"), ("azure_resource_group", "rg with spaces")])
def test_bad_override_is_a_400_naming_the_field(field, value, base_env, env_patch):
    env_patch(base_env)
    status, body = post(http_api.verify, json.dumps({field: value}).encode())
    assert status == 400 and field in body["error"]


def test_deeply_nested_body_is_a_400_not_a_recursion_error(base_env, env_patch):
    env_patch(base_env)
    status, body = post(http_api.verify, b"[" * 5000 + b"]" * 5000)
    assert status == 400 and "nested deeper" in body["error"]
    status, body = post(http_api.verify, b'{"checks": [[[[[[[[["x"]]]]]]]]]}')
    assert status == 400 and "nested deeper" in body["error"]


@pytest.mark.parametrize("point", ["2026-11-01T03:00:00", "2026-11-01T03:00", "٢٠٢٦-11-01T03:00:00Z",
                                   "2026-13-01T03:00:00Z"])
def test_drill_restore_point_without_zone_or_with_bad_digits_is_a_400(point, base_env, env_patch):
    env_patch(dict(base_env, RESTORE_DRILL_ENABLED="true"))
    status, body = post(http_api.drill_start, json.dumps({"restore_point": point}).encode(), "/api/drill")
    assert status == 400 and "restore_point" in body["error"]
    with pytest.raises(ConfigError):
        Settings.from_env({"RESTORE_POINT": point})


@pytest.mark.parametrize("month", ["0000-01", "1999-12", "2100-01", "٢٠٢٦-11", "2026-1١"])
def test_months_outside_2000_2099_or_non_ascii_are_400(month, base_env, env_patch, capsys):
    env_patch(base_env)
    for handler in (http_report.journal_month, http_report.report):
        resp = handler(func.HttpRequest(method="GET", url="/api/x", body=b"", params={"month": month}))
        assert resp.status_code == 400 and "month" in json.loads(resp.get_body())["error"]
    assert main(["report", "--month", month], out=io.StringIO(), env=base_env) == 2
    assert "2000-2099" in capsys.readouterr().err


def test_report_months_parameter_takes_ascii_digits_only(base_env, env_patch):
    env_patch(base_env)
    for months in ("1_2", "١٢"):
        resp = http_report.report(func.HttpRequest(method="GET", url="/api/report", body=b"",
                                                params={"month": "2026-11", "months": months}))
        assert resp.status_code == 400 and "months" in json.loads(resp.get_body())["error"]
