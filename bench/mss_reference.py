"""MSSanté benchmark reference chain: Postfix A → (SMTP, mutual TLS) → Postfix B → LMTP → Dovecot B.

Why it exists: `bench/mss.py` pushes the same messages through the project's own operators and through
this chain, built from the mail servers every operator actually runs, and reports the ratio. The chain
follows the tested recipe of docs/research/mssante-servers.md §2.2 and §3; it is started only from files under one
root directory, all on 127.0.0.1, never through /etc/postfix, /etc/dovecot or the system services:

    load client --SMTP + STARTTLS--> Postfix A (submission port, the sender's operator)
        --SMTP + STARTTLS, A's client certificate, B's certificate verified--> Postfix B (relay port)
        --LMTP over TCP--> Dovecot B (rootless, as `nobody`) --> Maildir of each recipient
        <--IMAP (STARTTLS, LOGIN, IDLE)-- `ImapReader`: each message's BODY[] fetched, `$Integre` set

The chain ends where Maison's ends (issue 19): the PFI reads its applicative mailbox over IMAP, so the
reference is read back the same way, by the PFI's own IMAP client code (maison/etablissement/pfi/
mailbox.py) in a process of its own, doing what the PFI asks of its operator and nothing more.

What is configured (everything else is the stock Postfix 3.7 / Dovecot 2.3 default: process limits,
concurrency, queue, fsync behaviour, no TLS session cache, no TLS connection reuse):

- both Postfix: master.cf = the stock master.cf.dist with chroot turned off (the jail would be our queue
  directory) and `smtp inet` on a loopback port; main.cf with config/queue/data directories and
  maillog_file under the root, `inet_interfaces = 127.0.0.1`, no local delivery, no DNS (next hops are
  literal addresses), `smtputf8_enable = no`, `compatibility_level = 3.6`; TLS log level 1 on A's
  client and B's server (one line per connection: how the mutual TLS can be seen to hold).
- Postfix A: `mynetworks = 127.0.0.0/8`, `smtpd_relay_restrictions = permit_mynetworks, reject`;
  STARTTLS offered (`smtpd_tls_security_level = may`, a_cert/a_key); the recipient domain routed by
  `transport_maps` to B; `smtp_tls_security_level = secure` with a policy `match=` on the name B's
  certificate carries, A's certificate presented as client certificate. **No SMTP AUTH**: Postfix would
  need a SASL backend (Cyrus or Dovecot's auth socket) for it; this is the one difference with the
  project's submission service, which requires AUTH. Clients are trusted by source address instead.
- Postfix B: TLS required (`encrypt`), client certificate required and verified against the CA, and
  only A's certificate (SHA-256 fingerprint, `check_ccert_access`) allowed; `virtual_mailbox_domains`
  = the recipient domain, `virtual_mailbox_maps` = the recipients, `virtual_transport` = Dovecot's
  LMTP listener.
- Dovecot B: rootless under `setpriv` as nobody/nogroup, passwd-file userdb listing the recipients
  (homes under the root, `maildir:~/Maildir`), LMTP on TCP (no socket permissions between the
  `postfix` and `nobody` users), IMAP (STARTTLS) and IMAPS with b_cert and a static password
  (`IMAP_PASSWORD`) for whoever wants to read the mail back.

Layout under root: `postfix-a/{etc,spool,data,maillog}`, `postfix-b/{...}`, `dovecot-b/{dovecot.conf,
users,tls,run,state,mail,dovecot.log}`. Each of these carries a marker file; a later chain on the same
root replaces them (the Maildirs must start empty: the bench sends the same Message-IDs at every
level), and nothing else under root is touched. On exit the Maildirs are removed (hundreds of MB at
bench sizes) unless `keep_mail=True`; configurations and logs stay for inspection.

Run directly (as root), it checks itself: 300 messages of about 270 KB over 4 STARTTLS connections.
"""

from __future__ import annotations

import functools
import grp
import multiprocessing
import os
import pwd
import re
import resource
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Callable
from multiprocessing.queues import Queue
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

PACKAGES = ("postfix", "dovecot-imapd", "dovecot-lmtpd")
POSTFIX_USER, POSTFIX_GROUP = "postfix", "postdrop"
DOVECOT_USER, DOVECOT_GROUP = "nobody", "nogroup"
IMAP_PASSWORD = "bench"
PORT_NAMES = ("submission", "relay", "lmtp", "imap", "imaps")
MARKER = ".mss-reference"
MASTER_CF_DIST = Path("/usr/share/postfix/master.cf.dist")
DOVECOT_LMTP = Path("/usr/lib/dovecot/lmtp")
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_TOOLS = ("postfix", "postconf", "dovecot", "doveadm", "setpriv", "script")


def _which(name: str) -> str | None:
    return shutil.which(name, path=_PATH + os.pathsep + os.environ.get("PATH", ""))


