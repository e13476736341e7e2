"""Verifies JWTs with PyJWT for tests/interop.rs, using a published JWKS.

stdin: a JSON list of jobs, each
  {"token": "...", "jwks": {"keys": [...]}, "algorithms": ["ES256"],
   "audience": "..." | null, "issuer": "..." | null}
The key is the JWKS entry whose kid is the token's kid, loaded with
jwt.PyJWK. stdout: a JSON list, in order, of
  {"ok": true, "header": {...}, "claims": {...}} or
  {"ok": false, "error": "<PyJWT exception class name>", "message": "..."}.
"""

import json
import sys

import jwt


def verify(job: dict) -> dict:
    try:
        header = jwt.get_unverified_header(job["token"])
        matching = [k for k in job["jwks"]["keys"] if k.get("kid") == header.get("kid")]
        if len(matching) != 1:
            return {"ok": False, "error": "NoMatchingKey", "message": str(header.get("kid"))}
        key = jwt.PyJWK(matching[0])
        claims = jwt.decode(
            job["token"],
            key=key.key,  # the cryptography key: PyJWT < 2.9 cannot take a PyJWK here
            algorithms=job["algorithms"],
            audience=job.get("audience"),
            issuer=job.get("issuer"),
            options={"require": ["exp", "iat", "sub", "jti"]},
        )
        return {"ok": True, "header": header, "claims": claims}
    except Exception as e:  # noqa: BLE001 - every failure is reported per job
        return {"ok": False, "error": type(e).__name__, "message": str(e)}


def main() -> None:
    json.dump([verify(job) for job in json.load(sys.stdin)], sys.stdout)


if __name__ == "__main__":
    main()
