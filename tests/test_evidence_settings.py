"""Settings validated fully (issue 27, item 6): every connection-like setting is refused at validation
(exit 2 / HTTP 500 naming the variable, the value never shown) instead of failing later as an
"outage" or leaking a password's tail through a misread host; redaction masks the whole secret."""
import io
import json
import re

import azure.functions as func
import pytest
from psycopg import conninfo

from checks import http_api
from checks.cli import main
from checks.engine import redact
from checks.engine.config import ConfigError, Settings

# a real-shaped account key (64 bytes, 88 base64 characters; Azurite's published development key)
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
SIG = "Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyMTI%3D"  # base64 of 32 bytes, percent-encoded '='
AZURE = "DefaultEndpointsProtocol=https;AccountName=medicappdocs;EndpointSuffix=core.windows.net;"

BAD_STORAGE = [
    AZURE + "AccountKey=notbase64!!",                        # the case
    AZURE + "AccountKey=" + KEY[:-4],                         # cut: not base64 any more
    AZURE + "AccountKey=" + KEY[:84],                         # cut on a 4-character boundary: 63 bytes
    AZURE + "AccountKey=a2V5",                                # base64, 3 bytes: not an Azure key
    AZURE + "AccountKey=" + KEY + ";AccountKey=" + KEY,      # twice: the SDKs disagree on which one counts
    AZURE + "AccountKey=" + KEY[:40] + " " + KEY[40:],       # a space pasted inside
    "BlobEndpoint=https://medicappdocs.blob.core.windows.net;SharedAccessSignature=sv=2024-11-04&sig=abc",
    "BlobEndpoint=https://medicappdocs.blob.core.windows.net;SharedAccessSignature=sp=r&sig=" + SIG,  # no sv
    "BlobEndpoint=https://medicappdocs.blob.core.windows.net;SharedAccessSignature=sv=1&sig=" + SIG + "&sig=" + SIG,
    "BlobEndpoint=https://medicappdocs.blob.core.windows.net?sv=2024-11-04&sig=" + SIG + ";SharedAccessSignature=sv=1&sig=" + SIG,
    "DefaultEndpointsProtocol=https;AccountName=Medic App;AccountKey=" + KEY,
    # expired (Azure would answer 403, which the journal takes for an outage), unreadable expiry, control character
    "BlobEndpoint=https://medicappdocs.blob.core.windows.net;SharedAccessSignature=sv=2024-11-04&se=2020-01-01&sig=" + SIG,
    "BlobEndpoint=https://medicappdocs.blob.core.windows.net;SharedAccessSignature=sv=2024-11-04&se=soon&sig=" + SIG,
    "BlobEndpoint=https://medicappdocs.blob.core.windows.net;SharedAccessSignature=sv=2024-11-04&sp=r%0A&sig=" + SIG,
]


@pytest.mark.parametrize("variable", ["AzureWebJobsStorage", "BLOB_CONNECTION_STRING", "FleetQueue"])
@pytest.mark.parametrize("value", BAD_STORAGE)
def test_a_malformed_storage_connection_string_is_refused_at_validation(variable, value):
    with pytest.raises(ConfigError) as info:
        Settings.from_env({variable: value})
    assert list(info.value.problems) == [variable]
    assert KEY[20:40] not in str(info.value) and "notbase64" not in str(info.value) and SIG[:20] not in str(info.value)


def test_a_key_that_is_not_base64_is_a_configuration_error_not_an_outage(base_env, env_patch, capsys):
    """The issue's case: before, every run was spooled 'as if Azure were down' (exit 1, variable never named)."""
    env = dict(base_env, AzureWebJobsStorage=re.sub(r"AccountKey=[^;]*", "AccountKey=notbase64!!",
                                                    base_env["AzureWebJobsStorage"]))
    assert main(["run", "--check", "database.connectivity"], out=io.StringIO(), env=env) == 2
    err = capsys.readouterr().err
    assert "AzureWebJobsStorage" in err and "AccountKey is not base64" in err
    assert "notbase64" not in err and "Traceback" not in err
    env_patch(env)
    resp = http_api.verify(func.HttpRequest(method="POST", url="/api/verify", body=b""))
    assert resp.status_code == 500 and "AzureWebJobsStorage" in json.loads(resp.get_body())["problems"]


