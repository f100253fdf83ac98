#!/usr/bin/env python3
"""Verifies a token the gateway issued, with joserfc against the JWKS the gateway published.

Usage: verify_gateway_token.py JWKS_FILE TOKEN ISSUER
Prints the claims as JSON when the signature, iss, aud and exp check out; exits 1 otherwise.
An independent implementation: a mistake shared by the gateway's signer and verifier cannot hide here.
"""
import json
import sys
import time

from joserfc import jwt
from joserfc.jwk import KeySet

jwks_file, token, issuer = sys.argv[1], sys.argv[2], sys.argv[3]
with open(jwks_file) as f:
    keys = KeySet.import_key_set(json.load(f))
try:
    decoded = jwt.decode(token, keys, algorithms=["ES256", "EdDSA"])
    claims = decoded.claims
    registry = jwt.JWTClaimsRegistry(iss={"essential": True, "value": issuer}, aud={"essential": True, "value": issuer},
                                     exp={"essential": True}, sub={"essential": True})
    registry.validate(claims)
except Exception as error:  # any failure is the test's failure
    sys.stderr.write(f"verify_gateway_token.py: {type(error).__name__}: {error}\n")
    sys.exit(1)
print(json.dumps({"header": decoded.header, "claims": claims, "now": int(time.time())}))
