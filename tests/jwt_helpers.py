"""Unsigned JWTs for tests of expiry/scope handling (the client never verifies signatures)."""

import base64
import json
import time


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def make_jwt(exp_in: float = 3600, scopes=("cloud_controller.admin",)) -> str:
    header = b64({"alg": "HS256", "typ": "JWT"})
    payload = b64({"exp": int(time.time() + exp_in), "scope": list(scopes), "user_name": "t"})
    return f"{header}.{payload}.c2ln"
