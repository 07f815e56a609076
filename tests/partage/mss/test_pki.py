"""The trust space's test authority: operator certificates (maison.partage.mss.pki)."""

from __future__ import annotations

import ipaddress
import ssl

from cryptography import x509

from maison.partage.mss.pki import Authority


def test_an_operator_certificate_names_its_domains_and_localhost(tmp_path):
    """Issue 21 §1.4: on one machine an operator is reached by localhost too (a client that matches DNS
    names only, as mbsync, refused 127.0.0.1); its domains stay first, the CN the first of them."""
    authority = Authority(tmp_path)
    issued = authority.issue("chu", ["chu.mssante.fr", "mssante.chu.fr"], "CHU")
    cert = x509.load_pem_x509_certificate(issued.cert.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["chu.mssante.fr", "mssante.chu.fr", "localhost"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    context = ssl.create_default_context(cafile=str(authority.cert_path))
    context.load_cert_chain(str(issued.cert), str(issued.key))  # the key matches the certificate
