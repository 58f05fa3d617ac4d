"""A small Docker-style token server for tests (the flow Docker Hub, GHCR and Harbor use).

``GET /token?service=…&scope=…&scope=…`` with optional Basic auth, and the OAuth2
``POST /token`` form (``grant_type=password`` or ``refresh_token``), answer
``{"token", "access_token", "expires_in": 300, "issued_at"}`` where the token is an
RS256 JWT whose header carries ``x5c`` (a self-signed certificate). The distribution
registry trusts it through ``rootcertbundle`` = ``TokenServer.cert_path``.

Grants: the known user gets what it asks of ``pull``/``push``/``delete``; anonymous
callers get ``pull`` when ``anonymous_pull`` is on, else nothing. Wrong credentials
get 401. ``requests`` records each call as (method, user or None, scopes).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

GRANTABLE = ("pull", "push", "delete")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def make_key_and_cert() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "manifold-test-token-signer")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


def parse_scope(text: str) -> tuple[str, str, list[str]] | None:
    """``type:name:actions``; the name may hold a ``:`` (a port), so split from both ends."""
    kind, sep, rest = text.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not sep or not sep2 or not name:
        return None
    return kind, name, [a for a in actions.split(",") if a]


@dataclass
class TokenRequest:
    method: str
    user: str | None
    scopes: tuple[str, ...]
    service: str


class TokenServer:
    def __init__(
        self,
        directory: Path,
        *,
        users: dict[str, str] | None = None,
        refresh_tokens: dict[str, str] | None = None,
        anonymous_pull: bool = False,
        issuer: str = "manifold-test-issuer",
        expires_in: int = 300,
    ) -> None:
        self.users = dict(users or {})
        self.refresh_tokens = dict(refresh_tokens or {})  # refresh token -> user
        self.anonymous_pull = anonymous_pull
        self.issuer = issuer
        self.expires_in = expires_in
        self.requests: list[TokenRequest] = []
        self._lock = threading.Lock()
        self.key, self.cert = make_key_and_cert()
        directory.mkdir(parents=True, exist_ok=True)
        self.cert_path = directory / "token-signer.pem"
        self.cert_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.realm = self.url + "/token"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- tokens --------------------------------------------------------------
    def grant(self, user: str | None, scopes: tuple[str, ...]) -> list[dict]:
        allowed = set(GRANTABLE) if user else ({"pull"} if self.anonymous_pull else set())
        access = []
        for text in scopes:
            parsed = parse_scope(text)
            if parsed is None or parsed[0] != "repository":
                continue
            actions = [a for a in parsed[2] if a in allowed]
            if actions:
                access.append({"type": parsed[0], "name": parsed[1], "actions": actions})
        return access

    def sign(self, user: str | None, service: str, access: list[dict]) -> str:
        now = int(dt.datetime.now(dt.timezone.utc).timestamp())
        header = {
            "typ": "JWT",
            "alg": "RS256",
            "x5c": [base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode("ascii")],
        }
        claims = {
            "iss": self.issuer,
            "sub": user or "",
            "aud": service,
            "exp": now + self.expires_in,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
        signature = self.key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + b64url(signature)

    def answer(self, user: str | None, service: str, scopes: tuple[str, ...], *, refresh: bool) -> dict:
        token = self.sign(user, service, self.grant(user, scopes))
        doc = {
            "token": token,
            "access_token": token,
            "expires_in": self.expires_in,
            "issued_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        if refresh and user:
            rt = secrets.token_hex(8)
            self.refresh_tokens[rt] = user
            doc["refresh_token"] = rt
        return doc

    def _record(self, method: str, user: str | None, scopes: tuple[str, ...], service: str) -> None:
        with self._lock:
            self.requests.append(TokenRequest(method, user, tuple(sorted(scopes)), service))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def _send(self, status: int, doc: dict) -> None:
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _basic_user(self) -> tuple[bool, str | None]:
                header = self.headers.get("Authorization", "")
                if not header:
                    return True, None
                if not header.startswith("Basic "):
                    return False, None
                try:
                    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
                except ValueError:
                    return False, None
                return server.users.get(user) == password, user

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != "/token":
                    return self._send(404, {"errors": [{"code": "NOT_FOUND"}]})
                query = parse_qs(parts.query)
                service = (query.get("service") or [""])[0]
                scopes = tuple(query.get("scope", []))
                ok, user = self._basic_user()
                server._record("GET", user, scopes, service)
                if not ok:
                    return self._send(401, {"details": "incorrect username or password"})
                refresh = (query.get("offline_token") or [""])[0] == "true"
                self._send(200, server.answer(user, service, scopes, refresh=refresh))

            def do_POST(self) -> None:
                if urlsplit(self.path).path != "/token":
                    return self._send(404, {"errors": [{"code": "NOT_FOUND"}]})
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                scopes = tuple(form.get("scope", "").split())
                service = form.get("service", "")
                grant = form.get("grant_type")
                if grant == "refresh_token":
                    user = server.refresh_tokens.get(form.get("refresh_token", ""))
                    ok = user is not None
                elif grant == "password":
                    user = form.get("username")
                    ok = user is not None and server.users.get(user) == form.get("password")
                else:
                    server._record("POST", None, scopes, service)
                    return self._send(400, {"error": "unsupported_grant_type"})
                server._record("POST", user, scopes, service)
                if not ok or not form.get("client_id"):
                    return self._send(401, {"error": "invalid_grant"})
                doc = server.answer(user, service, scopes, refresh=form.get("access_type") == "offline")
                doc["scope"] = " ".join(scopes)
                self._send(200, doc)

        return Handler
