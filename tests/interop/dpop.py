"""Makes DPoP proofs (RFC 9449) with PyJWT and cryptography, for tests/interop.rs.

stdin: a JSON list of jobs {"alg": "ES256"|"ES384"|"EdDSA"|"PS256"|"RS256",
  "claims": {...}}; each job gets a fresh key pair.
stdout: a JSON list of {"proof": compact JWS, "jkt": the RFC 7638 SHA-256
  thumbprint of its public key, computed here from the JWK members}.
"""

import base64
import hashlib
import json
import sys

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa


def fresh_key(alg):
    if alg == "ES256":
        key = ec.generate_private_key(ec.SECP256R1())
        return key, jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    if alg == "ES384":
        key = ec.generate_private_key(ec.SECP384R1())
        return key, jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    if alg == "EdDSA":
        key = ed25519.Ed25519PrivateKey.generate()
        return key, jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key(), as_dict=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key, jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)


def thumbprint(jwk):
    required = {"EC": ["crv", "kty", "x", "y"], "OKP": ["crv", "kty", "x"], "RSA": ["e", "kty", "n"]}
    members = {name: jwk[name] for name in required[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()


def main():
    out = []
    for job in json.load(sys.stdin):
        key, jwk = fresh_key(job["alg"])
        jwk = {k: v for k, v in jwk.items() if k in ("kty", "crv", "x", "y", "n", "e")}
        headers = {"typ": "dpop+jwt", "jwk": jwk}
        proof = jwt.encode(job["claims"], key, algorithm=job["alg"], headers=headers)
        out.append({"proof": proof, "jkt": thumbprint(jwk)})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
