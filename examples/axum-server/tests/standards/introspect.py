"""An independent client of the example server's standards: Python's
requests reads the discovery document, introspects a token as a registered
client (HTTP Basic, form body), and sees a logout at once.

usage: introspect.py BASE_URL CLIENT_ID CLIENT_SECRET
"""
import sys

import requests

base, client_id, secret = sys.argv[1:4]

meta = requests.get(f"{base}/.well-known/openid-configuration", timeout=30)
assert meta.status_code == 200, meta.text
meta = meta.json()
endpoint = meta["introspection_endpoint"]
assert endpoint == f"{base}/auth/introspect", meta
assert meta["introspection_endpoint_auth_methods_supported"] == ["client_secret_basic"], meta
rfc8414 = requests.get(f"{base}/.well-known/oauth-authorization-server", timeout=30).json()
assert rfc8414 == meta, rfc8414

login = requests.post(
    f"{base}/auth/login",
    json={"username": "alice", "password": "alice-password"},
    timeout=30,
)
assert login.status_code == 200, login.text
token = login.json()["accessToken"]

answer = requests.post(
    endpoint, data={"token": token, "token_type_hint": "access_token"},
    auth=(client_id, secret), timeout=30,
)
assert answer.status_code == 200, answer.text
active = answer.json()
assert active["active"] is True, active
assert active["sub"] == "alice" and active["roles"] == ["user"], active
assert active["token_type"] == "Bearer" and active["iss"] == meta["issuer"], active
assert answer.headers["Cache-Control"] == "no-store", answer.headers

refused = requests.post(endpoint, data={"token": token}, auth=(client_id, secret + "x"), timeout=30)
assert refused.status_code == 401, refused.text
assert refused.headers["WWW-Authenticate"].startswith("Basic "), refused.headers
assert refused.json()["error"] == "invalid_client", refused.text

logout = requests.post(f"{base}/auth/logout", headers={"Authorization": f"Bearer {token}"}, timeout=30)
assert logout.status_code == 204, logout.text
after = requests.post(endpoint, data={"token": token}, auth=(client_id, secret), timeout=30)
assert after.status_code == 200 and after.json() == {"active": False}, after.text
assert after.text == '{"active":false}', after.text

print("ok")
