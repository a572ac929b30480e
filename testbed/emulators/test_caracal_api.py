"""Tests of caracal_api.py (Caracal's STS, Gateway and Admin API for the post-install canary),
over real HTTPS with the bed's CA, by host name through the CONNECT proxy and by path prefix.

Run:  "$(testbed/emulators/setup.sh --dev)/bin/python" -m pytest -q -p no:cacheprovider testbed/emulators
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import time
import uuid

import pytest
import requests

from conftest import HERE, launch

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
RESOURCE = "resource://canary"
# Every token and secret below contains this marker; the emulator's log must never show one.
MARK = "tok-MARK-never-logged"


@pytest.fixture(scope="module")
def caracal_server(tmp_path_factory):
    emu = launch("caracal_api.py", tmp_path_factory.mktemp("caracal-api"))
    yield emu
    emu.stop()


@pytest.fixture
def caracal(caracal_server):
    caracal_server.reset()
    return caracal_server


@pytest.fixture(scope="module")
def caracal_proxy(tmp_path_factory, caracal_server):
    d = tmp_path_factory.mktemp("caracal-proxy")
    target = f"127.0.0.1:{caracal_server.port}"
    (d / "routes.json").write_text(json.dumps({f"{h}:443": target for h in
                                               ("sts.caracal.test", "gateway.caracal.test", "api.caracal.test")}))
    ready = d / "ready.json"
    log = open(d / "proxy.log", "ab")
    proc = subprocess.Popen([sys.executable, str(HERE / "connect_proxy.py"), "--routes", str(d / "routes.json"),
                             "--ready-file", str(ready)], stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    deadline = time.time() + 20
    while not (ready.exists() and ready.read_text().strip()):
        assert proc.poll() is None and time.time() < deadline, (d / "proxy.log").read_text()
        time.sleep(0.05)
    info = json.loads(ready.read_text())
    yield info
    proc.terminate()
    proc.wait(10)


class Client:
    """The canary's three surfaces.  ``proxy``: by name (https://api.caracal.test/...) through the
    CONNECT proxy; else by path prefix on the emulator's own URL."""

    def __init__(self, emu, admin_token: str | None = None, proxy: dict | None = None):
        self.emu = emu
        self.admin_token = admin_token
        self.proxies = {"https": proxy["url"]} if proxy else None
        if proxy:
            self.base = {s: f"https://{s}.caracal.test" for s in ("sts", "gateway", "api")}
        else:
            self.base = {s: f"{emu.url}/{s}" for s in ("sts", "gateway", "api", "audit")}

    def req(self, svc: str, method: str, path: str, token: str | None = "admin", **kw) -> requests.Response:
        headers = dict(kw.pop("headers", {}) or {})
        if token == "admin" and self.admin_token:
            headers["Authorization"] = f"Bearer {self.admin_token}"
        elif token not in (None, "admin"):
            headers["Authorization"] = f"Bearer {token}"
        return requests.request(method, self.base[svc] + path, headers=headers, verify=self.emu.verify,
                                proxies=self.proxies, timeout=10, **kw)

    def api(self, method: str, path: str, **kw) -> requests.Response:
        return self.req("api", method, "/v1" + path, **kw)

    def exchange(self, **form) -> requests.Response:
        data = {"grant_type": TOKEN_EXCHANGE}
        data.update(form)
        items = []
        for k, v in data.items():
            for one in (v if isinstance(v, list) else [v]):
                items.append((k, one))
        return self.req("sts", "POST", "/oauth/2/token", token=None, data=items)

    def gateway(self, path: str, mandate: str | None, resource: str | None = RESOURCE, method: str = "GET",
                **kw) -> requests.Response:
        headers = dict(kw.pop("headers", {}) or {})
        if resource is not None:
            headers["X-Caracal-Resource"] = resource
        return self.req("gateway", method, path, token=mandate, headers=headers, **kw)

    # the canary's objects ------------------------------------------------------------------
    def setup(self, scopes=("canary:read", "canary:write"), allow=("canary:read",), activate=True) -> dict:
        out: dict = {}
        r = self.api("POST", "/zones", json={"name": "caracal-deploy-canary"})
        assert r.status_code == 201, r.text
        out["zone"] = z = r.json()["id"]
        r = self.api("POST", f"/zones/{z}/applications", json={"name": "canary"})
        assert r.status_code == 201, r.text
        out["app"], out["secret"] = r.json()["id"], r.json()["client_secret"]
        r = self.api("POST", f"/zones/{z}/resources", json={
            "name": "canary", "identifier": RESOURCE, "scopes": list(scopes),
            "upstream_url": "http://canary-upstream.invalid"})
        assert r.status_code == 201, r.text
        out["resource"] = r.json()["id"]
        content = json.dumps({"rules": [{"application_id": out["app"], "resource": RESOURCE,
                                         "scopes": list(allow)}]})
        r = self.api("POST", f"/zones/{z}/policies", json={"name": "canary-read", "content": content})
        assert r.status_code == 201, r.text
        out["policy"], out["policy_version"] = r.json()["id"], r.json()["version"]["id"]
        r = self.api("POST", f"/zones/{z}/policy-sets", json={"name": "canary"})
        assert r.status_code == 201, r.text
        out["set"] = r.json()["id"]
        r = self.api("POST", f"/zones/{z}/policy-sets/{out['set']}/versions",
                     json={"policies": [{"policy_version_id": out["policy_version"]}]})
        assert r.status_code == 201, r.text
        out["set_version"] = r.json()["id"]
        if activate:
            r = self.api("POST", f"/zones/{z}/policy-sets/{out['set']}/activate",
                         json={"version_id": out["set_version"]})
            assert r.status_code == 202, r.text
        return out

    def mandate(self, ids: dict, scope: str = "canary:read", **extra) -> str:
        r = self.exchange(zone_id=ids["zone"], application_id=ids["app"], client_secret=ids["secret"],
                          resource=RESOURCE, scope=scope, **extra)
        assert r.status_code == 200, r.text
        return r.json()["access_token"]

    def events(self, zone: str, rid: str) -> list[dict]:
        r = self.api("GET", f"/zones/{zone}/audit/by-request/{rid}")
        assert r.status_code == 200, r.text
        return r.json()["items"]