def unavailable() -> str | None:
    """None when the chain can run here; otherwise why not.

    Postfix's master must start as root (it forks its daemons as `mail_owner`), so a non-root run is
    reported rather than attempted; the bench then prints the reason instead of a ratio.
    """
    missing = [t for t in _TOOLS if _which(t) is None]
    missing += [str(p) for p in (MASTER_CF_DIST, DOVECOT_LMTP) if not p.exists()]
    if missing:
        return "missing " + ", ".join(missing) + " (apt packages " + " ".join(PACKAGES) + ")"
    if os.geteuid() != 0:
        return "not root (Postfix must be started as root)"
    try:
        pwd.getpwnam(POSTFIX_USER), grp.getgrnam(POSTFIX_GROUP)
        pwd.getpwnam(DOVECOT_USER), grp.getgrnam(DOVECOT_GROUP)
    except KeyError as exc:
        return f"missing user or group {exc}"
    return None


def _installed(package: str) -> bool:
    dpkg = _which("dpkg-query")
    if dpkg is None:
        return False
    out = subprocess.run([dpkg, "-W", "-f=${Status}", package], capture_output=True, text=True)
    return out.returncode == 0 and out.stdout.strip().endswith("installed") and "not-installed" not in out.stdout


def install() -> None:
    """Install Postfix and Dovecot from apt, only if missing, without any prompt.

    debconf gets 'No configuration' so that no /etc/postfix/main.cf is generated (none is needed:
    every instance here is started with `postfix -c DIR`); policy-rc.d keeps the services stopped on
    images that have it. `apt-get update` is run only when the first attempt fails (empty lists).
    """
    missing = [p for p in PACKAGES if not _installed(p)]
    if not missing:
        return
    if os.geteuid() != 0:
        raise PermissionError("installing " + " ".join(missing) + " needs root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "PATH": _PATH}
    subprocess.run(
        ["debconf-set-selections"],
        check=True,
        env=env,
        text=True,
        input="postfix postfix/main_mailer_type select No configuration\npostfix postfix/mailname string maison.test\n",
    )
    command = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES]
    if subprocess.run(command, env=env, stdin=subprocess.DEVNULL, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, stdin=subprocess.DEVNULL, check=True, capture_output=True)
        done = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError("apt-get install failed:\n" + (done.stdout + done.stderr)[-2000:])


# --- helpers -------------------------------------------------------------------------------------


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports: all bound at once (so none repeats), then released."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"({path}: nothing)"
    return f"--- {path} (last {lines} lines) ---\n" + "\n".join(text.splitlines()[-lines:])


def _dns_names(pem: Path) -> list[str]:
    cert = x509.load_pem_x509_certificate(pem.read_bytes())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [n.lower() for n in san.get_values_for_type(x509.DNSName)]


def _pick_name(pem: Path, domain: str, role: str) -> str:
    """The certificate's DNS name that best stands for `domain` (itself or a host under it, else the first).

    Postfix A dials B at a literal address, so the name it must find in B's certificate is chosen
    here from what the certificate carries; `secure` verification still demands that chain and name hold.
    """
    names = _dns_names(pem)
    if not names:
        raise ValueError(f"{role} certificate {pem} has no DNS name in its subjectAltName")
    domain = domain.lower()
    related = [n for n in names if n == domain or n.endswith("." + domain)]
    return (related or names)[0]


def _postfix_fingerprint(pem: Path) -> str:
    """SHA-256 of the DER certificate as Postfix prints it (upper-case hex pairs joined by ':')."""
    digest = x509.load_pem_x509_certificate(pem.read_bytes()).fingerprint(hashes.SHA256())
    return ":".join(f"{b:02X}" for b in digest)


def _proc_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _postfix_pids(config: Path) -> list[int]:
    """Processes of one Postfix instance: `postfix -c DIR` exports MAIL_CONFIG=DIR, which the master and
    every daemon it forks inherit (it is in import_environment), so the instance is found by that."""
    wanted = b"MAIL_CONFIG=" + bytes(config)
    found = []
    for pid in _proc_pids():
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if wanted in env.split(b"\0"):
            found.append(pid)
    return found


def _session_pids(sid: int) -> list[int]:
    """Processes of the session led by `sid` (Dovecot is started as a session leader, its children stay in it)."""
    found = []
    for pid in _proc_pids():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == sid and fields[0] != "Z":  # after ')': state ppid pgrp session; zombies are gone
            found.append(pid)
    return found


