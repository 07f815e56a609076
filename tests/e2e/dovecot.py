"""A Dovecot (Debian `dovecot-imapd`, installed by `./dev test`) started for a test: another operator's
IMAP server, so the PFI is shown to work with any operator, not only the house's.

The configuration is generated: one mailbox (a passwd-file with its static password), Maildir in a
temporary directory, IMAP on a loopback port (127.0.0.2) with STARTTLS and a test certificate, no login before
TLS (`disable_plaintext_auth`, as the MSSanté operators require), LOGIN and AUTHENTICATE PLAIN.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

DOVECOT = shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)


@dataclass
class Dovecot:
    host: str
    port: int
    user: str
    password: str
    cafile: str
    root: Path
    process: subprocess.Popen

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)


def _certificate(root: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = root / "cert.pem", root / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    return cert_path, key_path


# Dovecot holds a connection from its own address as secured and lets it log in before TLS: it
# listens on 127.0.0.2, the kernel's source for loopback is 127.0.0.1, so STARTTLS is really required
HOST = "127.0.0.2"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def start(user: str, password: str) -> Dovecot:
    """Dovecot in the foreground on a loopback address, ready to accept connections."""
    assert DOVECOT, "dovecot-imapd is not installed (./dev test installs it)"
    root = Path(tempfile.mkdtemp(prefix="maison-dovecot-"))
    root.chmod(0o755)  # the mail user (below) walks into its Maildir
    cert, key = _certificate(root)
    me = pwd.getpwuid(os.getuid())
    # root runs Dovecot's own unprivileged users (mail as uid 0 is refused); anyone else runs as himself
    mail = pwd.getpwnam("dovecot") if os.getuid() == 0 else me
    login = "dovenull" if os.getuid() == 0 else me.pw_name
    (root / "mail").mkdir()
    os.chown(root / "mail", mail.pw_uid, mail.pw_gid)
    (root / "passwd").write_text(f"{user}:{{PLAIN}}{password}::::::\n")
    # Dovecot's auth process runs as its own user: the file must be readable whatever umask the test
    # process holds (`maison`'s CLI sets 077 when a test invokes it in-process)
    (root / "passwd").chmod(0o644)
    port = _free_port()
    (root / "dovecot.conf").write_text(f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.2
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = yes
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
first_valid_uid = {mail.pw_uid}
default_login_user = {login}
default_internal_user = {mail.pw_name}
default_internal_group = {pwd.getpwuid(mail.pw_uid).pw_name if os.getuid() else "dovecot"}
passdb {{
  driver = passwd-file
  args = {root}/passwd
}}
userdb {{
  driver = static
  args = uid={mail.pw_uid} gid={mail.pw_gid} home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.2
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
""")
    process = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(root / "dovecot.conf")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out = process.stdout.read().decode(errors="replace") if process.stdout else ""
            log = (root / "dovecot.log").read_text(errors="replace") if (root / "dovecot.log").exists() else ""
            raise RuntimeError(f"dovecot did not start: {out}\n{log}")
        try:
            with socket.create_connection((HOST, port), timeout=1) as s:
                if s.recv(100).startswith(b"* OK"):
                    return Dovecot(HOST, port, user, password, str(cert), root, process)
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("dovecot did not listen in time")
