"""Who is calling (issue 28 item 1): crafted X-MS-CLIENT-PRINCIPAL headers through the real function handlers
(function_app's decorated functions), the journal in Azurite, the drill over the canned ARM transport."""
from __future__ import annotations

import base64
import json
from datetime import datetime, timezone

import azure.functions as func
import pytest

import function_app
from checks.engine.config import ConfigError, Settings
from checks.engine.principal import DRILL, READ, RESTORE, ROLES, RUN, SIGN_OFF, parse_principal
from checks.journal.store import Journal
from principal_headers import NAME, OID, encode, principal, signed_in

from test_function_app import FUNCTIONS  # the real decorated functions (get_functions validates once)
MONTH = datetime.now(timezone.utc).strftime("%Y-%m")
JSON = {"content-type": "application/json"}


def fn(name):
    return FUNCTIONS[name].get_user_function()


def call(name, headers=None, body=None, params=None, route_params=None, method="POST"):
    req = func.HttpRequest(method=method, url=f"/api/{name}", body=json.dumps(body).encode() if body is not None
                           else b"", headers={**JSON, **(headers or {})}, params=params or {},
                           route_params=route_params or {})
    resp = fn(name)(req)
    return resp.status_code, resp.get_body().decode()


@pytest.fixture
def app_env(env_patch, base_env, demo_db_url, entra):
    env = dict(base_env, DATABASE_URL=demo_db_url)
    env_patch(env)
    return env


def runs(env):
    return Journal.from_settings(Settings.from_env(env)).list_runs(MONTH)


def verify(headers, env=None):
    return call("verify", headers, {"checks": ["database.connectivity"]})


# --- valid caller: the journal records who asked ------------------------------------------------

def test_verify_records_the_callers_object_id_and_name(app_env):
    status, body = verify(signed_in(roles=[RUN]))  # Verifier.Run alone is enough for verify
    assert status == 200, body
    assert json.loads(body)["requested_by"] == {"object_id": OID, "name": NAME}
    [run] = runs(app_env)
    assert run["requested_by"] == {"object_id": OID, "name": NAME}
    status, body = call("journal_run", signed_in(roles=[READ]), route_params={"run_id": run["run_id"]}, method="GET")
    assert status == 200 and json.loads(body)["requested_by"]["object_id"] == OID
    function_app.http_api.run_timer(past_due=False)  # a timer run records no caller
    timer = next(r for r in runs(app_env) if r["trigger"] == "timer")
    assert "requested_by" not in timer


# --- a missing role is 403 naming it, before any work ---------------------------------------------

ROUTES = [("verify", RUN, {"checks": ["database.connectivity"]}, {}, "POST"),
          ("drill_start", DRILL, {}, {}, "POST"),
          ("restore_plan", RESTORE, {"kind": "postgres", "point": "latest"}, {}, "POST"),
          ("journal_month", READ, None, {}, "GET"),
          ("journal_run", READ, None, {"run_id": "20261101T000000Z-abcdef"}, "GET"),
          ("report", READ, None, {}, "GET"),
          ("pages", READ, None, {"page": "index.html"}, "GET"),
          ("report_signoff", SIGN_OFF, {"comment": "ok"}, {"month": MONTH}, "POST")]


@pytest.mark.parametrize("name,role,body,route_params,method", ROUTES, ids=[r[0] for r in ROUTES])
def test_a_caller_without_the_routes_role_is_403_naming_it(app_env, name, role, body, route_params, method):
    others = [r for r in ROLES if r != role]
    status, text = call(name, signed_in(roles=others), body, route_params=route_params, method=method)
    assert status == 403, text
    answer = json.loads(text)
    assert answer["missing_role"] == role and role in answer["error"] and NAME in answer["error"]
    assert runs(app_env) == []  # nothing ran, nothing journaled


# --- a header that cannot be trusted is 401, never a 500 ------------------------------------------

def claims_of(*claims, **extra):
    return encode({"auth_typ": "aad", "claims": list(claims), **extra})