def install(emu, name: str = "aws", admin: str = f"adm-{MARK}", sts: str | None = f"sts-{MARK}",
            audit: str | None = f"aud-{MARK}") -> str:
    body = {"admin_token": admin}
    if sts:
        body["sts_admin_token"] = sts
    if audit:
        body["audit_admin_token"] = audit
    r = emu.admin("PUT", f"installations/{name}", json=body)
    assert r.status_code == 200, r.text
    return admin


def jwt_claims(token: str) -> tuple[dict, dict]:
    def part(p: str) -> dict:
        return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    h, c, _ = token.split(".")
    return part(h), part(c)


def assert_oauth_error(r: requests.Response, status: int, code: str) -> dict:
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert body["error"] == code, body
    assert body["error_description"]
    assert body["request_id"] == r.headers["X-Request-Id"]
    return body


def assert_api_error(r: requests.Response, status: int, code: str) -> dict:
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert body["error"] == code, body
    assert "error_description" in body
    return body


# ======================================================================================
# The canary, end to end
# ======================================================================================


@pytest.mark.parametrize("by_name", [True, False], ids=["by-host-through-proxy", "by-path-prefix"])
def test_canary_flow(caracal, caracal_proxy, by_name):
    c = Client(caracal, install(caracal), caracal_proxy if by_name else None)
    ids = c.setup()
    z = ids["zone"]
    r = c.api("GET", f"/zones/{z}/policy-sets/{ids['set']}/activation-status",
              params={"version_id": ids["set_version"]})
    assert r.status_code == 200 and r.json()["propagation_status"] == "loaded", r.text

    # 1. STS token exchange (api-sts.mdx "Token Exchange Request", "Responses")
    r = c.exchange(zone_id=z, application_id=ids["app"], client_secret=ids["secret"], resource=RESOURCE,
                   scope="canary:read")
    assert r.status_code == 200, r.text
    tok = r.json()
    assert tok["token_type"] == "Bearer" and tok["expires_in"] == 900
    assert tok["target_resources"] == [RESOURCE] and tok["scope"] == "canary:read"
    assert tok["issued_token_type"] == ACCESS_TOKEN
    assert r.headers["Cache-Control"] == "no-store" and r.headers["X-Request-Id"]
    head, claims = jwt_claims(tok["access_token"])
    assert head["alg"] == "ES256" and head["kid"]
    assert claims["use"] == "gateway" and claims["zone_id"] == z and claims["client_id"] == ids["app"]
    assert claims["sub"] == ids["app"] and claims["sub_type"] == "application"
    assert claims["exp"] - claims["iat"] == 900

    # 2. the Gateway with the mandate and X-Caracal-Resource (api-gateway.mdx)
    r = c.gateway("/v1/models?x=1", tok["access_token"])
    assert r.status_code == 200, r.text
    rid = r.headers["X-Request-Id"]
    assert r.json() == {"upstream": "http://canary-upstream.invalid", "resource": RESOURCE,
                        "method": "GET", "path": "/v1/models", "request_id": rid}

    # 3. the audit events for that request id (api-control-plane.mdx "Audit")
    events = c.events(z, rid)
    assert [(e["event_type"], e["decision"]) for e in events] == [
        ("authorization_decision", "allow"), ("gateway_action_result", None)]
    assert events[1]["status"] == 200
    for e in events:
        assert e["request_id"] == rid and e["zone_id"] == z and e["application_id"] == ids["app"]
        assert e["resource"] == RESOURCE and e["scopes"] == ["canary:read"]
        assert e["subject_kind"] == "application" and re.match(r"^[0-9a-f]{64}$", e["content_sha256"])
    assert events[1]["prev_content_sha256"] == events[0]["content_sha256"]
    r = c.api("GET", f"/zones/{z}/audit/by-request/{rid}/explain")
    assert r.status_code == 200 and r.json()["decision"] == "allow", r.text
    r = c.api("GET", f"/zones/{z}/audit", params={"request_id": rid, "decision": "allow"})
    assert [e["event_type"] for e in r.json()["items"]] == ["authorization_decision"]
    assert r.json()["next_cursor"] is None

    # a denial: a declared scope the policy does not allow (tutorials-protect-an-api.mdx step 5)
    r = c.exchange(zone_id=z, application_id=ids["app"], client_secret=ids["secret"], resource=RESOURCE,
                   scope="canary:write")
    body = assert_oauth_error(r, 403, "access_denied")
    events = c.events(z, body["request_id"])
    assert [(e["event_type"], e["decision"], e["reason"]) for e in events] == [
        ("token_exchange", "deny", "access_denied")]
    assert events[0]["scopes"] == ["canary:write"]

    # a Gateway denial: the mandate is spent (replay)
    r = c.gateway("/v1/models", tok["access_token"])
    body = assert_oauth_error(r, 401, "invalid_token")
    assert [e["event_type"] for e in c.events(z, body["request_id"])] == ["replay_detected"]

    # cleanup, newest first; every delete is 204 and the objects are gone
    for path in (f"/zones/{z}/policy-sets/{ids['set']}", f"/zones/{z}/policies/{ids['policy']}",
                 f"/zones/{z}/resources/{ids['resource']}", f"/zones/{z}/applications/{ids['app']}",
                 f"/zones/{z}"):
        r = c.api("DELETE", path)
        assert r.status_code == 204 and r.content == b"", (path, r.text)
        assert_api_error(c.api("GET", path), 404, "not_found")
    assert c.api("GET", "/zones").json() == {"items": [], "next_cursor": None}