@pytest.mark.parametrize("good", [
    "UseDevelopmentStorage=true",
    AZURE + "AccountKey=" + KEY,
    "DefaultEndpointsProtocol=https; AccountName=medicappdocs ;AccountKey=" + KEY + ";;",  # spaces, empty part
    # an emulator or private endpoint: any base64 key (Azurite accepts custom keys)
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=c2VjcmV0;"
    "BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;TableEndpoint=http://127.0.0.1:9/devstoreaccount1",
    "BlobEndpoint=https://medicappdocs.blob.core.windows.net;TableEndpoint=https://medicappdocs.table.core.windows.net;"
    "SharedAccessSignature=sv=2024-11-04&ss=bt&srt=sco&sp=rl&se=2099-01-01T00%3A00%3A00Z&spr=https&sig=" + SIG,
])
def test_valid_connection_strings_pass_and_both_sdks_read_them_as_validated(good):
    from azure.data.tables import TableClient
    from azure.storage.blob import BlobServiceClient
    value = Settings.from_env({"BLOB_CONNECTION_STRING": good}).blob_connection_string
    blob = BlobServiceClient.from_connection_string(value)
    table = TableClient.from_connection_string(value, table_name="Journal")  # refuses blanks and duplicates
    if "AccountKey=" in good:
        assert blob.credential.account_key == table.credential.named_key.key == good.split("AccountKey=")[1].split(";")[0]
    assert blob.account_name == table.account_name


USER, SECRET = "verifier", "Tail-Secret-77"
BAD_URLS = [
    f"postgresql://{USER}:p@ss{SECRET}@127.0.0.1/medicapp",   # the case: libpq reads host 'ss...@127.0.0.1'
    f"postgresql://ver@ifier:{SECRET}@127.0.0.1/medicapp",    # '@' in the user
    f"postgresql://{USER}:p:{SECRET}@127.0.0.1/medicapp",     # ':' in the password
    f"postgresql://{USER}:p/{SECRET}@127.0.0.1/medicapp",     # '/': libpq reads host 'verifier', port 'p'
    f"postgresql://{USER}:p#{SECRET}@127.0.0.1/medicapp",     # '#' and '?' start a fragment / query for others
    f"postgresql://{USER}:p?{SECRET}@127.0.0.1/medicapp",
    f"postgresql://{USER}:p {SECRET}@127.0.0.1/medicapp",     # a space
    f"postgresql://{USER}:p\"{SECRET}\\@127.0.0.1/medicapp",  # a double quote and a backslash
    f"postgresql://{USER}:p%0A{SECRET}@127.0.0.1/medicapp",   # percent-escapes that decode to control characters
    f"postgresql://{USER}%01:{SECRET}@127.0.0.1/medicapp",
    f"postgresql://{USER}:{SECRET}@127.0.0.1/medi%09capp",
    f"host=127.0.0.1 user={USER} password='{SECRET}\x01' dbname=medicapp",
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_a_database_url_with_unencoded_or_control_characters_is_refused(url, capsys):
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"DATABASE_URL": url})
    assert list(info.value.problems) == ["DATABASE_URL"] and SECRET not in str(info.value)
    assert main(["run", "--check", "database.connectivity"], out=io.StringIO(), env={"DATABASE_URL": url}) == 2
    err = capsys.readouterr().err
    assert "DATABASE_URL" in err and SECRET not in err and "Traceback" not in err


def test_an_unencoded_at_sign_never_reaches_the_summary_journal_or_http(base_env, env_patch, capsys):
    """Before: the run went ahead against host 'ssTail-Secret-77@127.0.0.1', which the summary, the
    journal, the report and the HTTP answer showed."""
    env = dict(base_env, DATABASE_URL=BAD_URLS[0])
    out = io.StringIO()
    assert main(["run", "--check", "database.connectivity"], out=out, env=env) == 2
    assert SECRET not in out.getvalue() + capsys.readouterr().err
    env_patch(env)
    resp = http_api.verify(func.HttpRequest(method="POST", url="/api/verify", body=b""))
    body = resp.get_body().decode()
    assert resp.status_code == 500 and "DATABASE_URL" in json.loads(body)["problems"] and SECRET not in body


