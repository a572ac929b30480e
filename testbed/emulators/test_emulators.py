"""Tests of the test-bed emulators over real HTTP/TLS.

Run:  "$(testbed/emulators/setup.sh)/bin/python" -m pytest -q testbed/emulators
With the official Python SDKs too:  "$(testbed/emulators/setup.sh --dev)/bin/python" -m pytest ...
(the SDK tests skip themselves when the SDKs are not installed, except in CI, where they fail).
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import concurrent.futures as cf
import json
import os
import re
import ssl
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest
import requests

from conftest import AZ_CLIENT, AZ_SECRET, AZ_TENANT, AZURE_KV, HERE, launch

sys.path.insert(0, str(HERE))
import gcp_sm  # noqa: E402

# Every secret value used below contains this marker; no emulator log may contain it.
MARK = "s3cr3t-VALUE-never-logged"
ALT = {"$alt": "json;enum-encoding=int"}
PROJECT = "caracal-testbed"
PROJECT_NUMBER = gcp_sm.GcpApp.project_number(PROJECT)


# ======================================================================================
# GCP helpers
# ======================================================================================


def b64(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


class Gcp:
    def __init__(self, emu, token: str | None = None, project: str = PROJECT, location: str | None = None):
        self.emu = emu
        self.base = f"{emu.url}/v1/projects/{project}" + (f"/locations/{location}" if location else "")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def req(self, method: str, path: str, params=None, json_body=None, alt=True, headers=None):
        p = dict(ALT) if alt else {}
        p.update(params or {})
        h = dict(self.headers)
        h.update(headers or {})
        return requests.request(method, f"{self.base}{path}", params=p, json=json_body, headers=h,
                                timeout=10)

    def create(self, sid: str, labels=None, replication=None, **extra):
        body = {"replication": replication if replication is not None else {"automatic": {}}}
        if labels:
            body["labels"] = labels
        body.update(extra)
        return self.req("POST", "/secrets", {"secretId": sid}, body)

    def add(self, sid: str, data: bytes | str, crc: bool = True, **kw):
        raw = data.encode() if isinstance(data, str) else data
        payload = {"data": b64(raw)}
        if crc:
            payload["dataCrc32c"] = str(gcp_sm.crc32c(raw))
        return self.req("POST", f"/secrets/{sid}:addVersion", json_body={"payload": payload}, **kw)

    def access(self, sid: str, version: str = "latest"):
        return self.req("GET", f"/secrets/{sid}/versions/{version}:access")


def gerr(resp, code: int, status: str) -> dict:
    assert resp.status_code == code, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    err = body["error"]
    assert err["code"] == code and err["status"] == status, err
    assert isinstance(err["message"], str) and err["message"]
    return err


def make_jwt(key_file: dict, claims: dict, private_key=None, kid: str | None = None) -> str:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    if private_key is None:
        private_key = serialization.load_pem_private_key(key_file["private_key"].encode(), None)
    header = {"alg": "RS256", "typ": "JWT", "kid": kid or key_file["private_key_id"]}
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
    signing_input = f"{enc(header)}.{enc(claims)}"
    sig = private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()


def key_file_of(emu) -> dict:
    return json.loads(Path(emu.ready["key_file"]).read_text())


def self_signed(emu, **over) -> str:
    kf = key_file_of(emu)
    now = int(time.time())
    claims = {"iss": kf["client_email"], "sub": kf["client_email"],
              "scope": "https://www.googleapis.com/auth/cloud-platform", "iat": now - 10,
              "exp": now + 3600 - 10}
    claims.update(over)
    return make_jwt(kf, claims)


# ======================================================================================
# GCP: secrets
# ======================================================================================


def test_gcp_create_get_list_delete(gcp):
    c = Gcp(gcp)
    r = c.create("caracal-postgres", labels={"app": "caracal"})
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["name"] == f"projects/{PROJECT_NUMBER}/secrets/caracal-postgres"
    assert s["replication"] == {"automatic": {}}
    assert s["labels"] == {"app": "caracal"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", s["createTime"])
    assert re.fullmatch(r'"[0-9a-f]+"', s["etag"])

    # by project id and by project number alike
    assert c.req("GET", "/secrets/caracal-postgres").json() == s
    by_number = Gcp(gcp, project=PROJECT_NUMBER)
    assert by_number.req("GET", "/secrets/caracal-postgres").json() == s

    lst = c.req("GET", "/secrets").json()
    assert lst == {"secrets": [s], "totalSize": 1}

    r = c.req("DELETE", "/secrets/caracal-postgres")
    assert r.status_code == 200 and r.json() == {}
    gerr(c.req("GET", "/secrets/caracal-postgres"), 404, "NOT_FOUND")
    assert c.req("GET", "/secrets").json() == {}
    # the id is free again at once
    assert c.create("caracal-postgres").status_code == 200


def test_gcp_not_found_and_already_exists_messages(gcp):
    c = Gcp(gcp)
    err = gerr(c.req("GET", "/secrets/nope"), 404, "NOT_FOUND")
    assert err["message"] == f"Secret [projects/{PROJECT_NUMBER}/secrets/nope] not found."
    assert c.create("dup").status_code == 200
    err = gerr(c.create("dup"), 409, "ALREADY_EXISTS")
    assert err["message"] == f"Secret [projects/{PROJECT_NUMBER}/secrets/dup] already exists."
    gerr(c.req("DELETE", "/secrets/nope"), 404, "NOT_FOUND")
    gerr(c.add("nope", MARK), 404, "NOT_FOUND")
    err = gerr(c.access("nope"), 404, "NOT_FOUND")
    assert err["message"] == f"Secret [projects/{PROJECT_NUMBER}/secrets/nope] not found or has no versions."


@pytest.mark.parametrize("sid", ["caracal/postgres", "a.b", "a b", "x" * 256, "ü"])
def test_gcp_invalid_secret_ids(gcp, sid):
    gerr(Gcp(gcp).create(sid), 400, "INVALID_ARGUMENT")


def test_gcp_valid_secret_ids(gcp):
    c = Gcp(gcp)
    for sid in ["A_b-1", "x" * 255, "caracal-secret-store-kek"]:
        assert c.create(sid).status_code == 200
    gerr(c.req("POST", "/secrets", {}, {"replication": {"automatic": {}}}), 400, "INVALID_ARGUMENT")


def test_gcp_slash_in_path_is_not_a_secret(gcp):
    c = Gcp(gcp)
    assert c.create("caracal").status_code == 200
    r = requests.get(f"{c.base}/secrets/caracal%2Fpostgres", params=ALT, timeout=10)
    assert r.status_code == 404


def test_gcp_replication_rules(gcp):
    c = Gcp(gcp)
    gerr(c.req("POST", "/secrets", {"secretId": "norep"}, {}), 400, "INVALID_ARGUMENT")
    gerr(c.create("both", replication={"automatic": {}, "userManaged": {"replicas": [{"location": "us-east1"}]}}),
         400, "INVALID_ARGUMENT")
    r = c.create("um", replication={"userManaged": {"replicas": [{"location": "us-east1"}, {"location": "europe-west1"}]}})
    assert r.status_code == 200, r.text
    v = c.add("um", MARK).json()
    assert v["replicationStatus"] == {"userManaged": {"replicas": [{"location": "us-east1"}, {"location": "europe-west1"}]}}


def test_gcp_regional_secrets(gcp):
    reg = Gcp(gcp, location="us-central1")
    gerr(reg.create("regional"), 400, "INVALID_ARGUMENT")  # replication not allowed
    r = reg.req("POST", "/secrets", {"secretId": "regional"}, {"labels": {"a": "b"}})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == f"projects/{PROJECT_NUMBER}/locations/us-central1/secrets/regional"
    assert "replication" not in r.json()
    v = reg.add("regional", MARK + "-regional")
    assert v.status_code == 200
    assert v.json()["name"].endswith("/locations/us-central1/secrets/regional/versions/1")
    assert base64.b64decode(reg.access("regional").json()["payload"]["data"]).decode() == MARK + "-regional"
    # separate namespace from global secrets
    gerr(Gcp(gcp).req("GET", "/secrets/regional"), 404, "NOT_FOUND")
    assert Gcp(gcp).req("GET", "/secrets").json() == {}
    assert len(reg.req("GET", "/secrets").json()["secrets"]) == 1


def test_gcp_unknown_fields_and_bad_json(gcp):
    c = Gcp(gcp)
    gerr(c.create("x", bogus=1), 400, "INVALID_ARGUMENT")
    r = requests.post(f"{c.base}/secrets", params={**ALT, "secretId": "y"}, data="{not json",
                      headers={"Content-Type": "application/json"}, timeout=10)
    gerr(r, 400, "INVALID_ARGUMENT")
    # snake_case field names are accepted, as by the real JSON transcoder
    r = c.req("POST", "/secrets", {"secretId": "snake"}, {"replication": {"automatic": {}},
                                                         "version_destroy_ttl": "86400s"})
    assert r.status_code == 200 and r.json()["versionDestroyTtl"] == "86400s"


def test_gcp_labels_validation(gcp):
    c = Gcp(gcp)
    gerr(c.create("l1", labels={"Upper": "x"}), 400, "INVALID_ARGUMENT")
    gerr(c.create("l2", labels={"ok": "Upper"}), 400, "INVALID_ARGUMENT")
    gerr(c.create("l3", labels={"k" * 64: "x"}), 400, "INVALID_ARGUMENT")
    gerr(c.create("l4", labels={f"k{i}": "v" for i in range(65)}), 400, "INVALID_ARGUMENT")
    assert c.create("l5", labels={"managed-by": "caracal-deploy", "chart_version": "1-0-0"}).status_code == 200


# ======================================================================================
# GCP: versions
# ======================================================================================


def test_gcp_add_and_access_versions(gcp):
    c = Gcp(gcp)
    c.create("kek")
    r = c.add("kek", MARK + "-1")
    assert r.status_code == 200, r.text
    v1 = r.json()
    assert v1["name"] == f"projects/{PROJECT_NUMBER}/secrets/kek/versions/1"
    assert v1["state"] == 1  # enum-encoding=int
    assert v1["clientSpecifiedPayloadChecksum"] is True
    assert v1["replicationStatus"] == {"automatic": {}}
    assert "createTime" in v1 and "etag" in v1
    v2 = c.add("kek", MARK + "-2", crc=False).json()
    assert v2["name"].endswith("/versions/2") and "clientSpecifiedPayloadChecksum" not in v2

    acc = c.access("kek").json()
    assert acc["name"] == f"projects/{PROJECT_NUMBER}/secrets/kek/versions/2"
    assert set(acc) == {"name", "payload"}
    assert base64.b64decode(acc["payload"]["data"]).decode() == MARK + "-2"
    assert acc["payload"]["dataCrc32c"] == str(gcp_sm.crc32c((MARK + "-2").encode()))
    assert isinstance(acc["payload"]["dataCrc32c"], str)
    assert base64.b64decode(c.access("kek", "1").json()["payload"]["data"]).decode() == MARK + "-1"

    err = gerr(c.access("kek", "3"), 404, "NOT_FOUND")
    assert err["message"] == f"Secret Version [projects/{PROJECT_NUMBER}/secrets/kek/versions/3] not found."
    g = c.req("GET", "/secrets/kek/versions/latest").json()
    assert g["name"].endswith("/versions/2") and "payload" not in g


def test_gcp_enum_encoding(gcp):
    c = Gcp(gcp)
    c.create("enum")
    assert c.add("enum", MARK, alt=False).json()["state"] == "ENABLED"
    assert c.req("GET", "/secrets/enum/versions/1", alt=False).json()["state"] == "ENABLED"
    assert c.req("GET", "/secrets/enum/versions/1").json()["state"] == 1
    assert c.req("POST", "/secrets/enum/versions/1:disable", json_body={}).json()["state"] == 2
    assert c.req("POST", "/secrets/enum/versions/1:destroy", json_body={}, alt=False).json()["state"] == "DESTROYED"


def test_gcp_crc32c(gcp):
    c = Gcp(gcp)
    c.create("crc")
    assert gcp_sm.crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    data = (MARK + "-crc").encode()
    bad = str((gcp_sm.crc32c(data) + 1) % 2**32)
    r = c.req("POST", "/secrets/crc:addVersion", json_body={"payload": {"data": b64(data), "dataCrc32c": bad}})
    err = gerr(r, 400, "INVALID_ARGUMENT")
    assert "checksum" in err["message"].lower()
    # an int64 given as a JSON number is accepted too
    r = c.req("POST", "/secrets/crc:addVersion",
              json_body={"payload": {"data": b64(data), "dataCrc32c": gcp_sm.crc32c(data)}})
    assert r.status_code == 200
    # the Rust client sends the whole request, parent included
    r = c.req("POST", "/secrets/crc:addVersion",
              json_body={"parent": f"projects/{PROJECT}/secrets/crc",
                         "payload": {"data": b64(data), "dataCrc32c": str(gcp_sm.crc32c(data))}})
    assert r.status_code == 200
    assert c.req("GET", "/secrets/crc/versions").json()["totalSize"] == 2


def test_gcp_payload_validation(gcp):
    c = Gcp(gcp)
    c.create("p")
    gerr(c.add("p", b""), 400, "INVALID_ARGUMENT")
    gerr(c.add("p", b"x" * (64 * 1024 + 1)), 400, "INVALID_ARGUMENT")
    assert c.add("p", b"x" * (64 * 1024)).status_code == 200
    r = c.req("POST", "/secrets/p:addVersion", json_body={"payload": {"data": "!!!not base64"}})
    gerr(r, 400, "INVALID_ARGUMENT")
    r = c.req("POST", "/secrets/p:addVersion", json_body={"payload": {"data": b64("x"), "extra": 1}})
    gerr(r, 400, "INVALID_ARGUMENT")
    # binary payloads round-trip
    blob = bytes(range(256))
    assert c.add("p", blob).status_code == 200
    assert base64.b64decode(c.access("p").json()["payload"]["data"]) == blob


def test_gcp_version_states(gcp):
    c = Gcp(gcp)
    c.create("st")
    c.add("st", MARK + "-a")
    c.add("st", MARK + "-b")
    r = c.req("POST", "/secrets/st/versions/2:disable", json_body={"name": f"projects/{PROJECT}/secrets/st/versions/2"})
    assert r.status_code == 200 and r.json()["state"] == 2
    err = gerr(c.access("st"), 400, "FAILED_PRECONDITION")
    assert err["message"] == f"Secret Version [projects/{PROJECT_NUMBER}/secrets/st/versions/2] is in DISABLED state."
    assert c.access("st", "1").status_code == 200
    assert c.req("POST", "/secrets/st/versions/2:enable", json_body={}).json()["state"] == 1
    assert c.access("st").status_code == 200

    # etags guard state changes
    etag = c.req("GET", "/secrets/st/versions/1").json()["etag"]
    gerr(c.req("POST", "/secrets/st/versions/1:disable", json_body={"etag": '"stale"'}), 409, "ABORTED")
    assert c.req("POST", "/secrets/st/versions/1:disable", json_body={"etag": etag}).status_code == 200

    d = c.req("POST", "/secrets/st/versions/1:destroy", json_body={})
    assert d.status_code == 200
    dv = d.json()
    assert dv["state"] == 3 and "destroyTime" in dv
    err = gerr(c.access("st", "1"), 400, "FAILED_PRECONDITION")
    assert err["message"].endswith("is in DESTROYED state.")
    gerr(c.req("POST", "/secrets/st/versions/1:enable", json_body={}), 400, "FAILED_PRECONDITION")
    gerr(c.req("POST", "/secrets/st/versions/1:destroy", json_body={}), 400, "FAILED_PRECONDITION")
    gerr(c.req("POST", "/secrets/st/versions/9:disable", json_body={}), 404, "NOT_FOUND")
    # a new version after a destroyed one gets the next number
    assert c.add("st", MARK + "-c").json()["name"].endswith("/versions/3")


def test_gcp_list_versions(gcp):
    c = Gcp(gcp)
    c.create("lv")
    for i in range(5):
        c.add("lv", f"{MARK}-{i}")
    c.req("POST", "/secrets/lv/versions/2:disable", json_body={})
    c.req("POST", "/secrets/lv/versions/4:destroy", json_body={})
    r = c.req("GET", "/secrets/lv/versions").json()
    assert [v["name"].rsplit("/", 1)[1] for v in r["versions"]] == ["5", "4", "3", "2", "1"]
    assert r["totalSize"] == 5
    assert all("payload" not in v for v in r["versions"])
    assert [v["state"] for v in r["versions"]] == [1, 3, 1, 2, 1]
    enabled = c.req("GET", "/secrets/lv/versions", {"filter": "state:ENABLED"}).json()
    assert [v["name"][-1] for v in enabled["versions"]] == ["5", "3", "1"]
    assert "totalSize" not in enabled
    p1 = c.req("GET", "/secrets/lv/versions", {"pageSize": 2}).json()
    assert len(p1["versions"]) == 2 and p1["nextPageToken"]
    p2 = c.req("GET", "/secrets/lv/versions", {"pageSize": 2, "pageToken": p1["nextPageToken"]}).json()
    p3 = c.req("GET", "/secrets/lv/versions", {"pageSize": 2, "pageToken": p2["nextPageToken"]}).json()
    assert len(p3["versions"]) == 1 and "nextPageToken" not in p3
    gerr(c.req("GET", "/secrets/nope/versions"), 404, "NOT_FOUND")


def test_gcp_version_aliases_and_update(gcp):
    c = Gcp(gcp)
    c.create("al", labels={"a": "1"})
    c.add("al", MARK + "-1")
    c.add("al", MARK + "-2")
    old_etag = c.req("GET", "/secrets/al").json()["etag"]
    gerr(c.req("PATCH", "/secrets/al", json_body={"labels": {"a": "2"}}), 400, "INVALID_ARGUMENT")
    r = c.req("PATCH", "/secrets/al", {"updateMask": "labels,versionAliases"},
              {"labels": {"a": "2", "b": "3"}, "versionAliases": {"current": "1"}})
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["labels"] == {"a": "2", "b": "3"} and s["versionAliases"] == {"current": "1"}
    assert s["etag"] != old_etag
    assert base64.b64decode(c.access("al", "current").json()["payload"]["data"]).decode() == MARK + "-1"
    gerr(c.req("PATCH", "/secrets/al", {"updateMask": "replication"}, {"replication": {"automatic": {}}}),
         400, "INVALID_ARGUMENT")
    gerr(c.req("PATCH", "/secrets/al", {"updateMask": "labels"}, {"labels": {}, "etag": '"stale"'}),
         409, "ABORTED")
    # clearing labels through the mask
    s = c.req("PATCH", "/secrets/al", {"updateMask": "labels"}, {}).json()
    assert "labels" not in s


def test_gcp_delete_with_etag(gcp):
    c = Gcp(gcp)
    etag = c.create("et").json()["etag"]
    gerr(c.req("DELETE", "/secrets/et", {"etag": '"wrong"'}), 409, "ABORTED")
    assert c.req("DELETE", "/secrets/et", {"etag": etag}).status_code == 200


def test_gcp_ttl_expiry(gcp):
    c = Gcp(gcp)
    r = c.create("ttl", ttl="1s")
    assert r.status_code == 200 and "expireTime" in r.json()
    time.sleep(1.2)
    gerr(c.req("GET", "/secrets/ttl"), 404, "NOT_FOUND")
    gerr(c.create("bad-ttl", ttl="1h"), 400, "INVALID_ARGUMENT")


# ======================================================================================
# GCP: listing, pagination and filters
# ======================================================================================


def test_gcp_list_pagination(gcp):
    c = Gcp(gcp)
    for i in range(7):
        c.create(f"page-{i}")
    seen = []
    token = None
    pages = 0
    while True:
        params = {"pageSize": 3}
        if token:
            params["pageToken"] = token
        r = c.req("GET", "/secrets", params).json()
        assert r["totalSize"] == 7
        seen += [s["name"].rsplit("/", 1)[1] for s in r["secrets"]]
        pages += 1
        token = r.get("nextPageToken")
        if not token:
            break
    assert pages == 3 and seen == sorted(f"page-{i}" for i in range(7))
    gerr(c.req("GET", "/secrets", {"pageToken": "garbage"}), 400, "INVALID_ARGUMENT")
    gerr(c.req("GET", "/secrets", {"pageSize": -1}), 400, "INVALID_ARGUMENT")
    gerr(c.req("GET", "/secrets", {"pageSize": 25001}), 400, "INVALID_ARGUMENT")
    # a token is bound to its filter
    t = c.req("GET", "/secrets", {"pageSize": 1}).json()["nextPageToken"]
    gerr(c.req("GET", "/secrets", {"pageSize": 1, "pageToken": t, "filter": "name:page"}), 400,
         "INVALID_ARGUMENT")


@pytest.mark.parametrize("flt,expected", [
    ("labels.env=prod", ["api-prod", "db-prod"]),
    ("labels.env:prod", ["api-prod", "db-prod"]),
    ("labels.env:*", ["api-prod", "db-prod", "db-staging"]),
    ("NOT labels.env:*", ["plain"]),
    ("-labels.env:*", ["plain"]),
    ("name:db", ["db-prod", "db-staging"]),
    ("name:db AND labels.env=prod", ["db-prod"]),
    ("name:db labels.env=prod", ["db-prod"]),
    ("labels.env=staging OR name:plain", ["db-staging", "plain"]),
    ("labels.team=core", ["api-prod"]),
    ("labels:team", ["api-prod"]),
    ('labels.env="prod"', ["api-prod", "db-prod"]),
    ("create_time>2000-01-01T00:00:00Z", ["api-prod", "db-prod", "db-staging", "plain"]),
    ("create_time<2000-01-01T00:00:00Z", []),
])
def test_gcp_list_filters(gcp, flt, expected):
    c = Gcp(gcp)
    c.create("db-prod", labels={"env": "prod"})
    c.create("db-staging", labels={"env": "staging"})
    c.create("api-prod", labels={"env": "prod", "team": "core"})
    c.create("plain")
    r = c.req("GET", "/secrets", {"filter": flt})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [s["name"].rsplit("/", 1)[1] for s in body.get("secrets", [])] == expected
    assert "totalSize" not in body  # 0 when a filter is set, as documented


def test_gcp_bad_filter(gcp):
    gerr(Gcp(gcp).req("GET", "/secrets", {"filter": "labels.env=prod AND"}), 400, "INVALID_ARGUMENT")


def test_gcp_unknown_route(gcp):
    r = requests.get(f"{gcp.url}/v1/projects/{PROJECT}/whatever", timeout=10)
    gerr(r, 404, "NOT_FOUND")
    r = requests.put(f"{gcp.url}/v1/projects/{PROJECT}/secrets/x", timeout=10)
    gerr(r, 404, "NOT_FOUND")


def test_gcp_concurrent_add_version(gcp):
    c = Gcp(gcp)
    c.create("conc")
    with cf.ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lambda i: c.add("conc", f"{MARK}-{i}").json()["name"], range(20)))
    assert sorted(int(n.rsplit("/", 1)[1]) for n in results) == list(range(1, 21))


# ======================================================================================
# GCP: auth
# ======================================================================================


def test_gcp_key_file_shape(gcp_auth):
    kf = key_file_of(gcp_auth)
    assert kf["type"] == "service_account"
    assert kf["client_email"] == "caracal-seeder@caracal-testbed.iam.gserviceaccount.com"
    assert kf["project_id"] == PROJECT
    assert kf["token_uri"] == f"{gcp_auth.url}/token"
    assert kf["private_key"].startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8, as the Rust client needs
    assert re.fullmatch(r"[0-9a-f]{40}", kf["private_key_id"])
    assert oct(os.stat(gcp_auth.ready["key_file"]).st_mode & 0o777) == "0o600"


def test_gcp_requires_auth(gcp_auth):
    c = Gcp(gcp_auth)
    r = c.req("GET", "/secrets")
    err = gerr(r, 401, "UNAUTHENTICATED")
    assert "missing required authentication credential" in err["message"]
    assert r.headers["WWW-Authenticate"].startswith("Bearer realm=")
    err = gerr(Gcp(gcp_auth, token="garbage").req("GET", "/secrets"), 401, "UNAUTHENTICATED")
    assert "invalid authentication credentials" in err["message"]


def test_gcp_self_signed_jwt(gcp_auth):
    # what google-cloud-auth (Rust) sends for a service-account key: a JWT with the
    # cloud-platform scope, signed with the key, no token exchange
    c = Gcp(gcp_auth, token=self_signed(gcp_auth))
    assert c.create("jwt").status_code == 200
    assert c.add("jwt", MARK).status_code == 200
    # the audience form (google-auth for Python with always_use_jwt_access)
    aud = self_signed(gcp_auth, scope=None, aud="https://secretmanager.googleapis.com/")
    assert Gcp(gcp_auth, token=aud).req("GET", "/secrets/jwt").status_code == 200


def test_gcp_bad_jwts_rejected(gcp_auth):
    from cryptography.hazmat.primitives.asymmetric import rsa

    kf = key_file_of(gcp_auth)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    claims = {"iss": kf["client_email"], "scope": "https://www.googleapis.com/auth/cloud-platform",
              "iat": now, "exp": now + 600}
    cases = {
        "foreign key": make_jwt(kf, claims, private_key=other),
        "expired": self_signed(gcp_auth, iat=now - 7200, exp=now - 3600),
        "too long": self_signed(gcp_auth, iat=now, exp=now + 7200),
        "unknown issuer": make_jwt(kf, {**claims, "iss": "someone@else.iam.gserviceaccount.com"}),
        "no scope or audience": self_signed(gcp_auth, scope=None),
        "tampered": self_signed(gcp_auth)[:-4] + "AAAA",
    }
    for what, token in cases.items():
        r = Gcp(gcp_auth, token=token).req("GET", "/secrets")
        assert r.status_code == 401, what


def test_gcp_token_endpoint(gcp_auth):
    kf = key_file_of(gcp_auth)
    now = int(time.time())
    assertion = make_jwt(kf, {"iss": kf["client_email"], "aud": kf["token_uri"], "iat": now,
                              "exp": now + 3600, "scope": "https://www.googleapis.com/auth/cloud-platform"})
    r = requests.post(kf["token_uri"], data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                             "assertion": assertion}, timeout=10)
    assert r.status_code == 200, r.text
    tok = r.json()
    assert set(tok) == {"access_token", "expires_in", "token_type"}
    assert tok["token_type"] == "Bearer" and 3000 < tok["expires_in"] <= 3600
    c = Gcp(gcp_auth, token=tok["access_token"])
    assert c.req("GET", "/secrets").status_code == 200
    # errors, in Google's OAuth format
    r = requests.post(kf["token_uri"], data={"grant_type": "client_credentials"}, timeout=10)
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
    r = requests.post(kf["token_uri"], data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                             "assertion": assertion[:-4] + "AAAA"}, timeout=10)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    bad_aud = make_jwt(kf, {"iss": kf["client_email"], "aud": "https://example.com/token", "iat": now,
                            "exp": now + 3600, "scope": "x"})
    r = requests.post(kf["token_uri"], data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                             "assertion": bad_aud}, timeout=10)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_gcp_anonymous_server_still_checks_tokens(gcp):
    assert Gcp(gcp).req("GET", "/secrets").status_code == 200
    gerr(Gcp(gcp, token="not-a-token").req("GET", "/secrets"), 401, "UNAUTHENTICATED")


def test_gcp_strict_projects(tmp_path):
    emu = launch("gcp_sm.py", tmp_path / "strict", "--allow-anonymous", "--strict-projects",
                 "--project", PROJECT, "--names-with-project-id")
    try:
        ok = Gcp(emu).create("s")
        assert ok.status_code == 200
        assert ok.json()["name"] == f"projects/{PROJECT}/secrets/s"
        err = gerr(Gcp(emu, project="other-project").create("s"), 403, "PERMISSION_DENIED")
        assert err["message"] == ("Permission 'secretmanager.secrets.create' denied for resource "
                                  "'projects/other-project' (or it may not exist).")
        assert err["details"][0]["reason"] == "IAM_PERMISSION_DENIED"
    finally:
        emu.stop()


# ======================================================================================
# GCP: faults, stats, admin
# ======================================================================================


def test_gcp_throttle_retry_info(gcp):
    c = Gcp(gcp)
    c.create("tri")
    gcp.faults({"throttle": {"count": 1, "retry_after": 1.5, "hint": "retry_info"}})
    r = c.req("GET", "/secrets/tri")
    err = gerr(r, 429, "RESOURCE_EXHAUSTED")
    assert "Retry-After" not in r.headers
    info = [d for d in err["details"] if d["@type"].endswith("google.rpc.RetryInfo")]
    assert info == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1.500s"}]
    assert c.req("GET", "/secrets/tri").status_code == 200


def test_gcp_throttle(gcp):
    c = Gcp(gcp)
    c.create("t")
    gcp.faults({"throttle": {"count": 2, "retry_after": 3}})
    for _ in range(2):
        r = c.req("GET", "/secrets/t")
        err = gerr(r, 429, "RESOURCE_EXHAUSTED")
        assert r.headers["Retry-After"] == "3"
        assert err["details"][0]["reason"] == "RATE_LIMIT_EXCEEDED"
    assert c.req("GET", "/secrets/t").status_code == 200
    assert gcp.admin("GET", "faults").json()["injected"]["throttle"] == 2


def test_gcp_deny_by_op(gcp):
    c = Gcp(gcp)
    c.create("d")
    gcp.faults({"deny": {"ops": ["create", "add_version"], "count": None}})
    for _ in range(3):
        err = gerr(c.create("d2"), 403, "PERMISSION_DENIED")
        assert "secretmanager.secrets.create" in err["message"]
    err = gerr(c.add("d", MARK), 403, "PERMISSION_DENIED")
    assert "secretmanager.versions.add" in err["message"]
    assert c.req("GET", "/secrets/d").status_code == 200
    assert c.req("GET", "/secrets").status_code == 200
    gcp.admin("DELETE", "faults")
    assert c.create("d2").status_code == 200


def test_gcp_errors_5xx(gcp):
    c = Gcp(gcp)
    gcp.faults({"errors_5xx": {"count": 1}})
    gerr(c.req("GET", "/secrets"), 503, "UNAVAILABLE")
    assert c.req("GET", "/secrets").status_code == 200
    gcp.faults({"errors_5xx": {"count": 1, "status": 500, "ops": ["access"]}})
    assert c.req("GET", "/secrets").status_code == 200
    c.create("e")
    c.add("e", MARK)
    gerr(c.access("e"), 500, "INTERNAL")
    assert c.access("e").status_code == 200


def test_gcp_latency_is_concurrent(gcp):
    c = Gcp(gcp)
    gcp.faults({"latency_ms": 400})
    start = time.monotonic()
    with cf.ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: c.req("GET", "/secrets").status_code, range(8)))
    elapsed = time.monotonic() - start
    assert codes == [200] * 8
    assert 0.4 <= elapsed < 2.0, elapsed  # 8 x 400 ms serialized would be 3.2 s
    t = time.monotonic()
    assert gcp.admin("GET", "healthz").status_code == 200
    assert time.monotonic() - t < 0.3  # admin endpoints are not delayed


def test_gcp_stats_prove_no_writes(gcp):
    c = Gcp(gcp)
    c.create("st1")
    c.add("st1", MARK)
    before = gcp.stats()
    assert before["counts"]["create"] == 1 and before["counts"]["add_version"] == 1
    assert before["writes"] == 2
    # a "second run" that only reads
    c.req("GET", "/secrets/st1")
    c.access("st1")
    c.create("st1")  # 409: counted, but not a write
    after = gcp.stats()
    assert after["writes"] == 2
    assert after["counts"]["get"] == 1 and after["counts"]["access"] == 1
    assert after["counts"]["create"] == 2 and after["ok"]["create"] == 1
    assert after["statuses"]["create"] == {"200": 1, "409": 1}
    reqs = gcp.admin("GET", "requests").json()["requests"]
    assert [r["op"] for r in reqs] == ["create", "add_version", "get", "access", "create"]
    assert all("?" not in r["path"] for r in reqs)


def test_gcp_admin_validation_and_reset(gcp):
    assert gcp.admin("POST", "faults", json={"bogus": 1}).status_code == 400
    assert gcp.admin("POST", "faults", json={"deny": {"count": -1}}).status_code == 400
    assert gcp.admin("POST", "faults", json={"errors_5xx": {"status": 404}}).status_code == 400
    Gcp(gcp).create("r")
    gcp.faults({"deny": {"ops": ["get"]}})
    gcp.reset()
    assert gcp.admin("GET", "faults").json()["deny"] is None
    assert Gcp(gcp).req("GET", "/secrets").json() == {}
    assert gcp.stats()["total"] == 1
    h = gcp.admin("GET", "healthz").json()
    assert h["status"] == "ok" and h["emulator"] == "gcp-sm"


# ======================================================================================
# Azure helpers
# ======================================================================================

API = {"api-version": "2025-07-01"}


def az_token(emu, scope="https://vault.azure.net/.default", secret=AZ_SECRET, client=AZ_CLIENT,
             tenant=AZ_TENANT) -> requests.Response:
    return requests.post(f"{emu.url}/{tenant}/oauth2/v2.0/token",
                         data={"client_id": client, "client_secret": secret,
                               "grant_type": "client_credentials", "scope": scope},
                         verify=emu.verify, timeout=10)


class Kv:
    def __init__(self, emu, token: str | None = "auto", api: dict | None = API):
        self.emu = emu
        if token == "auto":
            token = az_token(emu).json()["access_token"]
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.api = api

    def req(self, method, path, params=None, body=None, url=None):
        p = dict(self.api or {})
        p.update(params or {})
        return requests.request(method, url or f"{self.emu.url}{path}", params=p, json=body,
                                headers=self.headers, verify=self.emu.verify, timeout=10)

    def set(self, name, value, **extra):
        return self.req("PUT", f"/secrets/{name}", body={"value": value, **extra})


def kverr(resp, status: int, code: str, inner: str | None = None) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    err = body["error"]
    assert err["code"] == code, err
    assert isinstance(err["message"], str) and err["message"]
    if inner:
        assert err["innererror"] == {"code": inner}
    return err


def parse_scope_like_rust(challenge: str) -> str:
    """Mirror of the Key Vault authorizer in azure_security_keyvault_secrets 1.0."""
    for m in re.finditer(r'="', challenge):
        i = m.start()
        sub = challenge[max(0, i - 8):i]
        if sub.endswith("scope") or sub == "resource":
            value = challenge[i + 2:challenge.index('"', i + 2)]
            return value if sub.endswith("scope") else f"{value}/.default"
    raise AssertionError(f"no scope in {challenge}")


# ======================================================================================
# Azure: TLS, challenge, token endpoint
# ======================================================================================


def test_azure_tls_certificate(azure):
    for host in ("127.0.0.1", "localhost"):
        r = requests.get(f"https://{host}:{azure.port}/_emulator/healthz", verify=azure.verify, timeout=10)
        assert r.status_code == 200
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{azure.url}/_emulator/healthz", verify=True, timeout=10)
    ctx = ssl.create_default_context(cafile=azure.verify)
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    import urllib.request
    assert urllib.request.urlopen(f"{azure.url}/_emulator/healthz", context=ctx, timeout=10).status == 200


def test_azure_certs_are_reused(azure):
    before = Path(azure.verify).read_bytes()
    import emulator_tls
    emulator_tls.ensure_certs(str(azure.state_dir))
    assert Path(azure.verify).read_bytes() == before


def test_azure_challenge(azure):
    r = requests.put(f"{azure.url}/secrets/x", params=API, verify=azure.verify, timeout=10)
    err = kverr(r, 401, "Unauthorized")
    assert err["message"] == "AKV10000: Request is missing a Bearer or PoP token."
    www = r.headers["WWW-Authenticate"]
    assert www == (f'Bearer authorization="https://127.0.0.1:{azure.port}/{AZ_TENANT}", '
                   f'resource="https://vault.azure.net"')
    assert parse_scope_like_rust(www) == "https://vault.azure.net/.default"
    # every vault endpoint challenges, even with a body-less PUT (what the Rust client sends first)
    for method, path in [("GET", "/secrets"), ("GET", "/secrets/x/"), ("DELETE", "/secrets/x"),
                         ("GET", "/deletedsecrets"), ("POST", "/deletedsecrets/x/recover")]:
        r = requests.request(method, f"{azure.url}{path}", params=API, verify=azure.verify, timeout=10)
        assert r.status_code == 401 and "WWW-Authenticate" in r.headers


def test_azure_token_endpoint(azure):
    r = az_token(azure)
    assert r.status_code == 200, r.text
    tok = r.json()
    assert set(tok) == {"token_type", "expires_in", "ext_expires_in", "access_token"}
    assert tok["token_type"] == "Bearer" and tok["expires_in"] == 3600 and tok["ext_expires_in"] == 3600
    claims = json.loads(base64.urlsafe_b64decode(tok["access_token"].split(".")[1] + "=="))
    assert claims["aud"] == "https://vault.azure.net" and claims["tid"] == AZ_TENANT
    assert claims["appid"] == AZ_CLIENT

    r = az_token(azure, secret="wrong")
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    assert "AADSTS7000215" in r.json()["error_description"]
    r = az_token(azure, client="11111111-1111-1111-1111-111111111111")
    assert r.status_code == 400 and r.json()["error"] == "unauthorized_client"
    r = az_token(azure, tenant="22222222-2222-2222-2222-222222222222")
    assert r.status_code == 400 and "AADSTS90002" in r.json()["error_description"]
    r = az_token(azure, scope="https://vault.azure.net")
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"
    r = requests.post(f"{azure.url}/{AZ_TENANT}/oauth2/v2.0/token", data={"grant_type": "password"},
                      verify=azure.verify, timeout=10)
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
    # client_secret_basic
    r = requests.post(f"{azure.url}/{AZ_TENANT}/oauth2/v2.0/token", auth=(AZ_CLIENT, AZ_SECRET),
                      data={"grant_type": "client_credentials", "scope": "https://vault.azure.net/.default"},
                      verify=azure.verify, timeout=10)
    assert r.status_code == 200


def test_azure_client_assertion_grant(azure):
    now = int(time.time())
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
    assertion = f"{enc({'alg': 'RS256'})}.{enc({'sub': 'system:serviceaccount:eso:eso', 'exp': now + 600})}.sig"
    r = requests.post(f"{azure.url}/{AZ_TENANT}/oauth2/v2.0/token", data={
        "client_id": AZ_CLIENT, "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion, "scope": "https://vault.azure.net/.default"},
        verify=azure.verify, timeout=10)
    assert r.status_code == 200, r.text


def test_azure_discovery_documents(azure):
    r = requests.get(f"{azure.url}/{AZ_TENANT}/v2.0/.well-known/openid-configuration",
                     verify=azure.verify, timeout=10)
    assert r.status_code == 200
    assert r.json()["token_endpoint"] == f"{azure.url}/{AZ_TENANT}/oauth2/v2.0/token"
    r = requests.get(f"{azure.url}/common/discovery/instance", verify=azure.verify, timeout=10)
    assert r.status_code == 200 and "tenant_discovery_endpoint" in r.json()


def test_azure_bad_tokens(azure):
    r = Kv(azure, token="garbage").req("GET", "/secrets")
    assert r.status_code == 401 and "WWW-Authenticate" in r.headers
    wrong_aud = az_token(azure, scope="https://management.azure.com/.default").json()["access_token"]
    err = kverr(Kv(azure, token=wrong_aud).req("GET", "/secrets"), 401, "Unauthorized")
    assert err["message"].startswith("AKV10022: Invalid audience")
    # an expired token signed with the server's own key
    from emulator_common import b64url, b64url_decode
    key = b64url_decode((azure.state_dir / "token.key").read_text().strip())
    now = int(time.time())
    head = b64url(json.dumps({"typ": "JWT", "alg": "HS256", "kid": "k"}).encode())
    body = b64url(json.dumps({"aud": "https://vault.azure.net", "tid": AZ_TENANT, "iat": now - 7200,
                              "nbf": now - 7200, "exp": now - 3600}).encode())
    sig = b64url(hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest())
    expired = f"{head}.{body}.{sig}"
    err = kverr(Kv(azure, token=expired).req("GET", "/secrets"), 401, "Unauthorized")
    assert "TokenExpired" in err["message"]


def test_azure_api_version_required(azure):
    kv = Kv(azure, api=None)
    err = kverr(kv.req("GET", "/secrets"), 400, "BadParameter")
    assert "api-version" in err["message"]
    kverr(kv.req("GET", "/secrets", {"api-version": "1999-01-01x"}), 400, "BadParameter")
    for v in ("7.4", "7.5", "7.6", "2025-07-01"):
        assert kv.req("GET", "/secrets", {"api-version": v}).status_code == 200


# ======================================================================================
# Azure: secrets
# ======================================================================================

ID_RE = r"https://127\.0\.0\.1:\d+/secrets/{name}/[0-9a-f]{{32}}"


def test_azure_set_and_get(azure):
    kv = Kv(azure)
    r = kv.set("caracal-postgres", MARK + "-1", contentType="application/json",
               tags={"managed-by": "caracal-deploy"}, attributes={"enabled": True})
    assert r.status_code == 200, r.text
    b = r.json()
    assert list(b) == ["value", "contentType", "id", "attributes", "tags"]
    assert b["value"] == MARK + "-1"
    assert re.fullmatch(ID_RE.format(name="caracal-postgres"), b["id"])
    a = b["attributes"]
    assert a["enabled"] is True and isinstance(a["created"], int) and a["created"] == a["updated"]
    assert a["recoveryLevel"] == "Recoverable+Purgeable" and a["recoverableDays"] == 90
    assert abs(a["created"] - time.time()) < 5
    assert b["tags"] == {"managed-by": "caracal-deploy"}

    # latest, with and without the trailing slash the Rust client sends
    assert kv.req("GET", "/secrets/caracal-postgres/").json() == b
    assert kv.req("GET", "/secrets/caracal-postgres").json() == b
    version = b["id"].rsplit("/", 1)[1]
    assert kv.req("GET", f"/secrets/caracal-postgres/{version}").json() == b

    # a second PUT makes a new version; the old one stays readable
    b2 = kv.set("caracal-postgres", MARK + "-2").json()
    assert "tags" not in b2 and "contentType" not in b2
    assert b2["id"] != b["id"]
    assert kv.req("GET", "/secrets/caracal-postgres/").json()["value"] == MARK + "-2"
    assert kv.req("GET", f"/secrets/caracal-postgres/{version}").json()["value"] == MARK + "-1"


def test_azure_not_found(azure):
    kv = Kv(azure)
    err = kverr(kv.req("GET", "/secrets/missing/"), 404, "SecretNotFound")
    assert err["message"].startswith("A secret with (name/id) missing was not found in this key vault.")
    kv.set("present", MARK)
    err = kverr(kv.req("GET", "/secrets/present/0123456789abcdef0123456789abcdef"), 404, "SecretNotFound")
    assert "(name/id) present/0123456789abcdef0123456789abcdef" in err["message"]
    kverr(kv.req("DELETE", "/secrets/missing"), 404, "SecretNotFound")
    kverr(kv.req("GET", "/secrets/missing/versions"), 404, "SecretNotFound")
    kverr(kv.req("PATCH", "/secrets/missing/", body={}), 404, "SecretNotFound")


@pytest.mark.parametrize("name", ["caracal/postgres", "under_score", "dot.ted", "x" * 128])
def test_azure_invalid_names(azure, name):
    err = kverr(Kv(azure).set(urllib.parse.quote(name, safe=""), MARK), 400, "BadParameter")
    assert "invalid name" in err["message"]


def test_azure_names_case_insensitive_and_limits(azure):
    kv = Kv(azure)
    assert kv.set("x" * 127, MARK).status_code == 200
    b = kv.set("Caracal-Redis", MARK + "-1").json()
    assert "/secrets/Caracal-Redis/" in b["id"]
    assert kv.req("GET", "/secrets/caracal-redis/").json()["value"] == MARK + "-1"
    b2 = kv.set("CARACAL-REDIS", MARK + "-2").json()
    assert "/secrets/Caracal-Redis/" in b2["id"]  # the name keeps its first spelling


def test_azure_body_validation(azure):
    kv = Kv(azure)
    kverr(kv.req("PUT", "/secrets/v", body={}), 400, "BadParameter")
    kverr(kv.req("PUT", "/secrets/v", body={"value": 5}), 400, "BadParameter")
    kverr(kv.req("PUT", "/secrets/v", body={"value": "x", "bogus": 1}), 400, "BadParameter")
    kverr(kv.req("PUT", "/secrets/v", body={"value": "x" * (25 * 1024 + 1)}), 400, "BadParameter")
    kverr(kv.req("PUT", "/secrets/v", body={"value": "x", "tags": {f"t{i}": "v" for i in range(16)}}),
          400, "BadParameter")
    kverr(kv.req("PUT", "/secrets/v", body={"value": "x", "attributes": {"enabled": "yes"}}),
          400, "BadParameter")
    r = requests.put(f"{azure.url}/secrets/v", params=API, data="{nope", headers=kv.headers,
                     verify=azure.verify, timeout=10)
    kverr(r, 400, "BadParameter")
    assert kv.set("v", "x" * (25 * 1024)).status_code == 200
    assert kv.set("empty", "").status_code == 200


def test_azure_update_and_disabled(azure):
    kv = Kv(azure)
    b = kv.set("upd", MARK, tags={"a": "1"}).json()
    version = b["id"].rsplit("/", 1)[1]
    time.sleep(1.05)
    r = kv.req("PATCH", "/secrets/upd/", body={"attributes": {"enabled": False}, "tags": {"b": "2"},
                                              "contentType": "text/plain"})
    assert r.status_code == 200, r.text
    u = r.json()
    assert "value" not in u and u["id"] == b["id"]
    assert u["attributes"]["enabled"] is False and u["tags"] == {"b": "2"} and u["contentType"] == "text/plain"
    assert u["attributes"]["updated"] > u["attributes"]["created"]
    err = kverr(kv.req("GET", "/secrets/upd/"), 403, "Forbidden", inner="SecretDisabled")
    assert err["message"] == "Operation get is not allowed on a disabled secret."
    kverr(kv.req("GET", f"/secrets/upd/{version}"), 403, "Forbidden", inner="SecretDisabled")
    # still listed, with its attributes
    items = kv.req("GET", "/secrets").json()["value"]
    assert items[0]["attributes"]["enabled"] is False
    r = kv.req("PATCH", f"/secrets/upd/{version}", body={"attributes": {"enabled": True, "exp": 4102444800}})
    assert r.json()["attributes"]["exp"] == 4102444800 and r.json()["tags"] == {"b": "2"}
    assert kv.req("GET", "/secrets/upd/").json()["value"] == MARK


def test_azure_list_paging(azure):
    kv = Kv(azure)
    for i in range(30):
        kv.set(f"page-{i:02d}", MARK)
    first = kv.req("GET", "/secrets").json()
    assert len(first["value"]) == 25
    assert all("value" not in item for item in first["value"])
    assert all(re.fullmatch(r"https://127\.0\.0\.1:\d+/secrets/page-\d\d", i["id"]) for i in first["value"])
    nxt = first["nextLink"]
    assert nxt.startswith(f"https://127.0.0.1:{azure.port}/secrets?")
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(nxt).query)
    assert q["api-version"] == ["2025-07-01"] and "$skiptoken" in q
    # follow it the way the Rust pager does: drop api-version and append the client's own
    parts = urllib.parse.urlsplit(nxt)
    pairs = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k != "api-version"]
    pairs.append(("api-version", "7.6"))
    url = urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(pairs)))
    second = requests.get(url, headers=kv.headers, verify=azure.verify, timeout=10).json()
    assert len(second["value"]) == 5 and second["nextLink"] is None
    names = [i["id"].rsplit("/", 1)[1] for i in first["value"] + second["value"]]
    assert names == [f"page-{i:02d}" for i in range(30)]

    small = kv.req("GET", "/secrets", {"maxresults": 10}).json()
    assert len(small["value"]) == 10 and "maxresults=10" in small["nextLink"]
    kverr(kv.req("GET", "/secrets", {"maxresults": 26}), 400, "BadParameter")
    kverr(kv.req("GET", "/secrets", {"maxresults": 0}), 400, "BadParameter")
    kverr(kv.req("GET", "/secrets", {"$skiptoken": "junk"}), 400, "BadParameter")


def test_azure_list_empty(azure):
    assert Kv(azure).req("GET", "/secrets").json() == {"value": [], "nextLink": None}


def test_azure_versions(azure):
    kv = Kv(azure)
    ids = [kv.set("ver", f"{MARK}-{i}").json()["id"] for i in range(3)]
    r = kv.req("GET", "/secrets/ver/versions", {"maxresults": 2}).json()
    assert len(r["value"]) == 2 and r["nextLink"]
    rest = requests.get(r["nextLink"], headers=kv.headers, verify=azure.verify, timeout=10).json()
    got = [i["id"] for i in r["value"] + rest["value"]]
    assert sorted(got) == sorted(ids)
    assert all("value" not in i for i in r["value"])


def test_azure_soft_delete_recover_purge(azure):
    kv = Kv(azure)
    b = kv.set("gone", MARK, tags={"t": "1"}).json()
    r = kv.req("DELETE", "/secrets/gone")
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["recoveryId"] == f"{azure.url}/deletedsecrets/gone"
    assert d["id"] == b["id"] and "value" not in d and d["tags"] == {"t": "1"}
    assert d["scheduledPurgeDate"] - d["deletedDate"] == 90 * 86400
    assert abs(d["deletedDate"] - time.time()) < 5

    kverr(kv.req("GET", "/secrets/gone/"), 404, "SecretNotFound")
    assert kv.req("GET", "/secrets").json()["value"] == []
    err = kverr(kv.set("gone", MARK + "-new"), 409, "Conflict")
    assert err["message"] == ("Secret gone is currently in a deleted but recoverable state, and its name "
                              "cannot be reused; in this state, the secret can only be recovered or purged.")
    kverr(kv.req("DELETE", "/secrets/gone"), 404, "SecretNotFound")

    ds = kv.req("GET", "/deletedsecrets").json()
    assert len(ds["value"]) == 1 and ds["nextLink"] is None
    item = ds["value"][0]
    assert item["id"] == f"{azure.url}/secrets/gone" and item["recoveryId"] == d["recoveryId"]
    assert kv.req("GET", "/deletedsecrets/gone").json() == d

    rec = kv.req("POST", "/deletedsecrets/gone/recover")
    assert rec.status_code == 200 and rec.json()["id"] == b["id"] and "value" not in rec.json()
    assert kv.req("GET", "/secrets/gone/").json()["value"] == MARK
    kverr(kv.req("GET", "/deletedsecrets/gone"), 404, "SecretNotFound")
    kverr(kv.req("POST", "/deletedsecrets/gone/recover"), 404, "SecretNotFound")

    kv.req("DELETE", "/secrets/gone")
    p = kv.req("DELETE", "/deletedsecrets/gone")
    assert p.status_code == 204 and p.content == b""
    kverr(kv.req("DELETE", "/deletedsecrets/gone"), 404, "SecretNotFound")
    assert kv.set("gone", MARK + "-again").status_code == 200


def test_azure_purge_protection(tmp_path):
    emu = launch(AZURE_KV, tmp_path / "pp", "--purge-protection", "--recoverable-days", "7")
    try:
        kv = Kv(emu)
        a = kv.set("pp", MARK).json()["attributes"]
        assert a["recoveryLevel"] == "Recoverable" and a["recoverableDays"] == 7
        kv.req("DELETE", "/secrets/pp")
        kverr(kv.req("DELETE", "/deletedsecrets/pp"), 403, "Forbidden")
    finally:
        emu.stop()


def test_azure_backup_restore(azure):
    kv = Kv(azure)
    kv.set("bk", MARK + "-1")
    kv.set("bk", MARK + "-2")
    blob = kv.req("POST", "/secrets/bk/backup").json()["value"]
    assert MARK not in blob and MARK not in base64.urlsafe_b64decode(blob + "==").decode("latin-1")
    kverr(kv.req("POST", "/secrets/restore", body={"value": blob}), 409, "Conflict")
    kv.req("DELETE", "/secrets/bk")
    kv.req("DELETE", "/deletedsecrets/bk")
    r = kv.req("POST", "/secrets/restore", body={"value": blob})
    assert r.status_code == 200 and "value" not in r.json()
    assert kv.req("GET", "/secrets/bk/").json()["value"] == MARK + "-2"
    assert len(kv.req("GET", "/secrets/bk/versions").json()["value"]) == 2
    kverr(kv.req("POST", "/secrets/restore", body={"value": "AAAA"}), 400, "BadParameter")


# ======================================================================================
# Azure: faults and stats
# ======================================================================================


def test_azure_throttle(azure):
    kv = Kv(azure)
    azure.faults({"throttle": {"count": 1, "retry_after": 2}})
    r = kv.set("th", MARK)
    kverr(r, 429, "Throttled")
    assert r.headers["Retry-After"] == "2"
    assert kv.set("th", MARK).status_code == 200


def test_azure_throttle_hints(azure):
    kv = Kv(azure)
    azure.faults({"throttle": {"count": 1, "retry_after": 1.5, "hint": "ms"}})
    r = kv.set("thh", MARK)
    kverr(r, 429, "Throttled")
    assert r.headers["retry-after-ms"] == "1500" and "Retry-After" not in r.headers
    azure.faults({"throttle": {"count": 1, "retry_after": 0.25, "hint": "x-ms"}})
    r = kv.set("thh", MARK)
    assert r.headers["x-ms-retry-after-ms"] == "250" and "Retry-After" not in r.headers
    azure.faults({"throttle": {"count": 1, "retry_after": 2, "hint": "http-date"}})
    before = time.time()
    r = kv.set("thh", MARK)
    kverr(r, 429, "Throttled")
    when = email.utils.parsedate_to_datetime(r.headers["Retry-After"]).timestamp()
    assert before + 2 <= when <= time.time() + 3
    assert kv.set("thh", MARK).status_code == 200
    r = azure.admin("POST", "faults", json={"throttle": {"hint": "nonsense"}})
    assert r.status_code == 400 and "throttle.hint" in r.text, r.text


def test_azure_deny_create_but_not_add_version(azure):
    kv = Kv(azure)
    kv.set("exists", MARK)
    azure.faults({"deny": {"ops": ["create"]}})
    err = kverr(kv.set("new-one", MARK), 403, "Forbidden", inner="ForbiddenByRbac")
    assert "Caller is not authorized to perform action on resource." in err["message"]
    assert "Microsoft.KeyVault/vaults/secrets/setSecret/action" in err["message"]
    assert kv.set("exists", MARK + "-2").status_code == 200  # a new version is "add_version"
    azure.faults({"deny": {"ops": ["access"], "count": 1}})
    kverr(kv.req("GET", "/secrets/exists/"), 403, "Forbidden", inner="ForbiddenByRbac")
    assert kv.req("GET", "/secrets/exists/").status_code == 200


def test_azure_faults_do_not_hit_the_challenge_or_token(azure):
    azure.faults({"errors_5xx": {"count": None}})
    # the token and discovery endpoints are only faulted when listed explicitly
    assert az_token(azure).status_code == 200
    r = requests.get(f"{azure.url}/{AZ_TENANT}/v2.0/.well-known/openid-configuration",
                     verify=azure.verify, timeout=10)
    assert r.status_code == 200
    # an unauthenticated request gets its challenge first
    r = requests.get(f"{azure.url}/secrets", params=API, verify=azure.verify, timeout=10)
    assert r.status_code == 401
    kverr(Kv(azure).req("GET", "/secrets"), 503, "ServiceUnavailable")
    azure.faults({"throttle": {"ops": ["token"], "count": 1, "retry_after": 1}})
    r = az_token(azure)
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    assert az_token(azure).status_code == 200


def test_azure_latency_and_stats(azure):
    kv = Kv(azure)
    kv.set("lat", MARK)
    azure.faults({"latency_ms": 300})
    start = time.monotonic()
    with cf.ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(lambda _: kv.req("GET", "/secrets/lat/").status_code, range(6)))
    assert codes == [200] * 6
    assert time.monotonic() - start < 1.5
    azure.faults({})
    s = azure.stats()
    assert s["counts"]["set"] == 1 and s["counts"]["get"] == 6 and s["writes"] == 1
    assert s["counts"]["token"] == 1


def test_azure_unknown_route(azure):
    r = Kv(azure).req("GET", "/keys")
    assert r.status_code == 404 and "error" in r.json()


# ======================================================================================
# start.sh / stop.sh
# ======================================================================================


def test_start_stop_scripts(tmp_path):
    state = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AZURE_", "GOOGLE_"))}
    r = subprocess.run([str(HERE / "start.sh"), str(state)], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    try:
        envfile = (state / "emulators.env").read_text()
        vals = dict(re.findall(r"^export (\w+)=(.*)$", envfile, re.M))
        for key in ["AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION",
                    "CARACAL_TESTBED_MOTO_URL", "CARACAL_TESTBED_GCP_ENDPOINT",
                    "GOOGLE_APPLICATION_CREDENTIALS", "CARACAL_TESTBED_AZURE_VAULT_URL",
                    "AZURE_AUTHORITY_HOST", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET",
                    "CARACAL_TESTBED_CA_BUNDLE", "CARACAL_TESTBED_PROXY_URL",
                    "CARACAL_TESTBED_GCP_GRPC_TARGET", "CARACAL_TESTBED_GCP_HTTPS_URL",
                    "CARACAL_TESTBED_AZURE_VAULT_HOST", "CARACAL_TESTBED_AZURE_WI_CLIENT_ID",
                    "CARACAL_TESTBED_CARACAL_API_URL"]:
            assert vals.get(key), key
        pids = {n: int((state / "pids" / f"{n}.pid").read_text())
                for n in ("moto", "gcp-sm", "azure-kv", "caracal-api", "connect-proxy")}
        for pid in pids.values():
            os.kill(pid, 0)
        assert all((state / "logs" / f"{n}.log").exists() for n in pids)

        # moto: Secrets Manager and STS (AssumeRoleWithWebIdentity, as ESO's IRSA auth uses)
        moto = vals["AWS_ENDPOINT_URL"]
        hdr = {"X-Amz-Target": "secretsmanager.CreateSecret", "Content-Type": "application/x-amz-json-1.1",
               "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/secretsmanager/aws4_request, "
                                "SignedHeaders=host, Signature=x"}
        r = requests.post(moto, data=json.dumps({"Name": "caracal/postgres", "SecretString": MARK}),
                          headers=hdr, timeout=10)
        assert r.status_code == 200, r.text
        r = requests.post(moto, data={"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15",
                                      "RoleArn": "arn:aws:iam::123456789012:role/caracal",
                                      "RoleSessionName": "eso", "WebIdentityToken": "a.b.c"}, timeout=10)
        assert r.status_code == 200 and "<AccessKeyId>" in r.text

        # GCP with the key file it wrote
        kf = json.loads(Path(vals["GOOGLE_APPLICATION_CREDENTIALS"]).read_text())
        assert kf["token_uri"] == vals["CARACAL_TESTBED_GCP_ENDPOINT"] + "/token"
        r = requests.get(vals["CARACAL_TESTBED_GCP_ENDPOINT"] + "/_emulator/healthz", timeout=10)
        assert r.json()["allow_anonymous"] is True

        # Azure with the token endpoint at the authority host and the CA bundle
        ca = vals["CARACAL_TESTBED_CA_BUNDLE"]
        tok = requests.post(f"{vals['AZURE_AUTHORITY_HOST'].rstrip('/')}/{vals['AZURE_TENANT_ID']}/oauth2/v2.0/token",
                            data={"client_id": vals["AZURE_CLIENT_ID"], "client_secret": vals["AZURE_CLIENT_SECRET"],
                                  "grant_type": "client_credentials", "scope": "https://vault.azure.net/.default"},
                            verify=ca, timeout=10).json()["access_token"]
        r = requests.put(f"{vals['CARACAL_TESTBED_AZURE_VAULT_URL']}/secrets/x", params=API, json={"value": MARK},
                         headers={"Authorization": f"Bearer {tok}"}, verify=ca, timeout=10)
        assert r.status_code == 200

        # the proxy maps the real names to these emulators and refuses the rest
        proxy = {"port": int(vals["CARACAL_TESTBED_PROXY_URL"].rsplit(":", 1)[1]),
                 "url": vals["CARACAL_TESTBED_PROXY_URL"]}
        for target, want in (("login.microsoftonline.com:443", 200),
                             (vals["CARACAL_TESTBED_AZURE_VAULT_HOST"] + ":443", 200),
                             ("secretmanager.googleapis.com:443", 200), ("example.com:443", 403),
                             ("sts.caracal.test:443", 200), ("gateway.caracal.test:443", 200),
                             ("api.caracal.test:443", 200), ("web.caracal.test:443", 403)):
            status, head, sock = connect(proxy, target)
            sock.close()
            assert status == want, (target, head)

        # Caracal's emulated APIs: over the same CA, and by name through the proxy
        r = requests.get(vals["CARACAL_TESTBED_CARACAL_API_URL"] + "/api/v1/zones", verify=ca, timeout=10)
        assert r.status_code == 401 and r.json()["error"] == "unauthorized", r.text
        r = requests.get("https://api.caracal.test/health", verify=ca, timeout=10,
                         proxies={"https": vals["CARACAL_TESTBED_PROXY_URL"]})
        assert r.status_code == 200 and r.json()["service"] == "api", r.text

        # idempotent
        r = subprocess.run([str(HERE / "start.sh"), str(state)], capture_output=True, text=True, env=env,
                           timeout=120)
        assert r.returncode == 0 and "already running" in r.stderr
        assert (state / "emulators.env").read_text() == envfile

        # a dead proxy is restarted alone, on its port (External Secrets keeps its HTTPS_PROXY)
        os.kill(pids["connect-proxy"], 15)
        deadline = time.time() + 10
        while (state / "pids" / "connect-proxy.pid").exists() and time.time() < deadline:
            try:
                os.kill(pids["connect-proxy"], 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        r = subprocess.run([str(HERE / "start.sh"), str(state)], capture_output=True, text=True, env=env,
                           timeout=120)
        assert r.returncode == 0 and "restarting the proxy" in r.stderr, r.stderr
        pids["connect-proxy"] = int((state / "pids" / "connect-proxy.pid").read_text())
        for n in ("moto", "gcp-sm", "azure-kv", "caracal-api"):
            assert int((state / "pids" / f"{n}.pid").read_text()) == pids[n]
        assert (state / "emulators.env").read_text() == envfile
        status, head, sock = connect(proxy, "login.microsoftonline.com:443")
        sock.close()
        assert status == 200, head
        assert not any(MARK in (state / "logs" / f"{n}.log").read_text() for n in ("gcp-sm", "azure-kv"))
    finally:
        r = subprocess.run([str(HERE / "stop.sh"), str(state)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
    for pid in pids.values():
        with pytest.raises(ProcessLookupError):
            deadline = time.time() + 5
            while time.time() < deadline:
                os.kill(pid, 0)
                time.sleep(0.1)
            raise AssertionError(f"pid {pid} still alive")
    assert not (state / "emulators.env").exists()
    # a second stop is harmless
    assert subprocess.run([str(HERE / "stop.sh"), str(state)], timeout=60).returncode == 0


# ======================================================================================
# Official Python SDKs (requirements-dev.txt): wire compatibility
# ======================================================================================


def sdk(module: str):
    """The SDK module; skipped on a developer's machine without it, a failure in CI (CI=true),
    where setup.sh --dev installs it and a skip would hide a missing component."""
    if os.environ.get("CI"):
        import importlib

        return importlib.import_module(module)
    return pytest.importorskip(module)


def test_sdk_google_cloud_secret_manager_rest(gcp):
    secretmanager = sdk("google.cloud.secretmanager")
    from google.api_core import exceptions as gexc
    from google.auth.credentials import AnonymousCredentials

    client = secretmanager.SecretManagerServiceClient(
        transport="rest", credentials=AnonymousCredentials(),
        client_options={"api_endpoint": gcp.url})
    parent = f"projects/{PROJECT}"
    s = client.create_secret(request={"parent": parent, "secret_id": "sdk-secret",
                                      "secret": {"replication": {"automatic": {}}, "labels": {"a": "b"}}})
    assert s.name == f"projects/{PROJECT_NUMBER}/secrets/sdk-secret" and s.labels["a"] == "b"
    data = (MARK + "-sdk").encode()
    v = client.add_secret_version(request={"parent": s.name, "payload": {
        "data": data, "data_crc32c": gcp_sm.crc32c(data)}})
    assert v.state == secretmanager.SecretVersion.State.ENABLED and v.client_specified_payload_checksum
    acc = client.access_secret_version(request={"name": f"{s.name}/versions/latest"})
    assert acc.payload.data == data and acc.payload.data_crc32c == gcp_sm.crc32c(data)
    assert acc.name.endswith("/versions/1")
    for i in range(4):
        client.create_secret(request={"parent": parent, "secret_id": f"sdk-{i}",
                                      "secret": {"replication": {"automatic": {}}}})
    names = [x.name.rsplit("/", 1)[1] for x in client.list_secrets(request={"parent": parent, "page_size": 2})]
    assert names == ["sdk-0", "sdk-1", "sdk-2", "sdk-3", "sdk-secret"]
    filtered = [x.name for x in client.list_secrets(request={"parent": parent, "filter": "labels.a=b"})]
    assert filtered == [s.name]
    client.update_secret(request={"secret": {"name": s.name, "labels": {"c": "d"}},
                                  "update_mask": {"paths": ["labels"]}})
    assert dict(client.get_secret(request={"name": s.name}).labels) == {"c": "d"}
    client.disable_secret_version(request={"name": v.name})
    # api_core maps REST errors by HTTP status: FAILED_PRECONDITION arrives as BadRequest
    with pytest.raises(gexc.BadRequest, match="is in DISABLED state"):
        client.access_secret_version(request={"name": v.name})
    versions = list(client.list_secret_versions(request={"parent": s.name}))
    assert versions[0].state == secretmanager.SecretVersion.State.DISABLED
    d = client.destroy_secret_version(request={"name": v.name})
    assert d.state == secretmanager.SecretVersion.State.DESTROYED
    with pytest.raises(gexc.Conflict, match="already exists"):
        client.create_secret(request={"parent": parent, "secret_id": "sdk-secret",
                                      "secret": {"replication": {"automatic": {}}}})
    with pytest.raises(gexc.BadRequest):
        client.create_secret(request={"parent": parent, "secret_id": "caracal/postgres",
                                      "secret": {"replication": {"automatic": {}}}})
    with pytest.raises(gexc.BadRequest, match="checksum"):
        client.add_secret_version(request={"parent": s.name, "payload": {"data": data, "data_crc32c": 1}})
    client.delete_secret(request={"name": s.name})
    with pytest.raises(gexc.NotFound):
        client.get_secret(request={"name": s.name})
    gcp.faults({"deny": {"ops": ["get"], "count": 1}})
    with pytest.raises(gexc.Forbidden, match="secretmanager.secrets.get"):
        client.get_secret(request={"name": f"{parent}/secrets/sdk-0"})


def test_sdk_google_service_account_credentials(gcp_auth):
    sdk("google.cloud.secretmanager")
    from google.api_core import exceptions as gexc
    from google.auth.credentials import AnonymousCredentials
    from google.auth.transport.requests import Request as GRequest
    from google.cloud import secretmanager
    from google.oauth2 import service_account

    path = gcp_auth.ready["key_file"]
    # 1) the OAuth flow through token_uri (JWT-bearer grant)
    creds = service_account.Credentials.from_service_account_file(
        path, scopes=["https://www.googleapis.com/auth/cloud-platform"])
    creds.refresh(GRequest())
    assert creds.token.startswith("ya29.")
    client = secretmanager.SecretManagerServiceClient(
        transport="rest", credentials=creds, client_options={"api_endpoint": gcp_auth.url})
    client.create_secret(request={"parent": f"projects/{PROJECT}", "secret_id": "sa",
                                  "secret": {"replication": {"automatic": {}}}})
    # 2) a self-signed JWT (no token call), as the Rust auth library does
    jwt_creds = service_account.Credentials.from_service_account_file(path)
    jwt_creds._always_use_jwt_access = True
    client2 = secretmanager.SecretManagerServiceClient(
        transport="rest", credentials=jwt_creds, client_options={"api_endpoint": gcp_auth.url})
    assert client2.get_secret(request={"name": f"projects/{PROJECT}/secrets/sa"}).name.endswith("/sa")
    # 3) anonymous is refused by this server (the 401 makes google-auth try to refresh the
    #    anonymous credentials, which it cannot)
    from google.auth import exceptions as auth_exc
    anon = secretmanager.SecretManagerServiceClient(
        transport="rest", credentials=AnonymousCredentials(), client_options={"api_endpoint": gcp_auth.url})
    with pytest.raises((gexc.Unauthorized, auth_exc.InvalidOperation)):
        anon.get_secret(request={"name": f"projects/{PROJECT}/secrets/sa"})


def test_sdk_azure_keyvault_secrets(azure):
    sdk("azure.keyvault.secrets")
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
    from azure.identity import ClientSecretCredential
    from azure.keyvault.secrets import SecretClient

    cred = ClientSecretCredential(AZ_TENANT, AZ_CLIENT, AZ_SECRET, authority=f"https://127.0.0.1:{azure.port}",
                                  disable_instance_discovery=True, connection_verify=azure.verify)
    client = SecretClient(azure.url, cred, verify_challenge_resource=False, connection_verify=azure.verify)
    s = client.set_secret("sdk-secret", MARK + "-1", content_type="text/plain", tags={"a": "b"})
    assert s.value == MARK + "-1" and s.properties.content_type == "text/plain"
    assert s.properties.tags == {"a": "b"} and s.properties.enabled
    assert s.properties.vault_url == azure.url and s.name == "sdk-secret"
    assert s.properties.created_on is not None
    s2 = client.set_secret("sdk-secret", MARK + "-2")
    assert client.get_secret("sdk-secret").value == MARK + "-2"
    assert client.get_secret("sdk-secret", s.properties.version).value == MARK + "-1"
    for i in range(30):
        client.set_secret(f"sdk-{i:02d}", MARK)
    listed = [p.name for p in client.list_properties_of_secrets()]
    assert len(listed) == 31 and "sdk-secret" in listed
    versions = [p.version for p in client.list_properties_of_secret_versions("sdk-secret")]
    assert sorted(versions) == sorted([s.properties.version, s2.properties.version])
    upd = client.update_secret_properties("sdk-secret", enabled=False, tags={"x": "y"})
    assert upd.enabled is False and upd.tags == {"x": "y"}
    with pytest.raises(HttpResponseError) as exc:
        client.get_secret("sdk-secret")
    assert exc.value.status_code == 403
    client.update_secret_properties("sdk-secret", enabled=True)
    with pytest.raises(ResourceNotFoundError):
        client.get_secret("missing")

    deleted = client.begin_delete_secret("sdk-secret").result()
    assert deleted.recovery_id.endswith("/deletedsecrets/sdk-secret") and deleted.deleted_date is not None
    assert [d.name for d in client.list_deleted_secrets()] == ["sdk-secret"]
    assert client.get_deleted_secret("sdk-secret").name == "sdk-secret"
    with pytest.raises(HttpResponseError) as exc:
        client.set_secret("sdk-secret", MARK)
    assert exc.value.status_code == 409
    client.begin_recover_deleted_secret("sdk-secret").result()
    assert client.get_secret("sdk-secret").value == MARK + "-2"
    client.begin_delete_secret("sdk-secret").result()
    client.purge_deleted_secret("sdk-secret")
    assert list(client.list_deleted_secrets()) == []
    backup = client.backup_secret("sdk-00")
    client.begin_delete_secret("sdk-00").result()
    client.purge_deleted_secret("sdk-00")
    assert client.restore_secret_backup(backup).name == "sdk-00"


# ======================================================================================
# gRPC (what External Secrets speaks), workload identity, and the CONNECT proxy
# ======================================================================================

SM_HOST = "secretmanager.googleapis.com"
GKE_CLUSTER = "caracal-testbed/us-central1/caracal-testbed"
POOL = f"{PROJECT}.svc.id.goog"
PROVIDER = ("https://container.googleapis.com/v1/projects/caracal-testbed/locations/us-central1/"
            "clusters/caracal-testbed")
WI_CLIENT = "00000000-0000-4000-8000-000000000e50"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


@pytest.fixture(scope="module")
def tls_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("tls")


@pytest.fixture(scope="module")
def gcp_tls(tmp_path_factory, tls_dir):
    emu = launch("gcp_sm.py", tmp_path_factory.mktemp("gcp-tls"), "--allow-anonymous",
                 "--tls-dir", str(tls_dir), "--workload-cluster", GKE_CLUSTER)
    yield emu
    emu.stop()


@pytest.fixture(scope="module")
def azure_wi(tmp_path_factory, tls_dir):
    emu = launch(AZURE_KV, tls_dir, "--federated-client", WI_CLIENT)
    yield emu
    emu.stop()


@pytest.fixture(scope="module")
def proxy(tmp_path_factory, gcp_tls, azure_wi):
    d = tmp_path_factory.mktemp("proxy")
    routes = {f"{SM_HOST}:443": gcp_tls.ready["grpc_target"],
              "iamcredentials.googleapis.com:443": gcp_tls.ready["grpc_target"],
              "securetoken.googleapis.com:443": f"127.0.0.1:{gcp_tls.ready['https_port']}",
              "login.microsoftonline.com:443": f"127.0.0.1:{azure_wi.port}",
              "caracal-testbed.vault.azure.net:443": f"127.0.0.1:{azure_wi.port}"}
    (d / "routes.json").write_text(json.dumps(routes))
    ready = d / "ready.json"
    log = open(d / "proxy.log", "ab")
    proc = subprocess.Popen([sys.executable, str(HERE / "connect_proxy.py"), "--routes",
                             str(d / "routes.json"), "--ready-file", str(ready)],
                            stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    deadline = time.time() + 20
    while not (ready.exists() and ready.read_text().strip()):
        assert proc.poll() is None and time.time() < deadline, (d / "proxy.log").read_text()
        time.sleep(0.05)
    info = json.loads(ready.read_text())
    info["log"] = d / "proxy.log"
    yield info
    proc.terminate()
    proc.wait(10)


def sa_jwt(aud, sub="system:serviceaccount:caracal-gcp:caracal-external-secrets", exp_in=600) -> str:
    """The shape of a Kubernetes TokenRequest token (not signed: the emulators do not check)."""
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
    now = int(time.time())
    return (f"{enc({'alg': 'RS256', 'kid': 'k'})}."
            f"{enc({'aud': aud, 'sub': sub, 'iss': 'https://kubernetes.default.svc', 'iat': now, 'exp': now + exp_in})}"
            ".c2ln")


def grpc_channel(emu, ca: str, token: str | None = None, via_proxy: dict | None = None):
    """A channel to the emulator's gRPC port named secretmanager.googleapis.com, or to the real
    name through the proxy (grpc core's HTTP CONNECT, as External Secrets dials)."""
    import grpc

    creds = grpc.ssl_channel_credentials(Path(ca).read_bytes())
    if token is not None:
        creds = grpc.composite_channel_credentials(
            creds, grpc.access_token_call_credentials(token))
    if via_proxy is not None:
        return grpc.secure_channel(f"{SM_HOST}:443", creds,
                                   options=[("grpc.http_proxy", via_proxy["url"])])
    return grpc.secure_channel(emu.ready["grpc_target"], creds,
                               options=[("grpc.ssl_target_name_override", SM_HOST)])


def sm_client(channel):
    from google.cloud import secretmanager_v1
    from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (
        SecretManagerServiceGrpcTransport,
    )

    return secretmanager_v1.SecretManagerServiceClient(
        transport=SecretManagerServiceGrpcTransport(channel=channel))


def gcp_access_token(emu) -> str:
    r = requests.post(f"{emu.url}/token", timeout=10, data={
        "grant_type": gcp_sm.JWT_BEARER,
        "assertion": self_signed(emu, aud=f"{emu.url}/token", scope=CLOUD_PLATFORM)})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def idbind(emu, ca, **over) -> requests.Response:
    body = {"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "requested_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "subject_token": sa_jwt([POOL]), "audience": f"identitynamespace:{POOL}:{PROVIDER}",
            "scope": CLOUD_PLATFORM}
    body.update(over)
    return requests.post(f"{emu.ready['https_url']}/v1/identitybindingtoken", json=body, verify=ca,
                         timeout=10)


def test_gcp_grpc_with_the_official_client(gcp_tls):
    from google.api_core import exceptions as gexc

    ca = gcp_tls.ready["ca"]
    client = sm_client(grpc_channel(gcp_tls, ca, gcp_access_token(gcp_tls)))
    parent = f"projects/{PROJECT}"
    s = client.create_secret(parent=parent, secret_id="grpc-1",
                             secret={"replication": {"automatic": {}}, "labels": {"env": "bed"}})
    assert s.name == f"projects/{PROJECT_NUMBER}/secrets/grpc-1" and s.labels["env"] == "bed"
    v = client.add_secret_version(parent=s.name, payload={"data": (MARK + "-grpc").encode()})
    assert v.name.endswith("/versions/1") and v.state == 1
    got = client.access_secret_version(name=f"{parent}/secrets/grpc-1/versions/latest")
    assert got.payload.data == (MARK + "-grpc").encode()
    assert got.payload.data_crc32c == gcp_sm.crc32c((MARK + "-grpc").encode())
    assert client.get_secret(name=f"{parent}/secrets/grpc-1").labels == {"env": "bed"}
    assert [x.name for x in client.list_secrets(parent=parent)] == [s.name]
    assert [x.name for x in client.list_secret_versions(parent=s.name)] == [v.name]
    # one store: what gRPC wrote, REST reads, and the other way round
    assert base64.b64decode(Gcp(gcp_tls).access("grpc-1").json()["payload"]["data"]) == \
        (MARK + "-grpc").encode()
    assert Gcp(gcp_tls).add("grpc-1", MARK + "-rest").status_code == 200
    assert client.access_secret_version(name=f"{s.name}/versions/2").payload.data == \
        (MARK + "-rest").encode()
    # errors carry the REST API's status as the gRPC code
    with pytest.raises(gexc.NotFound, match="not found or has no versions"):
        client.access_secret_version(name=f"{parent}/secrets/nope/versions/latest")
    with pytest.raises(gexc.AlreadyExists):
        client.create_secret(parent=parent, secret_id="grpc-1",
                             secret={"replication": {"automatic": {}}})
    client.disable_secret_version(name=v.name)
    with pytest.raises(gexc.FailedPrecondition, match="DISABLED"):
        client.access_secret_version(name=v.name)
    client.delete_secret(name=s.name)
    with pytest.raises(gexc.NotFound):
        client.get_secret(name=s.name)
    ops = gcp_tls.stats()["ok"]
    assert ops["create"] >= 1 and ops["access"] >= 3 and ops["delete"] == 1


def test_gcp_grpc_requires_an_access_token(gcp_tls):
    from google.api_core import exceptions as gexc

    ca = gcp_tls.ready["ca"]
    name = f"projects/{PROJECT}/secrets/x/versions/latest"
    # anonymous REST is allowed on this server; gRPC never is (External Secrets always signs in)
    with pytest.raises(gexc.Unauthenticated):
        sm_client(grpc_channel(gcp_tls, ca)).access_secret_version(name=name)
    with pytest.raises(gexc.Unauthenticated):
        sm_client(grpc_channel(gcp_tls, ca, "ya29.emu.forged.x")).access_secret_version(name=name)
    # the federated token alone is good for GenerateAccessToken only
    fed = idbind(gcp_tls, ca).json()["access_token"]
    with pytest.raises(gexc.Unauthenticated):
        sm_client(grpc_channel(gcp_tls, ca, fed)).access_secret_version(name=name)


def test_gcp_identity_binding_token_checks_pool_cluster_and_subject(gcp_tls):
    ca = gcp_tls.ready["ca"]
    r = idbind(gcp_tls, ca)
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "Bearer" and r.json()["access_token"].startswith("ya29.")
    other = PROVIDER.replace("clusters/caracal-testbed", "clusters/other")
    bad = {
        "audience": f"identitynamespace:other-project.svc.id.goog:{PROVIDER}",
        "subject_token": sa_jwt(["sts.amazonaws.com"]),
        "grant_type": "client_credentials",
    }
    for key, value in bad.items():
        r = idbind(gcp_tls, ca, **{key: value})
        assert r.status_code == 400 and "error" in r.json(), (key, r.text)
    r = idbind(gcp_tls, ca, audience=f"identitynamespace:{POOL}:{other}")
    assert r.status_code == 400 and "not registered" in r.json()["error_description"]
    r = idbind(gcp_tls, ca, subject_token=sa_jwt([POOL], exp_in=-5))
    assert r.status_code == 400 and "expired" in r.json()["error_description"]
    r = idbind(gcp_tls, ca, subject_token=sa_jwt([POOL], sub="alice"))
    assert r.status_code == 400


def test_gcp_generate_access_token_over_grpc_then_read_a_secret(gcp_tls):
    import grpc
    from google.api_core import exceptions as gexc
    from google.cloud import iam_credentials_v1
    from google.cloud.iam_credentials_v1.services.iam_credentials.transports import (
        IAMCredentialsGrpcTransport,
    )

    ca = gcp_tls.ready["ca"]
    Gcp(gcp_tls).create("wi-1")
    assert Gcp(gcp_tls).add("wi-1", MARK + "-wi").status_code == 200
    fed = idbind(gcp_tls, ca).json()["access_token"]

    def iam(token):
        creds = grpc.composite_channel_credentials(
            grpc.ssl_channel_credentials(Path(ca).read_bytes()),
            grpc.access_token_call_credentials(token))
        ch = grpc.secure_channel(gcp_tls.ready["grpc_target"], creds, options=[
            ("grpc.ssl_target_name_override", "iamcredentials.googleapis.com")])
        return iam_credentials_v1.IAMCredentialsClient(transport=IAMCredentialsGrpcTransport(channel=ch))

    sa = f"projects/-/serviceAccounts/caracal@{PROJECT}.iam.gserviceaccount.com"
    resp = iam(fed).generate_access_token(name=sa, scope=[CLOUD_PLATFORM])
    assert resp.access_token.startswith("ya29.emu.") and resp.expire_time.timestamp() > time.time()
    data = sm_client(grpc_channel(gcp_tls, ca, resp.access_token)).access_secret_version(
        name=f"projects/{PROJECT}/secrets/wi-1/versions/latest").payload.data
    assert data == (MARK + "-wi").encode()
    with pytest.raises(gexc.PermissionDenied, match="getAccessToken"):
        iam(fed).generate_access_token(
            name="projects/-/serviceAccounts/caracal@other-project.iam.gserviceaccount.com",
            scope=[CLOUD_PLATFORM])
    with pytest.raises(gexc.Unauthenticated):  # an access token is not a federated token
        iam(resp.access_token).generate_access_token(name=sa, scope=[CLOUD_PLATFORM])


def test_azure_workload_identity_federation(azure_wi):
    base = f"{azure_wi.url}/{AZ_TENANT}/oauth2/v2.0/token"

    def token(client=WI_CLIENT, aud=("api://AzureADTokenExchange",), tenant=AZ_TENANT, **extra):
        form = {"client_id": client, "grant_type": "client_credentials",
                "scope": "https://vault.azure.net/.default",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": sa_jwt(list(aud), sub="system:serviceaccount:caracal-azure:eso")}
        form.update(extra)
        return requests.post(base.replace(AZ_TENANT, tenant), data=form, verify=azure_wi.verify,
                             timeout=10)

    r = token()
    assert r.status_code == 200, r.text
    assert Kv(azure_wi, token=r.json()["access_token"]).req("GET", "/secrets").status_code == 200
    assert "AADSTS700016" in token(client="00000000-0000-4000-8000-0000000000ff").text
    assert "AADSTS90002" in token(tenant="00000000-0000-4000-8000-0000000bad00").text
    r = token(aud=["sts.amazonaws.com"])
    assert r.status_code == 400 and "AADSTS700212" in r.text
    r = token(client_assertion="", client_assertion_type="", client_secret=AZ_SECRET)
    assert r.status_code == 401  # a federated client has no secret
    # MSAL's discovery refuses an unknown tenant too (External Secrets' first call)
    r = requests.get(f"{azure_wi.url}/00000000-0000-4000-8000-0000000bad00/v2.0/.well-known/"
                     "openid-configuration", verify=azure_wi.verify, timeout=10)
    assert r.status_code == 400 and r.json()["error"] == "invalid_tenant"


def test_tls_certificate_names_the_cloud_hosts(gcp_tls, azure_wi):
    ctx = ssl.create_default_context(cafile=azure_wi.verify)
    import socket

    for host in ("secretmanager.googleapis.com", "securetoken.googleapis.com",
                 "iamcredentials.googleapis.com", "login.microsoftonline.com",
                 "caracal-testbed.vault.azure.net", "sts.caracal.test", "gateway.caracal.test",
                 "api.caracal.test"):
        with socket.create_connection(("127.0.0.1", azure_wi.port), timeout=10) as sock:
            with ctx.wrap_socket(sock, server_hostname=host) as tls:
                assert tls.version() in ("TLSv1.2", "TLSv1.3")
    assert gcp_tls.ready["ca"] == azure_wi.verify  # one CA for the bed (SSL_CERT_FILE)


def connect(proxy, target: str, method: str = "CONNECT") -> tuple[int, bytes, object]:
    import socket

    sock = socket.create_connection(("127.0.0.1", proxy["port"]), timeout=10)
    sock.sendall(f"{method} {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    status = int(head.split(b" ", 2)[1])
    return status, head, sock


def test_proxy_refuses_every_other_destination(proxy):
    for target in ("example.com:443", "oauth2.googleapis.com:443", "169.254.169.254:80",
                   "metadata.google.internal:80", "secretmanager.googleapis.com:8443",
                   "other-vault.vault.azure.net:443", "127.0.0.1:22"):
        status, head, sock = connect(proxy, target)
        sock.close()
        assert status == 403, (target, head)
    status, _, sock = connect(proxy, "http://example.com/", method="GET")
    sock.close()
    assert status == 403
    assert "CONNECT example.com:443 -> 403" in proxy["log"].read_text()


def test_proxy_tunnels_the_cloud_hosts_to_the_emulators(proxy, gcp_tls, azure_wi):
    # HTTPS through the tunnel, certificate checked against the real name
    ctx = ssl.create_default_context(cafile=azure_wi.verify)
    for host in ("securetoken.googleapis.com", "login.microsoftonline.com",
                 "caracal-testbed.vault.azure.net"):
        status, head, sock = connect(proxy, f"{host}:443")
        assert status == 200, head
        with ctx.wrap_socket(sock, server_hostname=host) as tls:
            tls.sendall(f"GET /_emulator/healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close"
                        "\r\n\r\n".encode())
            reply = b""
            while True:
                chunk = tls.recv(65536)
                if not chunk:
                    break
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
    # gRPC to the real name, dialled through the proxy by grpc core (as External Secrets does)
    Gcp(gcp_tls).create("via-proxy")
    assert Gcp(gcp_tls).add("via-proxy", MARK + "-proxy").status_code == 200
    client = sm_client(grpc_channel(gcp_tls, gcp_tls.ready["ca"], gcp_access_token(gcp_tls),
                                    via_proxy=proxy))
    got = client.access_secret_version(name=f"projects/{PROJECT}/secrets/via-proxy/versions/latest")
    assert got.payload.data == (MARK + "-proxy").encode()
    text = proxy["log"].read_text()
    assert MARK not in text and "Bearer" not in text


# ======================================================================================
# Last: nothing secret in any emulator log
# ======================================================================================


def test_zz_no_secret_values_in_logs(gcp_server, gcp_auth_server, azure_server):
    # make sure each server has seen at least one secret value, whatever ran before
    for emu, token in ((gcp_server, None), (gcp_auth_server, self_signed(gcp_auth_server))):
        c = Gcp(emu, token=token)
        c.create("zz-logs")
        assert c.add("zz-logs", MARK + "-zz").status_code == 200
        assert c.access("zz-logs").status_code == 200
    kv = Kv(azure_server)
    assert kv.set("zz-logs", MARK + "-zz").status_code == 200
    assert kv.req("GET", "/secrets/zz-logs/").status_code == 200
    for emu in (gcp_server, gcp_auth_server, azure_server):
        text = emu.log_path.read_text()
        assert text.strip(), f"{emu.name} wrote no log"
        assert MARK not in text, f"{emu.name} logged a secret value"
        assert AZ_SECRET not in text
        assert "Bearer" not in text and "private_key" not in text
        assert re.search(r"(GET|PUT|POST) /\S* -> \d{3}", text)