def test_hosts_route_to_their_service(caracal, caracal_proxy):
    c = Client(caracal, install(caracal), caracal_proxy)
    for svc in ("sts", "gateway", "api"):
        r = c.req(svc, "GET", "/health", token=None)
        assert r.status_code == 200 and r.json() == {"status": "ok", "service": svc}
        assert c.req(svc, "GET", "/ready", token=None).json()["status"] == "ready"
    # the Admin API is not on the Gateway's host, nor the token endpoint on the API's
    assert c.req("gateway", "GET", "/v1/zones", token=None).status_code == 401   # a Gateway call
    assert c.req("api", "POST", "/oauth/2/token", data={"a": "b"}).status_code == 404
    # an unknown host without a prefix
    r = requests.get(f"{caracal.url}/v1/zones", verify=caracal.verify, timeout=10)
    assert r.status_code == 404 and "sts.caracal.test" in r.json()["error_description"]


# ======================================================================================
# Admin API: authentication, installations, errors
# ======================================================================================


def test_admin_refused_until_an_installation_sets_tokens(caracal):
    c = Client(caracal)
    assert_api_error(c.api("GET", "/zones"), 401, "unauthorized")
    c.admin_token = f"guess-{MARK}"
    r = c.api("GET", "/zones")
    assert_api_error(r, 401, "invalid_admin_token")
    assert "WWW-Authenticate" in r.headers
    # unknown routes and wrong methods are also 401 first
    assert_api_error(c.api("GET", "/nothing-here"), 401, "invalid_admin_token")
    install(caracal, admin=f"guess-{MARK}")
    assert c.api("GET", "/zones").status_code == 200
    assert_api_error(c.api("GET", "/nothing-here"), 404, "not_found")
    r = c.api("PUT", "/zones")
    assert_api_error(r, 405, "method_not_allowed")
    assert r.headers["Allow"] == "GET, POST"
    # the STS and audit tokens are not admin tokens
    for other in (f"sts-{MARK}", f"aud-{MARK}"):
        assert_api_error(Client(caracal, other).api("GET", "/zones"), 401, "invalid_admin_token")
    # reset forgets the installations
    caracal.reset()
    assert_api_error(c.api("GET", "/zones"), 401, "invalid_admin_token")


def test_installations_are_separate(caracal):
    a = Client(caracal, install(caracal, "aws", f"adm-a-{MARK}", f"sts-a-{MARK}", None))
    b = Client(caracal, install(caracal, "gcp", f"adm-b-{MARK}", None, None))
    z = a.api("POST", "/zones", json={"name": "a"}).json()["id"]
    assert_api_error(b.api("GET", f"/zones/{z}"), 404, "not_found")
    assert b.api("GET", "/zones").json()["items"] == []
    # a token already used elsewhere is refused; listing shows no token value
    r = caracal.admin("PUT", "installations/azure", json={"admin_token": f"adm-a-{MARK}"})
    assert r.status_code == 409
    listing = caracal.admin("GET", "installations").json()["installations"]
    assert {i["name"]: i["zones"] for i in listing} == {"aws": 1, "gcp": 0}
    assert MARK not in json.dumps(listing)
    assert caracal.admin("PUT", "installations/bad name", json={"admin_token": "x"}).status_code == 400
    assert caracal.admin("PUT", "installations/x", json={"sts_admin_token": "x"}).status_code == 400
    # replacing an installation's tokens keeps its zones; deleting it drops them
    install(caracal, "aws", f"adm-a2-{MARK}", None, None)
    assert_api_error(a.api("GET", "/zones"), 401, "invalid_admin_token")
    a.admin_token = f"adm-a2-{MARK}"
    assert a.api("GET", f"/zones/{z}").status_code == 200
    assert caracal.admin("DELETE", "installations/aws").status_code == 200
    assert_api_error(a.api("GET", "/zones"), 401, "invalid_admin_token")
    assert caracal.admin("DELETE", "installations/aws").status_code == 404


def test_admin_error_shapes(caracal):
    c = Client(caracal, install(caracal))
    r = c.api("POST", "/zones", json={"name": "z", "colour": "red"})
    body = assert_api_error(r, 400, "invalid_body")
    assert body["details"]["issues"] == [{"path": ["colour"], "message": "Unrecognized key"}]
    body = assert_api_error(c.api("POST", "/zones", json={}), 400, "invalid_body")
    assert body["details"]["issues"] == [{"path": ["name"], "message": "Required"}]
    assert_api_error(c.api("POST", "/zones", json={"name": 7}), 400, "invalid_body")
    assert_api_error(c.api("POST", "/zones", data="{nope", headers={"Content-Type": "application/json"}),
                     400, "invalid_body")
    assert_api_error(c.api("GET", "/zones/not-a-uuid"), 400, "invalid_id")
    assert_api_error(c.api("GET", f"/zones/{uuid.uuid4()}"), 404, "not_found")
    z = c.api("POST", "/zones", json={"name": "z"}).json()["id"]
    r = c.api("PATCH", f"/zones/{z}", json={"name": "z2"})
    assert r.status_code == 200 and r.json()["name"] == "z2"
    assert_api_error(c.api("GET", f"/zones/{z}/applications/{uuid.uuid4()}"), 404, "not_found")
    res = {"name": "r", "identifier": RESOURCE, "scopes": ["a:b"], "upstream_url": "http://u.invalid"}
    assert c.api("POST", f"/zones/{z}/resources", json=res).status_code == 201
    assert_api_error(c.api("POST", f"/zones/{z}/resources", json=res), 409, "already_exists")
    for bad in ({"identifier": "canary"}, {"scopes": []}, {"upstream_url": "ftp://x"},
                {"provider_id": str(uuid.uuid4())}):
        body = assert_api_error(c.api("POST", f"/zones/{z}/resources", json={**res, **bad}), 400, "invalid_body")
        assert body["details"]["issues"][0]["path"] == [next(iter(bad))]
    # a zone with objects is not deleted
    body = assert_api_error(c.api("DELETE", f"/zones/{z}"), 409, "zone_not_empty")
    assert body["details"]["counts"]["resources"] == 1
    # lists: limit and an opaque cursor
    for i in range(5):
        c.api("POST", "/zones", json={"name": f"p{i}"})
    r = c.api("GET", "/zones", params={"limit": 2})
    page1 = r.json()
    assert len(page1["items"]) == 2 and page1["next_cursor"]
    names = [i["name"] for i in page1["items"]]
    cursor = page1["next_cursor"]
    while cursor:
        page = c.api("GET", "/zones", params={"limit": 2, "cursor": cursor}).json()
        names += [i["name"] for i in page["items"]]
        cursor = page["next_cursor"]
    assert names == ["z2", "p0", "p1", "p2", "p3", "p4"]
    assert_api_error(c.api("GET", "/zones", params={"limit": 501}), 400, "invalid_request")
    assert_api_error(c.api("GET", "/zones", params={"cursor": "garbage"}), 400, "invalid_request")


