"""Checks DPoP proofs (RFC 9449 §4.3) with PyJWT, for tests/interop.rs.

stdin: a JSON list of {"proof", "htm", "htu"}.
stdout: a JSON list, per proof, of {"ok": true, "claims": {...}} or
  {"ok": false, "error": "..."}: the signature checked with the header's
  own jwk (a public key: no "d"), typ dpop+jwt, htm and htu as given.
"""

import json
import sys

import jwt


def check(job):
    header = jwt.get_unverified_header(job["proof"])
    if header.get("typ") != "dpop+jwt":
        return {"ok": False, "error": "typ"}
    jwk = header["jwk"]
    if "d" in jwk:
        return {"ok": False, "error": "private jwk"}
    key = jwt.PyJWK(jwk, algorithm=header["alg"])
    try:
        claims = jwt.decode(job["proof"], key.key, algorithms=[header["alg"]],
                            options={"require": ["jti", "iat"]})
    except jwt.PyJWTError as e:
        return {"ok": False, "error": str(e)}
    if claims.get("htm") != job["htm"] or claims.get("htu") != job["htu"]:
        return {"ok": False, "error": "htm/htu"}
    return {"ok": True, "claims": claims}


def main():
    json.dump([check(job) for job in json.load(sys.stdin)], sys.stdout)


if __name__ == "__main__":
    main()
