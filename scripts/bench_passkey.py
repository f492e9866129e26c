#!/usr/bin/env python3
"""Passkey sign-ins per second next to password sign-ins, over HTTP, in one run.

    scripts/bench_passkey.py [seconds] [workers]        (defaults: 10 s, 8 workers)

    TESSERA_BIN=path/to/tessera   the binary (default target/release/tessera)

Starts `tessera serve` on 127.0.0.1 with `public_url = http://localhost:PORT` (the relying party
is `localhost`), a throw-away SQLite file and raised limits; signs up one user per worker and
registers a passkey for each with a software authenticator written here (ES256, attestation
"none", user verified); then, for `seconds` each, the workers sign in over and over:

    password   POST /v1/session {email, password, transport: body}
    passkey    POST /v1/session/passkey/options, then POST /v1/session/passkey with the assertion

and it prints a markdown table (sign-ins per second, p50/p99 latency). Only ever 127.0.0.1.
Needs `requests` and `cryptography` (installed by .ci/run for the PyJWT test).
"""

import base64
import hashlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

PASSWORD = "correct horse battery staple"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def cbor(value) -> bytes:
    """The CBOR subset an attestation object needs: ints, bytes, text, maps."""

    def head(major: int, n: int) -> bytes:
        if n < 24:
            return bytes([major << 5 | n])
        for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
            if n < 1 << (8 * size):
                return bytes([major << 5 | info]) + n.to_bytes(size, "big")
        raise ValueError("too large")

    if isinstance(value, bool):
        raise TypeError("no booleans needed")
    if isinstance(value, int):
        return head(0, value) if value >= 0 else head(1, -1 - value)
    if isinstance(value, bytes):
        return head(2, len(value)) + value
    if isinstance(value, str):
        data = value.encode()
        return head(3, len(data)) + data
    if isinstance(value, dict):
        return head(5, len(value)) + b"".join(cbor(k) + cbor(v) for k, v in value.items())
    raise TypeError(type(value))


class SoftAuthenticator:
    """One ES256 credential for one relying party, user verification always performed."""

    def __init__(self, rp_id: str, origin: str):
        self.rp_id_hash = hashlib.sha256(rp_id.encode()).digest()
        self.origin = origin
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(32)
        self.user_handle = b""

    def _client_data(self, kind: str, challenge: str) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": False}
        ).encode()

    def create(self, options: dict) -> dict:
        public = options["publicKey"]
        self.user_handle = unb64url(public["user"]["id"])
        numbers = self.key.public_key().public_numbers()
        cose_key = {1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}
        auth_data = (
            self.rp_id_hash
            + bytes([0x45])  # user present, user verified, attested credential data
            + (0).to_bytes(4, "big")
            + bytes(16)  # AAGUID
            + len(self.credential_id).to_bytes(2, "big")
            + self.credential_id
            + cbor(cose_key)
        )
        client_data = self._client_data("webauthn.create", public["challenge"])
        attestation = cbor({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal"],
            },
            "extensions": {},
        }

    def get(self, options: dict) -> dict:
        client_data = self._client_data("webauthn.get", options["publicKey"]["challenge"])
        auth_data = self.rp_id_hash + bytes([0x05]) + (0).to_bytes(4, "big")
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(self.user_handle),
            },
            "extensions": {},
        }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(binary: str, workdir: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    origin = f"http://localhost:{port}"
    config = f"""
[server]
listen = "127.0.0.1:{port}"
public_url = "{origin}"
[store]
url = "sqlite://{workdir}/tessera.db"
[limits]
login_per_ip = "1000000/min"
login_per_account = "1000000/min"
login_attempts_per_ip = "1000000/min"
signup_per_ip = "1000000/min"
signup_global = "1000000/min"
mfa_per_user = "1000000/min"
"""
    path = os.path.join(workdir, "tessera.toml")
    with open(path, "w") as f:
        f.write(config)
    log = open(os.path.join(workdir, "tessera.log"), "w")
    server = subprocess.Popen(
        [binary, "serve", "--config", path], cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "RUST_LOG": "warn"},
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if requests.get(f"{base}/readyz", timeout=1).status_code == 200:
                return server, origin
        except requests.ConnectionError:
            pass
        time.sleep(0.05)
    server.kill()
    raise SystemExit(f"the server did not start; see {workdir}/tessera.log")


class Worker:
    def __init__(self, base: str, origin: str, index: int):
        self.base = base
        self.http = requests.Session()
        # Two accounts: one signs in with its password only, the other gets the passkey (a
        # password sign-in of that one would stop at the second step).
        self.email, passkey_email = (f"bench-{kind}-{index}-{os.urandom(4).hex()}@example.com" for kind in ("pwd", "key"))
        for email in (self.email, passkey_email):
            r = self.http.post(f"{base}/v1/users", json={"email": email, "password": PASSWORD})
            assert r.status_code == 201, r.text
        self.authenticator = SoftAuthenticator("localhost", origin)
        token = self.password_login(passkey_email)
        bearer = {"Authorization": f"Bearer {token}"}
        started = self.http.post(f"{base}/v1/passkeys/options", json={}, headers=bearer).json()
        credential = self.authenticator.create(started["options"])
        r = self.http.post(
            f"{base}/v1/passkeys",
            json={"ceremony_id": started["ceremony_id"], "name": "bench", "credential": credential},
            headers=bearer,
        )
        assert r.status_code in (200, 201), r.text

    def password_login(self, email: str | None = None) -> str:
        r = self.http.post(
            f"{self.base}/v1/session", json={"email": email or self.email, "password": PASSWORD, "transport": "body"}
        )
        assert r.status_code == 200, r.text
        return r.json()["session_token"]

    def passkey_login(self) -> str:
        started = self.http.post(f"{self.base}/v1/session/passkey/options", json={}).json()
        assertion = self.authenticator.get(started["options"])
        r = self.http.post(
            f"{self.base}/v1/session/passkey",
            json={"ceremony_id": started["ceremony_id"], "credential": assertion, "transport": "body"},
        )
        assert r.status_code == 200, r.text
        return r.json()["session_token"]


def run(workers: list[Worker], method: str, seconds: float) -> tuple[float, list[float]]:
    latencies: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def loop(worker: Worker) -> None:
        mine = []
        while time.monotonic() < stop_at:
            started = time.monotonic()
            getattr(worker, method)()
            mine.append(time.monotonic() - started)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=loop, args=(w,)) for w in workers]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(latencies) / (time.monotonic() - began), latencies


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    binary = os.environ.get("TESSERA_BIN", os.path.join(os.path.dirname(__file__), "..", "target", "release", "tessera"))
    workdir = tempfile.mkdtemp(prefix="tessera-bench-passkey-")
    server, origin = start_server(os.path.abspath(binary), workdir)
    try:
        base = origin.replace("localhost", "127.0.0.1")
        workers = [Worker(base, origin, i) for i in range(count)]
        rows = []
        for label, method in (("password sign-in (`POST /v1/session`)", "password_login"),
                              ("passkey sign-in (options + assertion, ES256)", "passkey_login")):
            rate, latencies = run(workers, method, seconds)
            quantiles = statistics.quantiles(latencies, n=100)
            rows.append((label, rate, quantiles[49] * 1000, quantiles[98] * 1000))
        print(f"{count} workers, {seconds:g} s each, {os.cpu_count()} CPUs, SQLite, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
        print("| sign-in | per second | p50 | p99 |\n|---|---|---|---|")
        for label, rate, p50, p99 in rows:
            print(f"| {label} | {rate:,.0f} | {p50:.1f} ms | {p99:.1f} ms |")
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