@pytest.mark.parametrize("url,password", [
    ("postgresql://verifier:p%40s%3As%2Fw%23o%3Fr%20d@127.0.0.1:5432/medicapp", "p@s:s/w#o?r d"),
    ("postgresql://verifier:it's-$ecret(1)*+,;=@127.0.0.1/medicapp", "it's-$ecret(1)*+,;="),
    ("host=127.0.0.1 user=verifier password='it\\'s a \\\\ \"secret\"' dbname=medicapp", "it's a \\ \"secret\""),
    ("postgresql://127.0.0.1/medicapp?user=me%40tenant.onmicrosoft.com&password=p%40ss", "p@ss"),
])
def test_encoded_or_quoted_passwords_still_pass_and_decode_exactly(url, password):
    assert conninfo.conninfo_to_dict(Settings.from_env({"DATABASE_URL": url}).database_url)["password"] == password


@pytest.mark.parametrize("text,secret", [
    ("could not connect: postgresql://verifier:p@ss-Tail-Secret@127.0.0.1/medicapp", "ss-Tail-Secret"),
    ("postgresql://ver@ifier:Tail-Secret-9@127.0.0.1/db", "Tail-Secret-9"),
    ("dsn host=x password='it\\'s-a-Tail-Secret' user=u", "s-a-Tail-Secret"),
    ('dsn host=x password="q\\"Tail-Secret" user=u', "Tail-Secret"),
])
def test_redaction_masks_the_whole_password_when_malformed_input_slips_by(text, secret):
    assert secret not in redact.redact(text)


def test_the_password_as_libpq_reads_it_and_its_tail_are_known_secrets():
    redact.register_from_env({"DATABASE_URL": "host=x password='q\\'uote-Secret-5' user=u"})
    assert redact.redact("server said: q'uote-Secret-5 is wrong") == "server said: *** is wrong"
    redact.register_from_env({"DATABASE_URL": f"postgresql://{USER}:p@ssHost-Secret-6@127.0.0.1/medicapp"})
    assert redact.redact("connecting to ssHost-Secret-6@127.0.0.1:5432") == "connecting to ***@127.0.0.1:5432"


@pytest.mark.parametrize("name,value", [
    ("JOURNAL_ACCOUNT_URL", "https://medicappjournal.table.core.windows.net/?sv=2024-11-04&sig=" + SIG),
    ("BLOB_ACCOUNT_URL", "https://medicappdocs.blob.core.windows.net?sig=" + SIG),
    ("FleetQueue__queueServiceUri", "https://medicappjournal.queue.core.windows.net/#sig=" + SIG),
    ("BLOB_ACCOUNT_URL", "https://verifier:Url-Secret-88@medicappdocs.blob.core.windows.net"),
])
def test_an_account_url_carrying_a_sas_or_a_password_is_refused_without_showing_it(name, value):
    with pytest.raises(ConfigError) as info:
        Settings.from_env({name: value})
    assert list(info.value.problems) == [name]
    assert SIG[:20] not in str(info.value) and "Url-Secret-88" not in str(info.value)


def test_a_targets_entry_with_a_sas_in_its_account_url_is_refused_naming_targets():
    targets = json.dumps([{"name": "prod", "storage": {"account": "medicappdocs",
                                                       "account_url": "https://medicappdocs.blob.core.windows.net/?sv=1&sig=" + SIG}}])
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"TARGETS": targets})
    assert list(info.value.problems) == ["TARGETS"] and SIG[:20] not in str(info.value)


@pytest.mark.parametrize("name", ["PGPASSWORD", "PGUSER", "PGHOST", "PGDATABASE"])
def test_libpq_variables_with_control_characters_are_refused_without_the_value(name):
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"PGHOST": "127.0.0.1", name: "Ctl-Secret-3\n"})
    assert list(info.value.problems) == [name] and "Ctl-Secret-3" not in str(info.value)