OID_CLAIM = {"typ": "oid", "val": OID}
BAD_HEADERS = {
    "missing": None,
    "empty": "",
    "not base64": "not base64 at all!",
    "bad padding": principal()[:-1],
    "urlsafe alphabet": principal().replace("+", "-").replace("/", "_") + "-_",
    "base64 of bytes that are not UTF-8": base64.b64encode(b"\xff\xfe\xfd").decode(),
    "not JSON": base64.b64encode(b"{claims: nope").decode(),
    "a JSON list": encode([1, 2]),
    "claims not a list": encode({"claims": {"typ": "oid"}}),
    "too many claims": claims_of(*[OID_CLAIM] * 401),
    "non-string claim value": claims_of(OID_CLAIM, {"typ": "roles", "val": 7}),
    "null claim type": claims_of(OID_CLAIM, {"typ": None, "val": RUN}),
    "claim not an object": claims_of(OID_CLAIM, "roles"),
    "NUL in the name": claims_of(OID_CLAIM, {"typ": "name", "val": "Dr\x00 X"}, {"typ": "roles", "val": RUN}),
    "no object id": claims_of({"typ": "name", "val": NAME}, {"typ": "roles", "val": RUN}),
    "object id not a GUID": claims_of({"typ": "oid", "val": "admin"}, {"typ": "roles", "val": RUN}),
    "oversized": "A" * (16 * 1024 + 4),
    "deep": encode({"claims": [OID_CLAIM], "x": [[[[[[[[[[1]]]]]]]]]]}),
    "very deep": base64.b64encode(b"[" * 100000 + b"]" * 100000).decode()[:16000],
}


@pytest.mark.parametrize("header", list(BAD_HEADERS.values()), ids=list(BAD_HEADERS))
def test_a_malformed_principal_is_401_and_nothing_runs(app_env, header):
    headers = {} if header is None else {"x-ms-client-principal": header}
    status, text = verify(headers)
    assert status == 401, text
    assert "X-MS-CLIENT-PRINCIPAL" in json.loads(text)["error"] or "object id" in json.loads(text)["error"]
    assert runs(app_env) == []


def test_role_type_of_the_payload_and_the_long_role_claim_are_read():
    role_claim = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
    who = parse_principal(claims_of(OID_CLAIM, {"typ": role_claim, "val": RUN}, {"typ": "custom", "val": READ},
                                    role_typ="custom"))
    assert who.roles == {RUN, READ} and who.name == OID  # no name claim: the object id stands for it


# --- sign-off: the signer comes from the token ----------------------------------------------------

def test_signoff_is_recorded_under_the_tokens_name_and_object_id(app_env):
    assert verify(signed_in())[0] == 200
    route = {"month": MONTH}
    status, text = call("report_signoff", signed_in(), {"by": "Somebody Else"}, route_params=route)
    assert status == 400 and "'by'" in json.loads(text)["error"]  # a typed name is refused, never recorded
    status, text = call("report_signoff", signed_in(roles=[SIGN_OFF]), {"comment": "reviewed"}, route_params=route)
    assert status == 201, text
    signoff = json.loads(text)["signoff"]
    assert (signoff["by"], signoff["by_object_id"], signoff["proof"]) == (NAME, OID, "entra")
    journal = Journal.from_settings(Settings.from_env(app_env))
    [entity] = [e for e in journal.table_client.query_entities(f"PartitionKey eq '{MONTH}' and Kind eq 'signoff'")]
    assert (entity["SignedBy"], entity["SignedByObjectId"], entity["SignedByProof"]) == (NAME, OID, "entra")


# --- the documented opt-out: function keys, no roles, typed names marked unverified -----------------

def test_function_key_mode_needs_no_header_and_marks_a_typed_signer_unverified(app_env, monkeypatch):
    monkeypatch.setenv("HTTP_AUTH_MODE", "function-key")
    status, body = verify({})
    assert status == 200 and json.loads(body)["requested_by"] is None
    status, text = call("report_signoff", {}, {"comment": "ok"}, route_params={"month": MONTH})
    assert status == 400 and "'by'" in json.loads(text)["error"]
    status, text = call("report_signoff", {}, {"by": "Dr. Typed"}, route_params={"month": MONTH})
    assert status == 201, text
    signoff = json.loads(text)["signoff"]
    assert (signoff["by"], signoff["by_object_id"], signoff["proof"]) == ("Dr. Typed", "", "typed, unverified")


def test_an_invalid_auth_mode_is_a_configuration_error_naming_it(app_env, monkeypatch):
    monkeypatch.setenv("HTTP_AUTH_MODE", "none")
    status, text = verify(signed_in())
    assert status == 500 and "HTTP_AUTH_MODE" in json.loads(text)["problems"]
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"HTTP_AUTH_MODE": "none"})
    assert "HTTP_AUTH_MODE" in raised.value.problems


# --- a drill started over HTTP names who asked ------------------------------------------------------