def test_applications_secrets(caracal):
    c = Client(caracal, install(caracal))
    ids = c.setup()
    z, app = ids["zone"], ids["app"]
    assert "client_secret" not in c.api("GET", f"/zones/{z}/applications/{app}").json()
    r = c.api("GET", f"/zones/{z}/applications/{app}/client-secret")
    assert r.json() == {"client_secret": ids["secret"]}
    # the reveal is audited
    r = c.api("GET", f"/zones/{z}/audit", params={"event_type": "credential_revealed"})
    assert len(r.json()["items"]) == 1
    r = c.api("POST", f"/zones/{z}/applications/{app}/rotate-secret")
    assert r.status_code == 200 and r.json()["client_secret"] != ids["secret"]
    new = r.json()["client_secret"]
    r = c.exchange(zone_id=z, application_id=app, client_secret=ids["secret"], resource=RESOURCE,
                   scope="canary:read")
    assert_oauth_error(r, 401, "invalid_client")
    assert c.mandate({**ids, "secret": new})
    own = f"own-secret-{MARK}"
    r = c.api("PATCH", f"/zones/{z}/applications/{app}", json={"client_secret": own})
    assert r.status_code == 200 and own not in r.text
    assert c.mandate({**ids, "secret": own})


def test_policies_and_policy_sets(caracal):
    c = Client(caracal, install(caracal))
    ids = c.setup(activate=False)
    z = ids["zone"]
    # created but not activated: nothing is allowed (the default deny)
    r = c.exchange(zone_id=z, application_id=ids["app"], client_secret=ids["secret"], resource=RESOURCE,
                   scope="canary:read")
    assert_oauth_error(r, 403, "access_denied")
    r = c.api("GET", f"/zones/{z}/policy-sets/{ids['set']}/activation-status",
              params={"version_id": ids["set_version"]})
    assert r.json()["active"] is False
    r = c.api("POST", f"/zones/{z}/policy-sets/{ids['set']}/activate", json={"version_id": ids["set_version"]})
    assert r.status_code == 202 and r.json()["propagation_status"] == "pending"
    assert c.api("GET", f"/zones/{z}").json()["active_policy_set"] == {
        "policy_set_id": ids["set"], "version_id": ids["set_version"]}
    c.mandate(ids)
    # validation
    r = c.api("POST", "/policies/validate", json={"content": "package caracal\nallow := true"})
    assert r.status_code == 200 and r.json()["valid"] is False and r.json()["issues"]
    r = c.api("POST", "/policies/validate", json={"content": {"rules": []}})
    assert r.json() == {"valid": True, "issues": []}
    body = assert_api_error(c.api("POST", f"/zones/{z}/policies", json={"name": "x", "content": "allow"}),
                            400, "invalid_body")
    assert body["details"]["issues"][0]["path"] == ["content"]
    bad_rule = {"rules": [{"application_id": ids["app"], "resource": RESOURCE, "scopes": ["a"], "x": 1}]}
    body = assert_api_error(c.api("POST", f"/zones/{z}/policies", json={"name": "x", "content": bad_rule}),
                            400, "invalid_body")
    assert body["details"]["issues"][0]["path"] == ["content", "rules", 0, "x"]
    # a new policy version that allows write too, in a new set version
    write = json.dumps({"rules": [{"application_id": ids["app"], "resource": RESOURCE,
                                   "scopes": ["canary:read", "canary:write"]}]})
    r = c.api("POST", f"/zones/{z}/policies/{ids['policy']}/versions", json={"content": write})
    assert r.status_code == 201 and r.json()["version"] == 2
    pv2 = r.json()["id"]
    assert_oauth_error(c.exchange(zone_id=z, application_id=ids["app"], client_secret=ids["secret"],
                                  resource=RESOURCE, scope="canary:write"), 403, "access_denied")
    r = c.api("POST", f"/zones/{z}/policy-sets/{ids['set']}/versions", json=[{"policy_version_id": pv2}])
    assert r.status_code == 201, r.text
    v2 = r.json()["id"]
    assert c.api("GET", f"/zones/{z}/policy-sets/{ids['set']}/versions").json()["items"][1]["id"] == v2
    assert c.api("GET", f"/zones/{z}/policy-sets/{ids['set']}/versions/{v2}").json()["version"] == 2
    c.api("POST", f"/zones/{z}/policy-sets/{ids['set']}/activate", json={"version_id": v2})
    c.mandate(ids, scope="canary:read canary:write")
    r = c.api("GET", f"/zones/{z}/policy-sets/{ids['set']}/activation-status",
              params={"version_id": ids["set_version"]})
    assert r.json()["propagation_status"] == "superseded"
    body = assert_api_error(c.api("POST", f"/zones/{z}/policy-sets/{ids['set']}/versions",
                                  json={"policies": [{"policy_version_id": str(uuid.uuid4())}]}),
                            400, "invalid_body")
    # a mandate minted while allowed is refused by the Gateway once the policy is deleted
    mandate = c.mandate(ids)
    assert c.api("DELETE", f"/zones/{z}/policies/{ids['policy']}").status_code == 204
    body = assert_oauth_error(c.gateway("/", mandate), 403, "access_denied")
    assert c.events(z, body["request_id"])[0]["reason"] == "access_denied"
    # deleting the active set leaves the zone without policy
    assert c.api("DELETE", f"/zones/{z}/policy-sets/{ids['set']}").status_code == 204
    assert c.api("GET", f"/zones/{z}").json()["active_policy_set"] is None