def _kill_all(find: Callable[[], list[int]], grace: float) -> list[int]:
    """Wait up to `grace` s for the processes `find()` returns to exit, then SIGKILL the rest (by pid)."""
    deadline = time.monotonic() + grace
    while (pids := find()) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5
    while (left := find()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def _run(command: list[str], what: str, log: Path | None = None) -> str:
    """Run a Postfix administration command under `script`: Postfix prints its fatal errors only to a
    terminal (or to syslog, absent here), so without a pseudo-terminal a failure would say nothing."""
    out = subprocess.run(
        ["script", "-qec", shlex.join(command), "/dev/null"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": _PATH},
    )
    text = (out.stdout + out.stderr).replace("\r", "")
    if out.returncode != 0:
        raise RuntimeError(
            f"{what} failed (exit {out.returncode}):\n{text.strip()}" + ("\n" + _tail(log) if log else "")
        )
    return text


def _check_free(ports: dict[str, int]) -> None:
    """Fail early and clearly if a port is taken (otherwise a readiness probe could meet the intruder
    while our daemon dies on its bind, or the load would be sent to a stranger)."""
    for name, port in ports.items():
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the daemons do: TIME_WAIT is no obstacle
            try:
                s.bind(("127.0.0.1", port))
            except OSError as exc:
                raise RuntimeError(f"port {name} 127.0.0.1:{port} is not free: {exc}") from None


def _greets(port: int, expect: bytes) -> bool:
    """Whether 127.0.0.1:port answers an SMTP/LMTP greeting containing `expect` (that is, it is our daemon)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            banner = s.makefile("rb").readline(512)
            s.sendall(b"QUIT\r\n")
    except OSError:
        return False
    return banner.startswith(b"220") and expect in banner


def _wait_greeting(port: int, expect: bytes, until: float, alive: Callable[[], bool] = lambda: True) -> bool:
    while time.monotonic() < until and alive():
        if _greets(port, expect):
            return True
        time.sleep(0.05)
    return False


_MSGID = re.compile(rb"<([^<>]*)>")


def _message_id(path: Path) -> str | None:
    """The Message-ID (without <>) of a stored message, reading its header section only."""
    head = b""
    with open(path, "rb") as f:
        while True:
            chunk = f.read(8192)
            if not chunk:
                break
            head += chunk
            if _header_end(head) >= 0:
                break
    return _message_id_in(head)


def _header_end(raw: bytes) -> int:
    return min((i for i in (raw.find(b"\n\n"), raw.find(b"\n\r\n")) if i >= 0), default=-1)


def _message_id_in(raw: bytes) -> str | None:
    """The Message-ID (without <>) in a message's header section (`raw` may hold the whole message)."""
    end = _header_end(raw)
    head = raw[:end] if end >= 0 else raw
    for field in re.split(rb"\r?\n(?![ \t])", head):  # one unfolded header field at a time
        name, colon, value = field.partition(b":")
        if colon and name.strip().lower() == b"message-id":
            found = _MSGID.search(value)
            text = found.group(1) if found else re.sub(rb"\s+", b"", value)
            return text.decode("ascii", "replace") or None
    return None


# --- the mailbox read back over IMAP -------------------------------------------------------------


def _read_over_imap(
    account: tuple[str, int, str, str, str | None], expected: int, timeout: float, batch: int, out: Queue, ready: Any
) -> None:
    """The reader process: see `ImapReader`. Puts {Message-ID: time fetched} (or an error string)."""
    from maison.etablissement.pfi.mailbox import HANDLED, ImapAccount, ImapMailbox, MailboxError

    mailbox = ImapMailbox(ImapAccount(*account))
    fetched: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    error = ""
    cursor = 0  # the last UID handled, as the PFI keeps it
    try:
        while len(fetched) < expected and time.monotonic() < deadline:
            try:
                uids = mailbox.unhandled(cursor)  # UID SEARCH UID n:* UNKEYWORD $Integre, as the PFI asks
                ready.set()  # logged in and watching: the load may start
                if not uids:
                    mailbox.wait(1.0)  # IDLE (Dovecot offers it) until new mail, at most 1 s
                    continue
                for at in range(0, len(uids), batch):
                    part = uids[at : at + batch]
                    mailbox.sizes(part)  # the PFI bounds its batch by the messages' sizes first
                    bodies = mailbox.fetch(part)  # UID FETCH (UID BODY.PEEK[])
                    now = time.time()
                    for raw in bodies.values():
                        msgid = _message_id_in(raw)
                        if msgid:
                            fetched.setdefault(msgid, now)
                    mailbox.flag_handled(part)  # UID STORE +FLAGS.SILENT ($Integre \\Seen)
                    cursor = part[-1]
            except MailboxError as exc:  # e.g. the INBOX not made yet: try again shortly
                error = str(exc)
                time.sleep(0.2)
    finally:
        mailbox.close()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = round(usage.ru_utime + usage.ru_stime, 2)
    out.put((fetched, cpu) if fetched or not error else f"IMAP reader: {error} (keyword {HANDLED})")


class ImapReader:
    """A client reading `user`'s INBOX on Dovecot B over IMAP the way the PFI reads its applicative
    mailbox (maison/etablissement/pfi/mailbox.py, the same code): STARTTLS then LOGIN, `UID SEARCH
    UNKEYWORD $Integre`, per batch of up to `batch` messages their RFC822.SIZE then `BODY.PEEK[]`,
    then `$Integre \\Seen` set on them; IDLE while nothing is new. It stops once `expected`
    distinct messages are fetched (or after `timeout` s). A process of its own, as the PFI is.

    `result()` → Message-ID (without <>) → time.time() at which the batch holding the message had
    been fetched in full: the reference chain's end, the point where the PFI starts integrating.
    """

    def __init__(
        self,
        host: str,
        port: int,
        user: str,
        cafile: str | None,
        expected: int,
        timeout: float,
        *,
        password: str = IMAP_PASSWORD,
        batch: int = 16,
    ) -> None:
        context = multiprocessing.get_context("fork")
        self._queue: Queue = context.Queue()
        self._ready = context.Event()
        self._process = context.Process(
            target=_read_over_imap,
            name="mss-reference-imap",
            args=((host, port, user, password, cafile), expected, timeout, batch, self._queue, self._ready),
        )
        self._timeout = timeout
        self.cpu_s: float | None = None

    def start(self) -> ImapReader:
        """The reader started and logged in (as the PFI watches its mailbox before the load starts)."""
        self._process.start()
        self._ready.wait(60)
        return self

    def result(self) -> dict[str, float] | str:
        """What was fetched (or why nothing was); `cpu_s`: the reader's CPU seconds (user + system)."""
        try:
            found = self._queue.get(timeout=self._timeout + 30)
        except Exception:  # noqa: BLE001 — queue.Empty: the reader hung; reported, not raised
            found = "IMAP reader: no answer"
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        if isinstance(found, tuple):
            found, self.cpu_s = found
        return found


# --- the chain -----------------------------------------------------------------------------------


class ReferenceChain:
    """Postfix A → (mutual TLS) → Postfix B → LMTP → Dovecot B, on loopback, as a context manager.

    `__enter__` writes the configuration and starts Dovecot, then B, then A (each checked listening);
    `__exit__` stops all three even after an error. Ports not given in `ports` (keys: submission,
    relay, lmtp, imap, imaps) are free loopback ports picked at construction.
    """

    submission: tuple[str, int]
    """Where the load client connects: Postfix A's smtpd. It offers STARTTLS (a_cert) and accepts mail
    from 127.0.0.0/8 *without AUTH* (Postfix would need a SASL backend for it) for recipients of
    recipient_domain, relayed to B — the only difference with the project's submission port."""
    imap: tuple[str, int]
    """Dovecot B's IMAP (STARTTLS, b_cert); any recipient logs in with IMAP_PASSWORD."""
    imaps: tuple[str, int]

    def __init__(
        self,
        root: Path,
        *,
        ca_pem: Path,
        a_cert: Path,
        a_key: Path,
        b_cert: Path,
        b_key: Path,
        sender_domain: str,
        recipient_domain: str,
        recipients: list[str],
        ports: dict[str, int] | None = None,
        keep_mail: bool = False,
    ) -> None:
        unknown = set(ports or {}) - set(PORT_NAMES)
        if unknown:
            raise ValueError(f"unknown port names {sorted(unknown)}; expected {PORT_NAMES}")
        if not recipients:
            raise ValueError("at least one recipient is needed")
        self.root = Path(root).resolve()
        self.ca_pem, self.a_cert, self.a_key, self.b_cert, self.b_key = (
            Path(p).resolve() for p in (ca_pem, a_cert, a_key, b_cert, b_key)
        )
        self.sender_domain = sender_domain.lower()
        self.recipient_domain = recipient_domain.lower()
        self.recipients = sorted({r.lower() for r in recipients})
        for r in self.recipients:
            if r.rpartition("@")[2] != self.recipient_domain:
                raise ValueError(f"recipient {r} is not in {self.recipient_domain}")
        picked = iter(free_ports(len(PORT_NAMES)))
        self.ports = {name: (ports or {}).get(name) or next(picked) for name in PORT_NAMES}
        self.submission = ("127.0.0.1", self.ports["submission"])
        self.imap = ("127.0.0.1", self.ports["imap"])
        self.imaps = ("127.0.0.1", self.ports["imaps"])
        self.keep_mail = keep_mail
        self.a_host = _pick_name(self.a_cert, self.sender_domain, "A's")
        self.b_host = _pick_name(self.b_cert, self.recipient_domain, "B's")
        self.a_dir, self.b_dir, self.d_dir = self.root / "postfix-a", self.root / "postfix-b", self.root / "dovecot-b"
        self._dovecot: subprocess.Popen[bytes] | None = None
        self._started: list[Path] = []  # Postfix config directories started
        self._root_mode: int | None = None
        self._seen: dict[str, tuple[str, float] | None] = {}  # Maildir base name -> (Message-ID, time)

    # --- configuration ---

    def _prepare_root(self) -> None:
        """Make root reachable by `postfix` and `nobody` (their daemons open paths under it after
        dropping root) and clear an earlier chain's directories, and only those."""
        for parent in self.root.parents:
            if parent.exists() and not parent.stat().st_mode & stat.S_IXOTH:
                raise PermissionError(
                    f"{parent} is not searchable by other users: Postfix and Dovecot "
                    f"daemons (users {POSTFIX_USER}, {DOVECOT_USER}) could not reach {self.root}"
                )
        if not self.root.exists():
            self.root.mkdir(parents=True, mode=0o755)
            self.root.chmod(0o755)
        mode = self.root.stat().st_mode
        if not mode & stat.S_IXOTH:
            self._root_mode = stat.S_IMODE(mode)
            self.root.chmod(self._root_mode | stat.S_IXOTH)
        for d in (self.a_dir, self.b_dir, self.d_dir):
            if d.exists():
                if not (d / MARKER).exists():
                    raise FileExistsError(f"{d} exists and was not made by {__name__}; not replacing it")
                shutil.rmtree(d)
            d.mkdir(mode=0o755)
            (d / MARKER).write_text("made by bench/mss_reference.py; replaced by the next chain on this root\n")

    def _copy(self, source: Path, target: Path, mode: int, owner: str | None = None) -> Path:
        target.write_bytes(source.read_bytes())
        target.chmod(mode)
        if owner:
            shutil.chown(target, owner, DOVECOT_GROUP if owner == DOVECOT_USER else None)
        return target

    def _postfix(self, base: Path, port: int, extra: str) -> Path:
        """One Postfix instance: config in base/etc, queue in base/spool (never inside the config
        directory: `postfix check` wants the whole config tree root-owned)."""
        etc, spool, data = base / "etc", base / "spool", base / "data"
        for d in (etc, etc / "tls", spool, data):
            d.mkdir(mode=0o755)
        master = []
        for line in MASTER_CF_DIST.read_text().splitlines():
            fields = line.split()
            if re.match(r"smtp\s+inet\s", line):
                line = f"127.0.0.1:{port}  inet  n  -  n  -  -  smtpd"
            elif line[:1].isalpha() and len(fields) >= 8 and fields[4] == "y":
                fields[4] = "n"  # no chroot: the jail would be our queue directory
                line = "  ".join(fields)
            master.append(line)
        (etc / "master.cf").write_text("\n".join(master) + "\n")
        (etc / "main.cf").write_text(f"""\
# generated by bench/mss_reference.py
compatibility_level = 3.6
config_directory = {etc}
queue_directory = {spool}
data_directory = {data}
maillog_file = {base}/maillog
maillog_file_prefixes = {base}
mail_owner = {POSTFIX_USER}
setgid_group = {POSTFIX_GROUP}
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
biff = no
smtputf8_enable = no
# DNS-free: every next hop is a literal address
disable_dns_lookups = yes
smtp_host_lookup = native
smtp_dns_support_level = disabled
{extra}""")
        return etc

    def _configure(self) -> None:
        tls_a, tls_b = self.a_dir / "etc" / "tls", self.b_dir / "etc" / "tls"
        self._postfix(
            self.a_dir,
            self.ports["submission"],
            f"""\
myhostname = {self.a_host}
mydomain = {self.sender_domain}
myorigin = $mydomain
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_tls_security_level = may
smtpd_tls_cert_file = {tls_a}/a.pem
smtpd_tls_key_file = {tls_a}/a.key
transport_maps = inline:{{ {self.recipient_domain}=smtp:[127.0.0.1]:{self.ports["relay"]} }}
smtp_tls_security_level = secure
smtp_tls_CAfile = {tls_a}/ca.pem
smtp_tls_cert_file = {tls_a}/a.pem
smtp_tls_key_file = {tls_a}/a.key
# inline: values containing spaces must be wrapped in {{...}}
smtp_tls_policy_maps = inline:{{ {{[127.0.0.1]:{self.ports["relay"]} = secure match={self.b_host}}} }}
smtp_tls_loglevel = 1
""",
        )
        self._copy(self.ca_pem, tls_a / "ca.pem", 0o644)
        self._copy(self.a_cert, tls_a / "a.pem", 0o644)
        self._copy(self.a_key, tls_a / "a.key", 0o600)
        mailboxes = self.b_dir / "etc" / "virtual_mailboxes"
        self._postfix(
            self.b_dir,
            self.ports["relay"],
            f"""\
myhostname = {self.b_host}
mydomain = {self.recipient_domain}
mynetworks =
smtpd_tls_security_level = encrypt
smtpd_tls_cert_file = {tls_b}/b.pem
smtpd_tls_key_file = {tls_b}/b.key
smtpd_tls_CAfile = {tls_b}/ca.pem
smtpd_tls_ask_ccert = yes
smtpd_tls_req_ccert = yes
smtpd_tls_fingerprint_digest = sha256
smtpd_tls_loglevel = 1
smtpd_client_restrictions = check_ccert_access inline:{{ {_postfix_fingerprint(self.a_cert)}=OK }}, reject
smtpd_relay_restrictions = reject_unauth_destination
virtual_mailbox_domains = {self.recipient_domain}
virtual_mailbox_maps = texthash:{mailboxes}
virtual_transport = lmtp:inet:127.0.0.1:{self.ports["lmtp"]}
""",
        )
        mailboxes.write_text("".join(f"{r} ok\n" for r in self.recipients))
        self._copy(self.ca_pem, tls_b / "ca.pem", 0o644)
        self._copy(self.b_cert, tls_b / "b.pem", 0o644)
        self._copy(self.b_key, tls_b / "b.key", 0o600)

        d = self.d_dir
        uid, gid = pwd.getpwnam(DOVECOT_USER).pw_uid, grp.getgrnam(DOVECOT_GROUP).gr_gid
        for sub in ("run", "state", "mail", "tls"):
            (d / sub).mkdir(mode=0o755)
        self._copy(self.b_cert, d / "tls" / "b.pem", 0o600, DOVECOT_USER)  # read by the instance's own user
        self._copy(self.b_key, d / "tls" / "b.key", 0o600, DOVECOT_USER)
        (d / "users").write_text("".join(f"{r}::{uid}:{gid}::{d}/mail/{r}::\n" for r in self.recipients))
        (d / "dovecot.conf").write_text(f"""\
# generated by bench/mss_reference.py: rootless Dovecot for {self.recipient_domain}
instance_name = mss-reference-{self.ports["lmtp"]}
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1
default_internal_user = {DOVECOT_USER}
default_internal_group = {DOVECOT_GROUP}
default_login_user = {DOVECOT_USER}
first_valid_uid = {uid}
ssl = required
ssl_cert = <{d}/tls/b.pem
ssl_key = <{d}/tls/b.key
mail_location = maildir:~/Maildir
passdb {{
  driver = static
  args = password={IMAP_PASSWORD}
}}
userdb {{
  driver = passwd-file
  args = {d}/users
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {self.ports["imap"]}
  }}
  inet_listener imaps {{
    port = {self.ports["imaps"]}
    ssl = yes
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {self.ports["lmtp"]}
  }}
}}
protocol lmtp {{
  # RCPT TO carries the full address; keep the domain for the userdb lookup
  auth_username_format = %Lu
}}
""")
        for path in [d, *d.rglob("*")]:
            os.chown(path, uid, gid)

    # --- start / stop ---

    def _start_dovecot(self) -> None:
        d = self.d_dir
        uid, gid = pwd.getpwnam(DOVECOT_USER).pw_uid, grp.getgrnam(DOVECOT_GROUP).gr_gid
        out = open(d / "dovecot.stdout", "wb")
        with out:
            # foreground (-F) in a session of its own: the session id finds every Dovecot process on stop
            self._dovecot = subprocess.Popen(
                [
                    "setpriv",
                    f"--reuid={uid}",
                    f"--regid={gid}",
                    "--clear-groups",
                    "dovecot",
                    "-F",
                    "-c",
                    str(d / "dovecot.conf"),
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=d,
                start_new_session=True,
                env={"PATH": _PATH, "LANG": "C"},
            )
        dovecot = self._dovecot
        if not _wait_greeting(self.ports["lmtp"], b"Dovecot", time.monotonic() + 15, lambda: dovecot.poll() is None):
            raise RuntimeError(
                "Dovecot did not start:\n" + _tail(d / "dovecot.stdout") + "\n" + _tail(d / "dovecot.log")
            )

    def _start_postfix(self, base: Path, port: int, hostname: str) -> None:
        etc, log = base / "etc", base / "maillog"
        _run(["postfix", "-c", str(etc), "set-permissions"], f"postfix -c {etc} set-permissions", log)
        _run(["postfix", "-c", str(etc), "check"], f"postfix -c {etc} check", log)
        self._started.append(etc)
        _run(["postfix", "-c", str(etc), "start"], f"postfix -c {etc} start", log)
        if not _wait_greeting(port, f" {hostname} ESMTP".encode(), time.monotonic() + 15):
            raise RuntimeError(f"Postfix {etc} is not listening on 127.0.0.1:{port}\n" + _tail(log))

    def __enter__(self) -> ReferenceChain:
        why = unavailable()
        if why:
            raise RuntimeError(f"the reference chain cannot run here: {why}")
        self._seen.clear()
        # the files and directories made here must be readable by `postfix` and `nobody` whatever
        # the caller's umask (a root shell with umask 077 would lock the daemons out)
        umask = os.umask(0o022)
        try:
            _check_free(self.ports)
            self._prepare_root()
            self._configure()
            self._start_dovecot()
            self._start_postfix(self.b_dir, self.ports["relay"], self.b_host)
            self._start_postfix(self.a_dir, self.ports["submission"], self.a_host)
        except BaseException:
            self.stop()
            raise
        finally:
            os.umask(umask)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop both Postfix instances and Dovecot; SIGKILL, by pid, whatever of theirs is left.

        Safe to call twice and after a partial start: every step runs even if an earlier one failed.
        """
        errors: list[str] = []
        for etc in reversed(self._started):  # A first: it feeds B
            try:
                subprocess.run(
                    ["script", "-qec", shlex.join(["postfix", "-c", str(etc), "stop"]), "/dev/null"],
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    env={**os.environ, "PATH": _PATH},
                    timeout=60,
                )
            except (OSError, subprocess.SubprocessError) as exc:
                errors.append(f"postfix -c {etc} stop: {exc}")  # the kill below still applies
        for etc in reversed(self._started):
            left = _kill_all(functools.partial(_postfix_pids, etc), grace=10)
            if left:
                errors.append(f"Postfix {etc}: processes {left} survived SIGKILL")
        self._started.clear()
        if self._dovecot is not None:
            sid = self._dovecot.pid
            # SIGTERM to the master, by pid, is what `doveadm stop` sends; doveadm then polls once a
            # second, so signalling directly saves about 2 s per chain
            self._dovecot.terminate()
            try:
                self._dovecot.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            left = _kill_all(lambda: _session_pids(sid), grace=5)
            try:
                self._dovecot.wait(timeout=5)
            except subprocess.TimeoutExpired:
                errors.append(f"Dovecot master {sid} did not exit")
            if left:
                errors.append(f"Dovecot: processes {left} survived SIGKILL")
            self._dovecot = None
        if not self.keep_mail and (self.d_dir / "mail").exists() and (self.d_dir / MARKER).exists():
            shutil.rmtree(self.d_dir / "mail", ignore_errors=True)
        if self._root_mode is not None:
            self.root.chmod(self._root_mode)
            self._root_mode = None
        if errors:
            raise RuntimeError("; ".join(errors))

    def processes(self) -> list[int]:
        """Pids of every live process of the chain (both Postfix instances, Dovecot): for CPU or
        memory accounting by the caller, and to check that nothing is left after the exit."""
        pids = [pid for etc in (self.a_dir / "etc", self.b_dir / "etc") for pid in _postfix_pids(etc)]
        return pids + (_session_pids(self._dovecot.pid) if self._dovecot is not None else [])

    # --- what arrived ---

    def maildir(self, recipient: str) -> Path:
        """Where Dovecot keeps `recipient`'s INBOX (a Maildir made at the first delivery)."""
        return self.d_dir / "mail" / recipient.lower() / "Maildir"

    def delivered(self) -> dict[str, float]:
        """Message-ID (without <>) → time.time() at which Dovecot stored it, for every message in the
        recipients' Maildirs (new/ and cur/).

        The time is the file's mtime: Dovecot writes the message into tmp/, fsyncs it and renames it
        into new/, so the last write is the storing moment within a few ms (the name's M<µs> timestamp
        is when the write began, and the ctime, set by the rename, moves again whenever a client
        changes flags; Dovecot does not set the mtime itself on LMTP delivery, checked).
        Each file is parsed once (only its header section) and cached under its base name, which
        survives the move to cur/ and flag changes, so a poll costs one directory listing per Maildir
        folder (about 3 ms for 3 000 messages). A message stored for several recipients counts once,
        at its latest copy.
        """
        result: dict[str, float] = {}
        for recipient in self.recipients:
            for folder in ("new", "cur"):
                try:
                    entries = list(os.scandir(self.maildir(recipient) / folder))
                except FileNotFoundError:
                    continue
                for entry in entries:
                    if entry.name.startswith("."):
                        continue
                    key = recipient + "/" + entry.name.split(":", 1)[0]
                    if key not in self._seen:
                        try:
                            when = entry.stat().st_mtime_ns / 1e9
                            msgid = _message_id(Path(entry.path))
                        except FileNotFoundError:  # moved new/ -> cur/ meanwhile: seen there next time
                            continue
                        self._seen[key] = (msgid, when) if msgid else None
                    seen = self._seen[key]
                    if seen is not None:
                        msgid, when = seen
                        result[msgid] = max(when, result.get(msgid, 0.0))
        return result

    def wait_for(self, count: int, timeout: float) -> dict[str, float]:
        """Poll delivered() every 0.2 s until `count` distinct messages are stored or `timeout` s pass."""
        deadline = time.monotonic() + timeout
        while True:
            done = self.delivered()
            if len(done) >= count or time.monotonic() >= deadline:
                return done
            time.sleep(0.2)


# --- self-check ----------------------------------------------------------------------------------


def _self_check(messages: int = 300, connections: int = 4, per_connection: int = 25) -> None:
    import queue
    import smtplib
    import ssl
    import sys
    import tempfile
    import threading
    from email.message import EmailMessage
    from email.utils import make_msgid

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from maison.partage.mss.pki import Authority

    why = unavailable()
    if why:
        raise SystemExit(f"cannot run: {why}")
    with tempfile.TemporaryDirectory(prefix="mss-reference-") as tmp:
        base = Path(tmp)
        base.chmod(0o755)
        authority = Authority(base / "pki")
        a = authority.issue("opa", ["mx.opa.test", "opa.test"], "OPA")
        b = authority.issue("opb", ["mx.opb.test", "opb.test"], "OPB")
        recipients = ["bob@opb.test", "carol@opb.test"]
        items: list[tuple[str, str, bytes]] = []
        for i in range(messages):
            m = EmailMessage()
            to = recipients[i % len(recipients)]
            m["From"], m["To"], m["Subject"] = "alice@opa.test", to, f"reference chain {i}"
            msgid = make_msgid(idstring=f"n{i}", domain="opa.test")
            m["Message-ID"] = msgid
            m.set_content("Compte rendu en pièce jointe.\n")
            m.add_attachment(
                os.urandom(200_000), maintype="application", subtype="octet-stream", filename=f"piece-{i}.bin"
            )
            items.append((msgid.strip("<>"), to, m.as_bytes()))
        print(f"{messages} messages of {sum(len(r) for *_x, r in items) / messages / 1000:.0f} KB on average")

        t0 = time.monotonic()
        with ReferenceChain(
            base / "chain",
            ca_pem=authority.cert_path,
            a_cert=a.cert,
            a_key=a.key,
            b_cert=b.cert,
            b_key=b.key,
            sender_domain="opa.test",
            recipient_domain="opb.test",
            recipients=recipients,
        ) as chain:
            print(f"chain up in {time.monotonic() - t0:.2f} s, ports {chain.ports}, B named {chain.b_host}")
            context = ssl.create_default_context(cafile=str(authority.cert_path))
            work: queue.Queue[tuple[str, str, bytes]] = queue.Queue()
            for item in items:
                work.put(item)
            sent: dict[str, float] = {}
            failures: list[BaseException] = []

            def client() -> None:
                try:
                    while not work.empty():
                        with smtplib.SMTP(*chain.submission, timeout=60) as s:
                            s.starttls(context=context)
                            for _ in range(per_connection):
                                try:
                                    msgid, to, raw = work.get_nowait()
                                except queue.Empty:
                                    break
                                s.sendmail("alice@opa.test", [to], raw)
                                sent[msgid] = time.time()
                except BaseException as exc:  # noqa: BLE001 — reported after the join
                    failures.append(exc)

            start = time.time()
            threads = [threading.Thread(target=client) for _ in range(connections)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if failures:
                raise RuntimeError(f"submission failed: {failures[0]!r}")
            submitted = max(sent.values())
            done = chain.wait_for(messages, timeout=300)
            mine = {k: v for k, v in done.items() if k in sent}
            if len(mine) < messages:
                raise SystemExit(
                    f"only {len(mine)} of {messages} delivered\n"
                    + _tail(chain.a_dir / "maillog")
                    + "\n"
                    + _tail(chain.b_dir / "maillog")
                    + "\n"
                    + _tail(chain.d_dir / "dovecot.log")
                )
            last = max(mine.values())
            latencies = sorted((mine[k] - sent[k]) * 1000 for k in sent)
            p50 = latencies[len(latencies) // 2]
            p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
            print(
                f"submitted {messages} in {submitted - start:.2f} s ({messages / (submitted - start):.1f}/s) "
                f"over {connections} STARTTLS connections, {per_connection} messages per connection"
            )
            print(
                f"delivered {len(mine)} in {last - start:.2f} s: {messages / (last - start):.1f} messages/s "
                f"end to end; latency p50 {p50:.0f} ms, p95 {p95:.0f} ms, max {latencies[-1]:.0f} ms"
            )
            verified = "Verified TLS connection established" in (chain.a_dir / "maillog").read_text()
            trusted = "Trusted TLS connection established" in (chain.b_dir / "maillog").read_text()
            print(f"A verified B's certificate: {verified}; B trusted A's client certificate: {trusted}")
            running = chain.processes()
        print(f"{len(running)} processes while running; after the exit: {chain.processes() or 'none left'}")


if __name__ == "__main__":
    _self_check()