def test_drill_started_over_http_records_the_caller(base_env, demo_db_url, env_patch, entra, monkeypatch):
    import test_drill as td
    from azure_fakes import StaticCredential, sdk_kwargs
    from checks.drill.state import Drill
    from checks.engine.context import RunContext

    env = dict(base_env, AZURE_SUBSCRIPTION_ID=td.SUB, PG_RESOURCE_GROUP=td.RG, PG_SERVER_NAME=td.SOURCE,
               RESTORE_DRILL_ENABLED="true", RESTORE_DRILL_RESOURCE_GROUP=td.DRILL_RG, DATABASE_URL=demo_db_url)
    env_patch(env)
    arm = td.Arm(create_status=["InProgress"])
    monkeypatch.setattr(td.drill_mod, "make_context", lambda settings: RunContext(
        settings=settings, clock=td.Clock(td.T0), credential=StaticCredential(), azure_kwargs=sdk_kwargs(arm.t)))
    status, text = call("drill_start", signed_in(roles=[DRILL]), {"restore_point": "2026-10-30T03:00:00Z"})
    assert status == 202, text
    started = json.loads(text)
    assert (started["requested_by_object_id"], started["requested_by_name"]) == (OID, NAME)
    journal = Journal.from_settings(Settings.from_env(env))
    stored = Drill.from_entity(dict(journal.table_client.get_entity("drill", started["drill_id"])))
    assert (stored.requested_by_object_id, stored.requested_by_name) == (OID, NAME)
    old = {k: v for k, v in stored.to_entity().items() if not k.startswith("RequestedBy")}
    assert Drill.from_entity(old).requested_by_name == ""  # drills recorded before callers still read


# --- infra: App Service Authentication in front, the app registration's roles, the opt-out -----------------

def test_bicep_puts_entra_in_front_with_return_401_and_fails_without_an_app_registration():
    from pathlib import Path
    from test_infra import body, parse
    fa = parse("modules/functionapp.bicep")
    auth = fa["resources"]["authSettings"]
    assert auth["type"] == "Microsoft.Web/sites/config" and body(auth)["name"] == "authsettingsV2"
    assert auth["config"]["condition"]["operator"]["operands"] == {"operand_1": "httpAuthMode", "operand_2": "entra"}
    props = body(auth)["properties"]
    assert props["globalValidation"] == {"requireAuthentication": True, "unauthenticatedClientAction": "Return401"}
    aad = props["identityProviders"]["azureActiveDirectory"]
    assert aad["enabled"] is True and aad["registration"]["clientId"] == "authClientId"
    assert aad["validation"]["allowedAudiences"] == ["api://${authClientId}", "authClientId"]
    assert fa["parameters"]["httpAuthMode"]["default"] == "entra"
    settings = body(fa["resources"]["functionApp"])["properties"]["siteConfig"]["appSettings"]
    assert {"name": "HTTP_AUTH_MODE", "value": "httpAuthMode"} in settings
    main = parse("main.bicep")
    assert main["parameters"]["httpAuthMode"]["default"] == "entra"
    app = body(main["modules"]["app"])
    assert app["params"]["authClientId"] == "authClientId" and app["dependsOn"] == ["authGuard"]
    # entra without a client id (GUID, 36 characters) fails the deployment before the app: the guard module
    guard = main["modules"]["authGuard"]
    assert guard["detail"]["path"] == "modules/auth-guard.bicep"
    assert guard["config"]["condition"]["operator"]["operands"] == {"operand_1": "httpAuthMode", "operand_2": "entra"}
    assert body(guard)["params"] == {"authClientId": "authClientId"}
    decorators = {d["type"]: d["argument"] for d in parse("modules/auth-guard.bicep")["parameters"]["authClientId"]
                  ["decorators"]}
    assert decorators["min_length"] == 36 and decorators["max_length"] == 36
    assert "AUTH_CLIENT_ID" in decorators["description"] and "function-key" in decorators["description"]
    azd = json.loads((Path(function_app.__file__).parent / "infra/main.parameters.json").read_text())["parameters"]
    assert azd["authClientId"]["value"] == "${AUTH_CLIENT_ID=}" and azd["httpAuthMode"]["value"] == "${HTTP_AUTH_MODE=entra}"
    roles = json.loads((Path(function_app.__file__).parent / "infra/app-roles.json").read_text())
    assert [r["value"] for r in roles] == list(ROLES) and all(r["isEnabled"] and r["description"] for r in roles)
