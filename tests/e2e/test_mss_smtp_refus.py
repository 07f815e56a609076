"""An MSSanté operator's SMTP refusals over real sockets (SPEC §4): STARTTLS then AUTH required, the
greetings naming no software, MAIL FROM bound to the login, recipients outside the trust space, the
relay port's certificate and sender domain checks, oversized and malformed messages; and the LOGIN
mechanism both ways. Nothing here is delivered, so the tests of one backend share one house and one
trust space of operators (tests/e2e/mss_shared.py), each in an SMTP session of its own. What is
delivered is tested in test_mss_smtp.py, each test with mailboxes of its own."""

from __future__ import annotations

import smtplib
import socket
import ssl

import pytest

from maison.partage.mss.pki import Authority
from tests.e2e import mss_shared
from tests.e2e.test_mss_smtp import _as_the_hospital_relay, _client
from tests.partage.mss_world import GP, HOPITAL_DOMAIN, MEDECIN_DOMAIN, PFI, PFI_PASSWORD

mss = mss_shared.mss


def test_submission_requires_starttls_then_auth(mss):
    endpoints = mss.endpoints("chu-test")
    with smtplib.SMTP("127.0.0.1", endpoints.submission, timeout=20) as plain:
        plain.ehlo()
        assert plain.has_extn("starttls") and not plain.has_extn("auth")
        code, _ = plain.mail(PFI)
        assert code == 530  # Must issue a STARTTLS command first
    with _client(mss, "chu-test") as client:
        code, _ = client.mail(PFI)
        assert code == 530 and client.has_extn("auth")  # authentication required, offered once under TLS
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            client.login(PFI, "pas-le-bon-mot-de-passe")
        assert refused.value.smtp_code == 535


def test_the_greetings_name_no_software_and_no_version(mss):
    """Submission and relay greet with the operator's domain only (aiosmtpd said "Python SMTP 1.4.6"):
    a scanner learns nothing to look up in a vulnerability database."""
    endpoints = mss.endpoints("chu-test")
    for port in (endpoints.submission, endpoints.relay):
        with socket.create_connection(("127.0.0.1", port), timeout=20) as raw:
            greeting = raw.makefile("rb").readline()
        assert greeting.startswith(b"220 chu-test.mssante.fr ESMTP"), greeting
        assert b"Python" not in greeting and not any(c.isdigit() for c in greeting[4:].decode()), greeting


def test_login_mechanism_with_and_without_initial_response(mss):
    for initial in (True, False):
        with _client(mss, "chu-test") as client:
            client.user, client.password = PFI, PFI_PASSWORD
            code, _ = client.auth("LOGIN", client.auth_login, initial_response_ok=initial)
            assert code == 235


def test_mail_from_must_be_the_authenticated_mailbox(mss):
    with _client(mss, "chu-test") as client:
        client.login(PFI, PFI_PASSWORD)
        code, text = client.mail(f"directeur@{HOPITAL_DOMAIN}")
        assert code == 553 and b"5.7.1" in text


def test_outside_the_trust_space_refused_at_rcpt(mss):
    with _client(mss, "chu-test") as client:
        client.login(PFI, PFI_PASSWORD)
        client.mail(PFI)
        code, text = client.rcpt("quelquun@gmail.com")
        assert code == 550 and b"5.7.1" in text and b"espace de confiance" in text
        code, text = client.rcpt(f"inconnu@{HOPITAL_DOMAIN}")
        assert code == 550 and b"5.1.1" in text


def test_relay_port_refuses_a_client_without_the_registered_certificate(mss, tmp_path):
    endpoints = mss.endpoints("medecins")
    trust = ssl.create_default_context(cafile=str(mss.mss.authority.cert_path))
    with smtplib.SMTP("127.0.0.1", endpoints.relay, timeout=20) as anonymous:
        anonymous.starttls(context=trust)
        anonymous.ehlo()
        code, text = anonymous.mail(PFI)
        assert code == 550 and b"5.7.1" in text
    # a certificate of the same authority that the trust space did not register
    rogue = mss.mss.authority.issue("rogue", ["rogue.mssante.fr"], "ROGUE")
    context = ssl.create_default_context(cafile=str(mss.mss.authority.cert_path))
    context.load_cert_chain(str(rogue.cert), str(rogue.key))
    with smtplib.SMTP("127.0.0.1", endpoints.relay, timeout=20) as impostor:
        impostor.starttls(context=context)
        impostor.ehlo()
        code, _ = impostor.mail(PFI)
        assert code == 550
    # a certificate of another authority: the TLS handshake itself fails
    other = Authority(tmp_path / "autre-ac", name="AC PIRATE").issue("pirate", ["pirate.fr"], "PIRATE")
    context = ssl.create_default_context(cafile=str(mss.mss.authority.cert_path))
    context.load_cert_chain(str(other.cert), str(other.key))
    with pytest.raises((ssl.SSLError, smtplib.SMTPServerDisconnected, ConnectionError)):
        with smtplib.SMTP("127.0.0.1", endpoints.relay, timeout=20) as pirate:
            pirate.starttls(context=context)
            pirate.mail(PFI)


def test_relay_checks_the_sender_domain_belongs_to_the_peer(mss):
    with _as_the_hospital_relay(mss) as relay:
        code, text = relay.mail(f"someone@{MEDECIN_DOMAIN}")  # the CHU cannot speak for the other operator
        assert code == 550 and b"5.7.1" in text


def test_oversized_and_malformed_messages_refused(mss):
    with _client(mss, "chu-test") as client:
        client.login(PFI, PFI_PASSWORD)
        with pytest.raises(smtplib.SMTPSenderRefused) as too_big:
            client.sendmail(PFI, [GP], b"Subject: x\r\n\r\n" + b"A" * 76 + b"\r\n" * 1 + (b"B" * 76 + b"\r\n") * 40_000)
        assert too_big.value.smtp_code == 552
    with _client(mss, "chu-test") as client:
        client.login(PFI, PFI_PASSWORD)
        with pytest.raises(smtplib.SMTPDataError) as no_id:
            client.sendmail(
                PFI, [GP], f"From: {PFI}\r\nTo: {GP}\r\nSubject: sans identifiant\r\n\r\ncorps\r\n".encode()
            )
        assert no_id.value.smtp_code == 554 and b"Message-ID" in no_id.value.smtp_error
