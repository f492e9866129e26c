"""schemathesis hooks for scripts/schemathesis.sh: the credential of each security scheme.

(Here rather than in schemathesis.toml's `[auth.openapi.*]`: with those set, schemathesis 4.32
no longer applies a Python auth provider, and the user's token must come from one.)

- `admin_key`: the admin key, on /v1/admin/*.
- `client_basic`: the registered client, on introspection and the revocation list.
- `bearer`: a user's `tss_` session token. A run may lock the user (the admin API, with an id
  read from an earlier response) or revoke its session (`DELETE /v1/session`), both correct
  behaviour; the token is fetched by logging in, again after a 401 and every minute, and when
  the login itself fails a new user is signed up, so a locked account never stalls the run.
"""
import base64
import os
import secrets

import requests
import schemathesis

BASE = os.environ["TESSERA_SCHEMATHESIS_BASE"]
# Every operation whose security offers `bearer`: the caller's own session endpoints, the
# password and address changes, the second factors, passkeys and the step-up, and the check.
USER_PATHS = r"^/v1/(session(/step-up(/passkey/options)?)?|sessions(/.*)?|password|email|factors(/.*)?|passkeys(/.*)?|check(/.*)?)$"


@schemathesis.auth(refresh_interval=None).apply_to(path_regex=r"^/v1/admin/")
class AdminKey:
    def get(self, case, context):
        return os.environ["TESSERA_SCHEMATHESIS_ADMIN_KEY"]

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


@schemathesis.auth(refresh_interval=None).apply_to(
    path_regex=r"^/v1/(token/introspect|revocations)$"
)
class ClientBasic:
    def get(self, case, context):
        return (
            os.environ["TESSERA_SCHEMATHESIS_CLIENT_ID"],
            os.environ["TESSERA_SCHEMATHESIS_CLIENT_SECRET"],
        )

    def set(self, case, data, context):
        case.headers = case.headers or {}
        token = base64.b64encode(f"{data[0]}:{data[1]}".encode()).decode()
        case.headers["Authorization"] = f"Basic {token}"


@schemathesis.auth(refresh_interval=60).apply_to(path_regex=USER_PATHS)
class UserSessionToken:
    def __init__(self):
        self.email = os.environ["TESSERA_SCHEMATHESIS_EMAIL"]
        self.password = os.environ["TESSERA_SCHEMATHESIS_PASSWORD"]

    def _sign_up(self):
        self.email = f"schemathesis-{secrets.token_hex(8)}@example.com"
        self.password = secrets.token_urlsafe(18)
        response = requests.post(
            f"{BASE}/v1/users",
            json={"email": self.email, "password": self.password},
            timeout=30,
        )
        response.raise_for_status()

    def get(self, case, context):
        for _ in range(2):
            response = requests.post(
                f"{BASE}/v1/session",
                json={"email": self.email, "password": self.password, "transport": "body"},
                timeout=30,
            )
            if response.status_code == 200:
                return response.json()["session_token"]
            self._sign_up()
        raise RuntimeError(f"cannot log in: {response.status_code} {response.text}")

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