# ======================================================================================
# STS
# ======================================================================================


def test_sts_request_rules(caracal):
    c = Client(caracal, install(caracal))
    ids = c.setup()
    good = {"zone_id": ids["zone"], "application_id": ids["app"], "client_secret": ids["secret"],
            "resource": RESOURCE, "scope": "canary:read"}
    url = c.base["sts"] + "/oauth/2/token"
    form = {"grant_type": TOKEN_EXCHANGE, **good}
    # query parameters, other media types and repeated singletons are rejected
    r = requests.post(url + "?zone_id=x", data=form, verify=caracal.verify, timeout=10)
    assert_oauth_error(r, 400, "invalid_request")
    r = requests.post(url, json=form, verify=caracal.verify, timeout=10)
    assert_oauth_error(r, 400, "invalid_request")
    assert_oauth_error(c.exchange(**{**good, "scope": ["canary:read", "canary:read"]}), 400, "invalid_request")
    assert_oauth_error(requests.get(url, verify=caracal.verify, timeout=10), 405, "invalid_request")
    assert_oauth_error(c.exchange(**good, actor_token="x", actor_token_type=ACCESS_TOKEN), 400, "invalid_token")
    assert_oauth_error(c.exchange(**good, client_assertion="x",
                                  client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                       400, "invalid_request")
    r = requests.post(url, data={**form, "grant_type": "client_credentials"}, verify=caracal.verify, timeout=10)
    assert_oauth_error(r, 400, "unsupported_grant_type")
    for missing in ("zone_id", "application_id", "client_secret"):
        assert_oauth_error(c.exchange(**{k: v for k, v in good.items() if k != missing}), 400, "invalid_request")
    assert_oauth_error(c.exchange(**{**good, "client_secret": "wrong"}), 401, "invalid_client")
    assert_oauth_error(c.exchange(**{**good, "application_id": str(uuid.uuid4())}), 401, "invalid_client")
    assert_oauth_error(c.exchange(**{**good, "zone_id": str(uuid.uuid4())}), 401, "invalid_client")
    for ttl in ("0", "-1", "x", "3601", "1.5"):
        assert_oauth_error(c.exchange(**good, ttl_seconds=ttl), 400, "invalid_request")
    r = c.exchange(**good, ttl_seconds="60")
    assert r.status_code == 200 and r.json()["expires_in"] == 60
    # resources: trimmed, de-duplicated, sorted; unknown ones are invalid_target
    r = c.exchange(**{**good, "resource": [f" {RESOURCE} ", RESOURCE]})
    assert r.status_code == 200 and r.json()["target_resources"] == [RESOURCE]
    body = assert_oauth_error(c.exchange(**{**good, "resource": [RESOURCE, "resource://other"]}),
                              400, "invalid_target")
    assert c.events(ids["zone"], body["request_id"])[0]["reason"] == "invalid_target"
    # a scope the resource does not declare; none at all
    assert_oauth_error(c.exchange(**{**good, "scope": "canary:admin"}), 400, "invalid_scope")
    assert_oauth_error(c.exchange(**{**good, "scope": ""}), 400, "invalid_scope")
    for k in ("session_id", "approval_id"):
        assert_oauth_error(c.exchange(**good, **{k: "x"}), 400, "invalid_request")


def test_sts_session_mandate_as_subject_token(caracal):
    c = Client(caracal, install(caracal))
    ids = c.setup()
    base = {"zone_id": ids["zone"], "application_id": ids["app"], "client_secret": ids["secret"]}
    r = c.exchange(**base)
    assert r.status_code == 200 and r.json()["target_resources"] == []
    session = r.json()["access_token"]
    assert jwt_claims(session)[1]["use"] == "session"
    # a session mandate is not a Gateway input
    assert_oauth_error(c.gateway("/", session), 401, "invalid_token")
    r = c.exchange(**base, subject_token=session, subject_token_type=ACCESS_TOKEN, resource=RESOURCE,
                   scope="canary:read")
    assert r.status_code == 200, r.text
    gateway_mandate = r.json()["access_token"]
    # resource (gateway) mandates are refused as subject tokens; so are foreign and half requests
    assert_oauth_error(c.exchange(**base, subject_token=gateway_mandate, subject_token_type=ACCESS_TOKEN),
                       400, "invalid_grant")
    assert_oauth_error(c.exchange(**base, subject_token=session[:-4] + "AAAA", subject_token_type=ACCESS_TOKEN),
                       400, "invalid_grant")
    assert_oauth_error(c.exchange(**base, subject_token=session), 400, "invalid_request")
    assert_oauth_error(c.exchange(**base, subject_token="x",
                                  subject_token_type="urn:ietf:params:oauth:token-type:id_token"),
                       400, "invalid_request")
    other = c.api("POST", f"/zones/{ids['zone']}/applications", json={"name": "other"}).json()
    assert_oauth_error(c.exchange(zone_id=ids["zone"], application_id=other["id"],
                                  client_secret=other["client_secret"], subject_token=session,
                                  subject_token_type=ACCESS_TOKEN), 400, "invalid_grant")


def test_sts_jwks_verifies_the_mandate(caracal):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    c = Client(caracal, install(caracal))
    ids = c.setup()
    mandate = c.mandate(ids)
    r = c.req("sts", "GET", "/.well-known/jwks.json", token=None, params={"zone_id": ids["zone"]})
    assert r.status_code == 200, r.text
    (key,) = r.json()["keys"]
    head, claims = jwt_claims(mandate)
    assert key["kid"] == head["kid"] and key["alg"] == "ES256" and key["crv"] == "P-256"
    d = lambda s: int.from_bytes(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)), "big")  # noqa: E731
    pub = ec.EllipticCurvePublicNumbers(d(key["x"]), d(key["y"]), ec.SECP256R1()).public_key()
    h, b, sig = mandate.split(".")
    raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    pub.verify(encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")),
               f"{h}.{b}".encode(), ec.ECDSA(hashes.SHA256()))
    assert claims["iss"] == "https://sts.caracal.test" and claims["aud"] == "caracal-gateway"
    # another zone has another key
    z2 = c.api("POST", "/zones", json={"name": "z2"}).json()["id"]
    k2 = c.req("sts", "GET", "/.well-known/jwks.json", token=None, params={"zone_id": z2}).json()["keys"][0]
    assert k2["kid"] != key["kid"]
    assert c.req("sts", "GET", "/.well-known/jwks.json", token=None).status_code == 400
    assert c.req("sts", "GET", "/.well-known/jwks.json", token=None,
                 params={"zone_id": str(uuid.uuid4())}).status_code == 404


