"""TLS trust: a private CA is trusted through SSL_CERT_FILE or REQUESTS_CA_BUNDLE (the OS
trust store underneath, via truststore), and nothing else is.

tests/fixtures/tls holds a test-only CA and a server certificate for 127.0.0.1 it signed."""

import os
import ssl
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

TLS = Path(__file__).parent / "fixtures" / "tls"

PROBE = """
import sys, requests
from cfevents.cc.trust import use_system_trust
session = use_system_trust(requests.Session())
try:
    print(session.get(sys.argv[1], timeout=10).text)
except requests.exceptions.SSLError:
    print("SSLError")
"""


class Hello(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"hello over tls"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def https_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(TLS / "server.pem", TLS / "server.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def probe(url, **env):
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE, url],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, **env},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_private_ca_is_not_trusted_by_default(https_url):
    assert probe(https_url) == "SSLError"


def test_ssl_cert_file_names_the_trusted_cas(https_url):
    assert probe(https_url, SSL_CERT_FILE=str(TLS / "ca.pem")) == "hello over tls"


def test_requests_ca_bundle_adds_a_ca(https_url):
    assert probe(https_url, REQUESTS_CA_BUNDLE=str(TLS / "ca.pem")) == "hello over tls"


def test_the_cli_trusts_ssl_cert_file(https_url, tmp_path):
    """End to end: cfevents against the TLS server (which is no CC: any answer past the TLS
    handshake proves the CA was trusted)."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SSL_CERT", "REQUESTS_CA", "CF_"))
    }
    env.update(CF_API=https_url.rstrip("/"), CF_TOKEN="x", CF_HOME=str(tmp_path))
    args = [sys.executable, "-m", "cfevents", "--retries", "0", "usage", "list", "--limit", "1"]
    untrusted = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
    assert untrusted.returncode == 6 and "certificate" in untrusted.stderr.lower()
    trusted = subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, "SSL_CERT_FILE": str(TLS / "ca.pem")},
    )
    assert trusted.returncode != 6, trusted.stderr
    assert "certificate" not in trusted.stderr.lower()


def test_truststore_is_not_imported_at_start_up():
    done = subprocess.run(
        [sys.executable, "-c", "import cfevents.cli, sys; print('truststore' in sys.modules)"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip() == "False"
