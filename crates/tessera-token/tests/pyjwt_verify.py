"""Verify Tessera access tokens with PyJWT, using nothing but the published JWKS.

Reads one JSON object on stdin:
  {"jwks": {...}, "issuer": str, "audience": str, "algorithm": str,
   "valid": [token, ...], "invalid": [token, ...]}
Every "valid" token must verify and every "invalid" one must be refused. Prints
{"claims": [...], "rejected": n} and exits 0 on success, 1 with a message otherwise.
Run by tests/tokens.rs (pyjwt_verifies_our_tokens_from_our_jwks).
"""

import json
import sys

import jwt


def verify(token, keys, issuer, audience, algorithm):
    header = jwt.get_unverified_header(token)
    if header.get("typ", "").lower() not in ("at+jwt", "application/at+jwt"):
        raise jwt.InvalidTokenError("typ is not at+jwt")
    key = keys.get(header.get("kid"))
    if key is None:
        raise jwt.InvalidTokenError("unknown kid")
    return jwt.decode(
        token,
        key.key,
        algorithms=[algorithm],
        audience=audience,
        issuer=issuer,
        options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub"]},
    )


def main():
    data = json.load(sys.stdin)
    jwks = jwt.PyJWKSet.from_dict(data["jwks"])
    keys = {k.key_id: k for k in jwks.keys}
    args = (keys, data["issuer"], data["audience"], data["algorithm"])
    claims = []
    for token in data["valid"]:
        try:
            claims.append(verify(token, *args))
        except jwt.PyJWTError as err:
            print(f"valid token refused: {type(err).__name__}: {err}")
            return 1
    rejected = 0
    for token in data["invalid"]:
        try:
            verify(token, *args)
        except jwt.PyJWTError:
            rejected += 1
        else:
            print("tampered token accepted")
            return 1
    print(json.dumps({"claims": claims, "rejected": rejected}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