def test_sts_internal_needs_the_sts_admin_token(caracal):
    c = Client(caracal, install(caracal))
    ids = c.setup()
    path = f"/internal/policy/status/{ids['zone']}"
    assert c.req("sts", "GET", path, token=None).status_code == 401
    assert c.req("sts", "GET", path, token=f"adm-{MARK}").status_code == 401   # the admin token is not it
    r = c.req("sts", "GET", path, token=f"sts-{MARK}")
    assert r.status_code == 200 and r.json()["status"] == "loaded"
    assert r.json()["active_version_id"] == ids["set_version"]


def test_audit_service_search(caracal):
    c = Client(caracal, install(caracal, audit=None))
    ids = c.setup()
    r = c.gateway("/", c.mandate(ids))
    rid = r.headers["X-Request-Id"]
    # without an audit admin token configured the operator routes are 404 (services-audit.mdx)
    assert c.req("audit", "GET", "/api/audit/search", token=None).status_code == 404
    install(caracal, audit=f"aud-{MARK}")
    assert c.req("audit", "GET", "/api/audit/search", token=None).status_code == 401
    assert c.req("audit", "GET", "/api/audit/search", token=f"adm-{MARK}").status_code == 401
    r = c.req("audit", "GET", "/api/audit/search", token=f"aud-{MARK}", params={"request_id": rid})
    assert r.status_code == 200 and len(r.json()["items"]) == 2


# ======================================================================================
# Gateway denial checks
# ======================================================================================


def test_gateway_preflight_and_token_checks(caracal):
    c = Client(caracal, install(caracal))
    ids = c.setup()
    z = ids["zone"]

    def deny_events(r) -> list:
        return [(e["event_type"], e["decision"], e["reason"]) for e in c.events(z, r.json()["request_id"])]

    r = c.gateway("/", None)
    assert_oauth_error(r, 401, "invalid_token")
    assert "WWW-Authenticate" in r.headers
    assert_oauth_error(c.gateway("/", "x" * 9000), 401, "invalid_token")
    assert_oauth_error(c.gateway("/", c.mandate(ids), headers={"X-Caracal-Client-ID": ids["app"]}),
                       400, "invalid_request")
    assert_oauth_error(c.gateway("/", c.mandate(ids), resource=None), 400, "invalid_request")
    assert_oauth_error(c.gateway("/a/%2e%2e/b", c.mandate(ids)), 400, "invalid_request")
    assert_oauth_error(c.gateway("/", "not.a.jwt"), 401, "invalid_token")
    # a bad signature is refused and audited in the zone it names
    m = c.mandate(ids)
    r = c.gateway("/", m[:-6] + ("AAAAAA" if not m.endswith("AAAAAA") else "BBBBBB"))
    assert_oauth_error(r, 401, "invalid_token")
    assert deny_events(r) == [("authorization_decision", "deny", "invalid_token")]
    # expiring inside the preflight window
    r = c.gateway("/", c.mandate(ids, ttl_seconds="3"))
    assert_oauth_error(r, 401, "invalid_token")
    assert "preflight" in r.json()["error_description"]
    # unresolved resource: 404; a resource the mandate does not name: 403
    other = {"name": "o", "identifier": "resource://other", "scopes": ["canary:read"],
             "upstream_url": "http://o.invalid"}
    assert c.api("POST", f"/zones/{z}/resources", json=other).status_code == 201
    r = c.gateway("/", c.mandate(ids), resource="resource://nowhere")
    assert_oauth_error(r, 404, "resource_not_found")
    assert deny_events(r) == [("authorization_decision", "deny", "resource_not_found")]
    r = c.gateway("/", c.mandate(ids), resource="resource://other")
    assert_oauth_error(r, 403, "access_denied")
    # the resource's declared scopes are enforced on the mandate
    m = c.mandate(ids)
    c.api("PATCH", f"/zones/{z}/resources/{ids['resource']}", json={"scopes": ["canary:write"]})
    r = c.gateway("/", m)
    assert_oauth_error(r, 403, "scope_insufficient")
    c.api("PATCH", f"/zones/{z}/resources/{ids['resource']}", json={"scopes": ["canary:read", "canary:write"]})
    # a deleted application's mandates are revoked
    m = c.mandate(ids)
    assert c.api("DELETE", f"/zones/{z}/applications/{ids['app']}").status_code == 204
    r = c.gateway("/", m)
    assert_oauth_error(r, 401, "invalid_token")
    assert deny_events(r) == [("authorization_decision", "deny", "invalid_token")]


