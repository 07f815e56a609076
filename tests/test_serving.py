"""`maison serve` as a real process: TLS, several workers on one port, refusal to listen in clear off loopback."""

import datetime
import ipaddress
import os
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from maison.core.config import Settings
from maison.serving import serve
from tests.conftest import free_port


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def _start(tmp_path: Path, port: int, *extra: str, env: dict | None = None) -> subprocess.Popen:
    environ = {**os.environ, "MAISON_DATA_DIR": str(tmp_path / "data"), **(env or {})}
    environ.pop("MAISON_DATABASE_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "maison", "serve", "--port", str(port), *extra],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait(url: str, **kw) -> httpx.Response:
    """The first answer of a house starting in spawned processes (each imports the whole house: seconds
    on a loaded 2-core machine, so the deadline is generous; a healthy start answers in 2-5 s)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            return httpx.get(url, timeout=1, **kw)
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


def _stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=20)


def test_plain_http_is_refused_off_loopback(tmp_path):
    with pytest.raises(ValueError, match="TLS"):
        serve(Settings(data_dir=tmp_path, host="0.0.0.0"))


def test_listening_on_every_address_needs_the_public_url(tmp_path):
    """Issue 20 §3.1: the origin (PSC's issuer) is configured, never read from a request; on 0.0.0.0 the
    listening address names no origin, so `public_url` must."""
    cert, key = _self_signed(tmp_path)
    with pytest.raises(ValueError, match="MAISON_PUBLIC_URL"):
        serve(Settings(data_dir=tmp_path, host="0.0.0.0", tls_cert=str(cert), tls_key=str(key)))


def test_tls_listener(tmp_path):
    cert, key = _self_signed(tmp_path)
    port = free_port()
    proc = _start(tmp_path, port, env={"MAISON_TLS_CERT": str(cert), "MAISON_TLS_KEY": str(key)})
    try:
        answer = _wait(f"https://127.0.0.1:{port}/", verify=ssl.create_default_context(cafile=str(cert)))
        assert answer.status_code == 200 and {s["path"] for s in answer.json()["services"]} >= {"/insi", "/fhir"}
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2)  # no clear text on a TLS port
    finally:
        _stop(proc)


def test_several_workers_share_the_port(tmp_path):
    port = free_port()
    proc = _start(tmp_path, port, "--workers", "2")
    try:
        assert _wait(f"http://127.0.0.1:{port}/").status_code == 200
        listeners: set[str] = set()
        for _ in range(100):  # each worker binds its own socket (SO_REUSEPORT) once started
            listening = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True).stdout
            # a socket whose process ss cannot name yet (a worker being started) is looked at again
            listeners = {line.split("pid=")[1].split(",")[0] for line in listening.splitlines() if "pid=" in line}
            if len(listeners) == 2:
                break
            time.sleep(0.1)
        assert len(listeners) == 2
        for _ in range(20):  # fresh connections are spread by the kernel; every one is answered
            assert httpx.get(f"http://127.0.0.1:{port}/insi/lps", params={"wsdl": ""}).status_code == 200
    finally:
        assert _stop(proc) == 0


def test_serve_runs_the_registered_mssante_operators(tmp_path):
    """`maison mss-operateur` registers a local operator; `maison serve` then listens for it (SMTP
    submission with STARTTLS then AUTH, relay, IMAP with STARTTLS, submission and IMAP over implicit TLS
    when registered with those ports, RFC 8314) beside HTTP, and publishes the
    mailboxes `maison mss-bal` creates; `maison pfi` runs the structure's platform until SIGTERM."""
    import imaplib
    import smtplib

    http, submission, relay, imap = free_port(), free_port(), free_port(), free_port()
    submissions, imaps = free_port(), free_port()
    public = {"MAISON_PUBLIC_URL": f"http://127.0.0.1:{http}"}  # the operator publishes to this house's Annuaire
    environ = {**os.environ, "MAISON_DATA_DIR": str(tmp_path / "data"), **public}
    environ.pop("MAISON_DATABASE_URL", None)
    registered = subprocess.run(
        [
            sys.executable,
            "-m",
            "maison",
            "mss-operateur",
            "chu-test",
            "--nom",
            "CHU DE TEST",
            "--domaine",
            "chu-test.mssante.fr",
            "--relais",
            str(relay),
            "--soumission",
            str(submission),
            "--imap",
            str(imap),
            "--soumission-tls",
            str(submissions),
            "--imap-tls",
            str(imaps),
        ],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert registered.returncode == 0, registered.stderr
    said = " ".join(registered.stdout.split())  # issue 21 §1.4: where each listener is, its protocol and TLS
    assert f"soumission SMTP 127.0.0.1:{submission} (STARTTLS exigé)" in said
    assert f"imap-tls IMAP 127.0.0.1:{imaps} (TLS implicite, RFC 8314)" in said
    created = subprocess.run(
        [
            sys.executable,
            "-m",
            "maison",
            "mss-bal",
            "pfi@chu-test.mssante.fr",
            "--operateur",
            "chu-test",
            "--type",
            "APP",
            "--titulaire",
            "1750000019",
            "--nom",
            "PFI du CHU",
        ],
        env={**environ, "MAISON_BAL_PASSWORD": "mot-de-passe-pfi-2026"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert created.returncode == 0, created.stderr
    proc = _start(tmp_path, http, env=public)
    try:
        _wait(f"http://127.0.0.1:{http}/")
        ca = ssl.create_default_context(cafile=str(tmp_path / "data" / "mss" / "pki" / "ca.pem"))
        for _ in range(300):  # the operator's own process, started beside the workers (a loaded CI: seconds)
            try:
                client = smtplib.SMTP("127.0.0.1", submission, timeout=10)
                break
            except OSError:
                time.sleep(0.1)
        with client:
            client.ehlo()
            assert client.has_extn("starttls") and not client.has_extn("auth")
            client.starttls(context=ca)
            client.ehlo()
            assert "XOAUTH2" in client.esmtp_features["auth"] and "PLAIN" in client.esmtp_features["auth"]
        with smtplib.SMTP("127.0.0.1", relay, timeout=10) as peer:
            peer.starttls(context=ca)
            peer.ehlo()
            assert peer.mail("x@ailleurs.mssante.fr")[0] == 550  # no registered certificate
        box = imaplib.IMAP4("127.0.0.1", imap, timeout=10)
        assert "STARTTLS" in box.capabilities and "LOGINDISABLED" in box.capabilities
        box.starttls(ssl_context=ca)
        box.logout()
        with smtplib.SMTP_SSL("127.0.0.1", submissions, context=ca, timeout=10) as implicit:
            implicit.ehlo()  # under TLS from the first byte: AUTH offered at once, no STARTTLS
            assert "PLAIN" in implicit.esmtp_features["auth"] and not implicit.has_extn("starttls")
        implicit_box = imaplib.IMAP4_SSL("127.0.0.1", imaps, ssl_context=ca, timeout=10)
        assert "LOGINDISABLED" not in implicit_box.capabilities
        implicit_box.logout()
    finally:
        # the operator tried to publish the new mailbox with its own key: this empty Annuaire has no
        # Organization 1750000019, so it stays pending with the Annuaire's answer (not a 401)
        from maison.core.storage import Database
        from maison.partage.mss.store import mss_mailbox

        db = Database(f"sqlite:///{tmp_path / 'data' / 'maison.db'}")
        try:
            for _ in range(300):  # a first pass may run before the HTTP worker listens: refused, tried again
                with db.read() as conn:
                    box = conn.execute(mss_mailbox.select()).one()
                if "404" in (box.annuaire_error or ""):
                    break
                time.sleep(0.1)
        finally:
            db.dispose()
        assert box.annuaire == "a-publier" and "404" in box.annuaire_error, box.annuaire_error
        pfi = subprocess.Popen(
            [sys.executable, "-m", "maison", "pfi", "--boite", "pfi@chu-test.mssante.fr", "--structure", "1750000019"],
            env={**environ, "MAISON_PFI_PASSWORD": "mot-de-passe-pfi-2026"},
            stdout=subprocess.PIPE,
            text=True,
        )
        assert "PFI de 1750000019" in pfi.stdout.readline()
        assert _stop(pfi) == 0
        assert _stop(proc) == 0
