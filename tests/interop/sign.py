"""Signs JWTs with PyJWT for tests/interop.rs.

stdin: a JSON list of jobs, each
  {"alg": "HS256"|"ES256"|..., "key": <PEM text, or the HMAC secret as text>,
   "headers": {...extra JOSE header parameters...}, "claims": {...}}
stdout: a JSON list of the compact tokens, in order.
"""

import json
import sys

import jwt


def main() -> None:
    jobs = json.load(sys.stdin)
    tokens = [
        jwt.encode(job["claims"], job["key"], algorithm=job["alg"], headers=job["headers"])
        for job in jobs
    ]
    json.dump(tokens, sys.stdout)


if __name__ == "__main__":
    main()