def test_gateway_forwards_method_and_upstream_status(caracal):
    c = Client(caracal, install(caracal))
    ids = c.setup()
    r = c.gateway("/v1/chat", c.mandate(ids), method="POST", json={"q": 1})
    assert r.status_code == 200 and r.json()["method"] == "POST" and r.json()["path"] == "/v1/chat"
    # the emulated upstream can fail: its status is streamed back, and audited as the action result
    assert caracal.admin("POST", "settings", json={"upstream_status": 503}).json()["upstream_status"] == 503
    r = c.gateway("/", c.mandate(ids))
    assert r.status_code == 503
    events = c.events(ids["zone"], r.headers["X-Request-Id"])
    assert events[0]["decision"] == "allow" and events[1]["status"] == 503
    assert caracal.admin("POST", "settings", json={"upstream_status": 99}).status_code == 400


def test_audit_delay_makes_a_canary_poll(caracal):
    c = Client(caracal, install(caracal))
    ids = c.setup()
    caracal.admin("POST", "settings", json={"audit_delay_ms": 700})
    r = c.gateway("/", c.mandate(ids))
    rid = r.headers["X-Request-Id"]
    assert c.events(ids["zone"], rid) == []
    assert_api_error(c.api("GET", f"/zones/{ids['zone']}/audit/by-request/{rid}/explain"), 404, "not_found")
    deadline = time.time() + 10
    while not c.events(ids["zone"], rid):
        assert time.time() < deadline
        time.sleep(0.1)
    assert len(c.events(ids["zone"], rid)) == 2


# ======================================================================================
# Faults, request log, log hygiene
# ======================================================================================


def test_faults(caracal):
    c = Client(caracal, install(caracal))
    ids = c.setup()
    # the Gateway denies: 403 after the mandate checks, and the deny is audited
    caracal.faults({"deny": {"ops": ["gateway"], "count": 1}})
    r = c.gateway("/", c.mandate(ids))
    body = assert_oauth_error(r, 403, "access_denied")
    assert [(e["event_type"], e["decision"]) for e in c.events(ids["zone"], body["request_id"])] == [
        ("authorization_decision", "deny")]
    assert c.gateway("/", c.mandate(ids)).status_code == 200
    # the Gateway's STS exchange fails (502) or its circuit is open (503)
    caracal.faults({"errors_5xx": {"ops": ["gateway"], "count": 1, "status": 502}})
    assert_oauth_error(c.gateway("/", c.mandate(ids)), 502, "sts_unavailable")
    caracal.faults({"errors_5xx": {"ops": ["gateway"], "count": 1}})
    assert_oauth_error(c.gateway("/", c.mandate(ids)), 503, "circuit_open")
    # STS 5xx and an STS policy deny (audited)
    caracal.faults({"errors_5xx": {"ops": ["sts_token"], "count": 1, "status": 500}})
    r = c.exchange(zone_id=ids["zone"], application_id=ids["app"], client_secret=ids["secret"],
                   resource=RESOURCE, scope="canary:read")
    assert_oauth_error(r, 500, "server_error")
    caracal.faults({"deny": {"ops": ["sts_token"], "count": 1}})
    r = c.exchange(zone_id=ids["zone"], application_id=ids["app"], client_secret=ids["secret"],
                   resource=RESOURCE, scope="canary:read")
    body = assert_oauth_error(r, 403, "access_denied")
    assert c.events(ids["zone"], body["request_id"])[0]["decision"] == "deny"
    # Admin API throttling; faults without ops leave the health probes alone
    caracal.faults({"throttle": {"count": 2, "retry_after": 2}})
    assert c.req("api", "GET", "/health", token=None).status_code == 200
    r = c.api("GET", "/zones")
    assert_api_error(r, 429, "rate_limited")
    assert r.headers["Retry-After"] == "2"
    caracal.faults({"errors_5xx": {"ops": ["admin.zones.create"], "count": 1}})
    assert_api_error(c.api("POST", "/zones", json={"name": "x"}), 503, "service_unavailable")
    assert c.api("POST", "/zones", json={"name": "x"}).status_code == 201
    assert caracal.admin("GET", "faults").json()["injected"]["errors_5xx"] == 4


def test_requests_are_recorded_without_credentials(caracal, caracal_proxy):
    c = Client(caracal, install(caracal), caracal_proxy)
    ids = c.setup()
    mandate = c.mandate(ids)
    c.gateway("/v1/x", mandate)
    log = caracal.admin("GET", "requests").json()["requests"]
    gw = [e for e in log if e["op"] == "gateway"][-1]
    assert gw["method"] == "GET" and gw["path"] == "/v1/x" and gw["status"] == 200
    assert gw["host"] == "gateway.caracal.test"
    hdrs = {k.lower(): v for k, v in gw["headers"].items()}
    assert hdrs["authorization"] == "Bearer [redacted]" and hdrs["x-caracal-resource"] == RESOURCE
    assert [e["op"] for e in log if e["method"] == "POST" and e["host"] == "api.caracal.test"][:2] == [
        "admin.zones.create", "admin.applications.create"]
    text = json.dumps(log)
    assert MARK not in text and mandate not in text and ids["secret"] not in text
    stats = caracal.stats()
    assert stats["ok"]["gateway"] == 1 and stats["writes"] >= 7


# ======================================================================================
# Plain listeners (one per role) and pod_forward.py: the way in through a kubectl port-forward
# ======================================================================================


def plain_url(emu, role: str) -> str:
    return f"http://127.0.0.1:{emu.ready['plain'][role]}"


