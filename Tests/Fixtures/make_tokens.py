#!/usr/bin/env python3
"""Independent JOSE fixtures for Tests/GatehouseIntegrationTests/AuthIndependentTokenTests.swift.

Usage: make_tokens.py OUT_DIR ATTACKER_URL

Keys and valid tokens come from joserfc (on top of pyca/cryptography), not from Gatehouse's own Swift code,
so a mistake shared by the gateway and its Swift minter cannot hide. Hostile tokens that joserfc refuses to
build are assembled by hand: raw JSON text, raw base64url, signatures from `cryptography` / `hmac`.

Writes into OUT_DIR the public material the gateway is configured with:
  rsa.pem, p256.pem, p384.pem, ed25519.pem   SPKI "PUBLIC KEY" PEMs (issuer ISS_PEM)
  hs256.secret                               the HS256 secret (printable, no newline; issuer ISS_PEM)
  jwks.json                                  the same public keys as a JWKS with kids (issuer ISS_JWKS)
Private keys never leave this process. Prints one JSON object to stdout:
  {"now": ..., "issuers": {...}, "audience": ..., "valid": [{name, alg, token, sub, email, groups}],
   "hostile": {name: token}}
Exits 3 with a message on stderr when joserfc or cryptography is missing.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import sys
import time
import warnings

try:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
    from joserfc import jwt
    from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey
except ImportError as error:  # the Swift test turns this into a failure naming scripts/install-deps.sh
    sys.stderr.write(
        f"make_tokens.py: python3 cannot import joserfc/cryptography ({error}); "
        "run scripts/install-deps.sh (pip install joserfc cryptography)\n")
    sys.exit(3)

warnings.filterwarnings("ignore")  # joserfc flags EdDSA as deprecated by RFC 9864; we still test it

ISS_PEM = "https://py-idp.test"
ISS_JWKS = "https://py-jwks.test"
AUDIENCE = "py-gatehouse"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def main() -> None:
    out_dir, attacker_url = sys.argv[1], sys.argv[2]
    now = int(time.time())

    # --- keys (joserfc generates them with cryptography) ---------------------------------------------------
    rsa = RSAKey.generate_key(2048, private=True)
    p256 = ECKey.generate_key("P-256", private=True)
    p384 = ECKey.generate_key("P-384", private=True)
    ed25519 = OKPKey.generate_key("Ed25519", private=True)
    attacker = ECKey.generate_key("P-256", private=True)
    hs256_secret = secrets.token_urlsafe(48).encode("ascii")  # 64 printable bytes, at least 32 required
    hs256 = OctKey.import_key(hs256_secret)

    pems = {
        "rsa.pem": rsa.as_pem(private=False),
        "p256.pem": p256.as_pem(private=False),
        "p384.pem": p384.as_pem(private=False),
        "ed25519.pem": ed25519.as_pem(private=False),
    }
    for name, pem in pems.items():
        assert pem.startswith(b"-----BEGIN PUBLIC KEY-----"), name
        with open(f"{out_dir}/{name}", "wb") as handle:
            handle.write(pem)
    with open(f"{out_dir}/hs256.secret", "wb") as handle:
        handle.write(hs256_secret)

    def public_jwk(key, kid: str, alg: str) -> dict:
        jwk = dict(key.as_dict(private=False))
        jwk.update({"kid": kid, "alg": alg, "use": "sig"})
        return jwk

    jwks = {"keys": [
        public_jwk(rsa, "py-rs256", "RS256"),
        public_jwk(rsa, "py-ps256", "PS256"),  # the same modulus for PS256, under its own kid
        public_jwk(p256, "py-es256", "ES256"),
        public_jwk(p384, "py-es384", "ES384"),
        public_jwk(ed25519, "py-eddsa", "EdDSA"),
    ]}
    for jwk in jwks["keys"]:
        assert "d" not in jwk and "p" not in jwk, "a private member leaked into the JWKS"
    with open(f"{out_dir}/jwks.json", "w") as handle:
        json.dump(jwks, handle)

    # --- valid tokens, minted by joserfc --------------------------------------------------------------------
    def claims(sub: str, iss: str = ISS_PEM, **extra) -> dict:
        body = {"iss": iss, "sub": sub, "aud": AUDIENCE, "exp": now + 3600, "iat": now,
                "email": f"{sub}@example.org", "groups": ["staff", sub]}
        body.update(extra)
        return body

    signing = {"RS256": rsa, "PS256": rsa, "ES256": p256, "ES384": p384, "EdDSA": ed25519, "HS256": hs256}
    valid = []
    for alg, key in signing.items():
        sub = "py-" + alg.lower()
        token = jwt.encode({"alg": alg}, claims(sub), key, algorithms=[alg])
        valid.append({"name": f"pem-{alg}", "alg": alg, "token": token, "sub": sub,
                      "email": f"{sub}@example.org", "groups": ["staff", sub]})
        if alg != "HS256":  # the JWKS issuer: the same keys found by kid
            sub = "py-jwks-" + alg.lower()
            token = jwt.encode({"alg": alg, "kid": "py-" + alg.lower()}, claims(sub, iss=ISS_JWKS), key,
                               algorithms=[alg])
            valid.append({"name": f"jwks-{alg}", "alg": alg, "token": token, "sub": sub,
                          "email": f"{sub}@example.org", "groups": ["staff", sub]})
    by_name = {entry["name"]: entry["token"] for entry in valid}

    # --- hand assembly for the hostile tokens ---------------------------------------------------------------
    def es256_raw(key, signing_input: bytes) -> bytes:
        der = key.private_key.sign(signing_input, ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def hs256_raw(secret: bytes, signing_input: bytes) -> bytes:
        return hmac.new(secret, signing_input, hashlib.sha256).digest()

    def assemble(header_text: str, payload: dict | str, signer=None, signature: bytes | None = None) -> str:
        payload_text = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
        signing_input = b64(header_text.encode()) + "." + b64(payload_text.encode())
        if signer is not None:
            signature = signer(signing_input.encode("ascii"))
        return signing_input + "." + b64(signature if signature is not None else b"")

    def header(**members) -> str:
        return json.dumps({"typ": "JWT", **members}, separators=(",", ":"))

    def by_p256(data: bytes) -> bytes:
        return es256_raw(p256, data)

    def by_attacker(data: bytes) -> bytes:
        return es256_raw(attacker, data)

    good = claims("mallory")
    hostile = {}

    # alg none in three spellings: with an empty signature segment, and with a real ES256 signature of the
    # configured P-256 key (a verifier that falls back to "the key's algorithm" would accept that one).
    for spelling in ("none", "None", "NONE"):
        hostile[f"alg-{spelling}-empty-signature"] = assemble(header(alg=spelling), good)
        hostile[f"alg-{spelling}-signed"] = assemble(header(alg=spelling), good, signer=by_p256)
    none_token = hostile["alg-none-empty-signature"]
    hostile["alg-none-no-signature-segment"] = none_token[:-1]  # "h.p": no third segment at all

    # HS256 keyed with the RSA public key's PEM, byte for byte as the gateway reads rsa.pem: against the
    # issuer that also has an HS256 secret, and against the JWKS issuer whose only HMAC-free keys include RSA.
    rsa_pem = pems["rsa.pem"]
    hostile["hs256-rsa-pem-secret"] = assemble(
        header(alg="HS256"), good, signer=lambda data: hs256_raw(rsa_pem, data))
    hostile["hs256-rsa-pem-secret-jwks-issuer"] = assemble(
        header(alg="HS256"), claims("mallory", iss=ISS_JWKS), signer=lambda data: hs256_raw(rsa_pem, data))
    hostile["hs256-rsa-pem-secret-with-kid"] = assemble(
        header(alg="HS256", kid="py-rs256"), claims("mallory", iss=ISS_JWKS),
        signer=lambda data: hs256_raw(rsa_pem, data))

    # The attacker ships its own key (jwk) or points at it (jku, x5u), and signs with it.
    attacker_jwk = attacker.as_dict(private=False)
    hostile["embedded-jwk"] = assemble(header(alg="ES256", jwk=attacker_jwk), good, signer=by_attacker)
    attacker_secret = secrets.token_bytes(32)
    hostile["embedded-jwk-oct"] = assemble(
        header(alg="HS256", jwk={"kty": "oct", "k": b64(attacker_secret)}), good,
        signer=lambda data: hs256_raw(attacker_secret, data))
    hostile["jku"] = assemble(header(alg="ES256", jku=attacker_url + "/jwks.json"), good, signer=by_attacker)
    hostile["x5u"] = assemble(header(alg="ES256", x5u=attacker_url + "/cert.pem"), good, signer=by_attacker)

    # ES256 with r = s = 0 (CVE-2022-21449, "psychic signatures").
    hostile["es256-zero-signature"] = assemble(header(alg="ES256"), good, signature=bytes(64))

    # A valid token with its signature one byte short.
    for alg in ("ES256", "RS256", "EdDSA", "HS256"):
        head, payload, signature = by_name[f"pem-{alg}"].split(".")
        hostile[f"{alg.lower()}-signature-one-byte-short"] = f"{head}.{payload}.{b64(unb64(signature)[:-1])}"

    # A valid token re-encoded with "=" padding, and with the standard "+" "/" alphabet.
    def padded(token: str) -> str:
        return ".".join(base64.urlsafe_b64encode(unb64(part)).decode() for part in token.split("."))

    def standard_alphabet(token: str) -> str:
        return token.replace("-", "+").replace("_", "/")

    rs256 = by_name["pem-RS256"]  # a 256-byte signature: 342 characters, "==" when padded
    hostile["padded-base64"] = padded(rs256)
    assert "=" in hostile["padded-base64"]
    hostile["standard-base64-alphabet"] = next(
        standard_alphabet(entry["token"]) for entry in valid if standard_alphabet(entry["token"]) != entry["token"])

    # Two and four segments.
    es256 = by_name["pem-ES256"]
    head, payload, signature = es256.split(".")
    hostile["two-segments"] = f"{head}.{payload}"
    hostile["four-segments"] = f"{es256}.{signature}"
    hostile["four-segments-empty-last"] = f"{es256}."

    # A properly signed ES256 token of more than 100 KiB.
    big = assemble(header(alg="ES256"), claims("mallory", padding="x" * (100 * 1024)), signer=by_p256)
    assert len(big) > 100 * 1024
    hostile["hundred-kib"] = big

    # Properly signed tokens with a bad claim type, an unknown crit, a duplicated alg member.
    hostile["exp-as-string"] = assemble(header(alg="ES256"), claims("mallory", exp=str(now + 3600)), signer=by_p256)
    hostile["crit-unknown"] = assemble(header(alg="ES256", crit=["unknown"]), good, signer=by_p256)
    good_text = json.dumps(good, separators=(",", ":"))
    hostile["duplicate-alg-none-then-es256"] = assemble(
        '{"alg":"none","typ":"JWT","alg":"ES256"}', good_text, signer=by_p256)
    hostile["duplicate-alg-es256-then-hs256"] = assemble(
        '{"alg":"ES256","typ":"JWT","alg":"HS256"}', good_text, signer=lambda data: hs256_raw(hs256_secret, data))

    # EdDSA with R = the identity point, made with the configured key's private scalar a (S = k·a mod L, so that
    # [S]B − [k]A is the identity): a cofactorless verifier without a small-order check on R (BoringSSL's)
    # accepts it. Only SHA-512 and arithmetic mod L: no curve arithmetic needed.
    def eddsa_identity_r(signing_input: bytes) -> bytes:
        group_order = 2**252 + 27742317777372353535851937790883648493
        seed = ed25519.private_key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
        scalar = int.from_bytes(hashlib.sha512(seed).digest()[:32], "little")
        scalar = (scalar & ((1 << 254) - 8)) | (1 << 254)
        public = ed25519.private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        identity = (1).to_bytes(32, "little")
        k = int.from_bytes(hashlib.sha512(identity + public + signing_input).digest(), "little") % group_order
        return identity + (k * scalar % group_order).to_bytes(32, "little")

    hostile["eddsa-small-order-r"] = assemble(header(alg="EdDSA"), good, signer=eddsa_identity_r)

    # Nested JWTs (RFC 7519 §5.2), signed by the trusted key: the header says the payload is a token, not claims.
    # joserfc's own spelling over claims (a verifier that ignores cty reads them as claims), a lowercase media
    # type, and a real nested token as the payload.
    hostile["cty-jwt"] = jwt.encode({"alg": "ES256", "cty": "JWT"}, good, p256, algorithms=["ES256"])
    hostile["cty-application-jwt-lowercase"] = assemble(
        header(alg="ES256", cty="application/jwt"), good, signer=by_p256)
    hostile["cty-jwt-nested-token"] = assemble(header(alg="ES256", cty="jwt"), by_name["pem-ES256"], signer=by_p256)

    json.dump({"now": now, "issuers": {"pem": ISS_PEM, "jwks": ISS_JWKS}, "audience": AUDIENCE,
               "valid": valid, "hostile": hostile}, sys.stdout)


if __name__ == "__main__":
    main()