def test_plain_listeners_route_by_their_role(caracal):
    plain = caracal.ready["plain"]
    assert set(plain) == {"sts", "gateway", "api"} and caracal.port not in plain.values()
    assert len(set(plain.values())) == 3
    for role in plain:
        # through a port-forward the Host is 127.0.0.1:LOCALPORT; a Caracal host name does not
        # move a request to another service either
        for host in ("127.0.0.1:18080", "api.caracal.test", "sts.caracal.test"):
            r = requests.get(plain_url(caracal, role) + "/health", headers={"Host": host}, timeout=10)
            assert r.status_code == 200 and r.json() == {"status": "ok", "service": role}, (role, host, r.text)
        # the control endpoints answer on every listener
        assert requests.get(plain_url(caracal, role) + "/_emulator/healthz", timeout=10).json()["status"] == "ok"
    # no path prefixes on a plain listener: /sts/health is an STS path the STS does not have
    assert_oauth_error(requests.get(plain_url(caracal, "sts") + "/sts/health", timeout=10), 404, "not_found")
    assert requests.post(plain_url(caracal, "api") + "/oauth/2/token", data={"a": "b"},
                         timeout=10).status_code == 404
    # the canary's three calls, each on its role's plain listener, over the state set up by HTTPS
    c = Client(caracal, install(caracal))
    ids = c.setup()
    r = requests.post(plain_url(caracal, "sts") + "/oauth/2/token", timeout=10, data={
        "grant_type": TOKEN_EXCHANGE, "zone_id": ids["zone"], "application_id": ids["app"],
        "client_secret": ids["secret"], "resource": RESOURCE, "scope": "canary:read"})
    assert r.status_code == 200 and r.json()["target_resources"] == [RESOURCE], r.text
    mandate = r.json()["access_token"]
    r = requests.get(plain_url(caracal, "gateway") + "/v1/x", timeout=10, headers={
        "Authorization": f"Bearer {mandate}", "X-Caracal-Resource": RESOURCE})
    assert r.status_code == 200 and r.json()["path"] == "/v1/x", r.text
    r = requests.get(plain_url(caracal, "api") + f"/v1/zones/{ids['zone']}/audit/by-request/"
                     + r.headers["X-Request-Id"], headers={"Authorization": f"Bearer {c.admin_token}"}, timeout=10)
    assert r.status_code == 200 and {e["event_type"] for e in r.json()["items"]} == {
        "authorization_decision", "gateway_action_result"}, r.text
    # one state: the zone made over HTTPS is the one the plain Admin API lists
    r = requests.get(plain_url(caracal, "api") + "/v1/zones", headers={"Authorization": f"Bearer {c.admin_token}"},
                     timeout=10)
    assert [z["id"] for z in r.json()["items"]] == [ids["zone"]]


def test_request_log_names_the_listener(caracal, caracal_proxy):
    c = Client(caracal, install(caracal), caracal_proxy)
    assert c.req("sts", "GET", "/health", token=None).status_code == 200
    assert Client(caracal).req("api", "GET", "/health", token=None).status_code == 200
    for role in ("sts", "gateway", "api"):
        assert requests.get(plain_url(caracal, role) + "/ready", timeout=10).status_code == 200
    log = caracal.admin("GET", "requests").json()["requests"]
    got = [(e["listener"], e["host"], e["path"]) for e in log]
    port = caracal.ready["plain"]
    assert got == [
        ("https", "sts.caracal.test", "/health"),
        ("https", f"127.0.0.1:{caracal.port}", "/api/health"),
        ("plain-sts", f"127.0.0.1:{port['sts']}", "/ready"),
        ("plain-gateway", f"127.0.0.1:{port['gateway']}", "/ready"),
        ("plain-api", f"127.0.0.1:{port['api']}", "/ready"),
    ]


def pod_forward(ready, role: str, data: bytes, timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(HERE / "pod_forward.py"), str(ready), role], input=data,
                          capture_output=True, timeout=timeout)


def test_pod_forward_pipes_stdin_and_stdout(caracal, tmp_path):
    # a ready file of its own, as the bed's: only plain[ROLE] is read
    ready = tmp_path / "ready.json"
    ready.write_text(json.dumps({"plain": {"sts": caracal.ready["plain"]["sts"]}}))
    since = caracal.admin("GET", "requests").json()["requests"]
    req = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1:18080\r\nConnection: close\r\n\r\n"
    p = pod_forward(ready, "sts", req)
    assert p.returncode == 0 and p.stderr == b"", p.stderr
    head, _, body = p.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), p.stdout
    assert json.loads(body) == {"status": "ok", "service": "sts"}
    # keep-alive: the server answers, then sees the half-close when stdin ends, and hangs up
    p = pod_forward(ready, "sts", b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert p.returncode == 0, p.stderr
    assert p.stdout.count(b"HTTP/1.1 200 ") == 2 and b'"status": "ready"' in p.stdout and b'"status": "ok"' in p.stdout
    log = caracal.admin("GET", "requests").json()["requests"][len(since):]
    assert [(e["listener"], e["path"]) for e in log] == [
        ("plain-sts", "/health"), ("plain-sts", "/ready"), ("plain-sts", "/health")]


def test_pod_forward_errors(caracal, tmp_path):
    ready = tmp_path / "ready.json"
    ready.write_text(json.dumps({"plain": {"sts": caracal.ready["plain"]["sts"]}}))
    p = pod_forward(ready, "gateway", b"")
    err = p.stderr.decode()
    assert p.returncode != 0 and p.stdout == b"" and err.count("\n") == 1, err
    assert "no plain listener for role 'gateway'" in err
    p = pod_forward(tmp_path / "missing.json", "sts", b"")
    assert p.returncode != 0 and p.stderr.decode().count("\n") == 1 and "missing.json" in p.stderr.decode()
    ready.write_text(json.dumps({"port": caracal.port}))   # an emulator without plain listeners
    p = pod_forward(ready, "sts", b"")
    assert p.returncode != 0 and "no 'plain' listeners" in p.stderr.decode()
    # a port nobody listens on (bound, never listening): the connect fails
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        ready.write_text(json.dumps({"plain": {"sts": s.getsockname()[1]}}))
        p = pod_forward(ready, "sts", b"GET / HTTP/1.1\r\n\r\n")
    err = p.stderr.decode()
    assert p.returncode != 0 and err.count("\n") == 1 and "cannot connect to sts" in err, err


def test_zz_no_credentials_in_the_log(caracal_server):
    text = caracal_server.log_path.read_text()
    assert re.search(r"(GET|POST|DELETE) /\S* -> \d{3}", text)
    assert MARK not in text and "Bearer" not in text and "cs_" not in text and "eyJ" not in text
