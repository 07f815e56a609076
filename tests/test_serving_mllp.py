"""The MLLP listener's process: TLS required off loopback (as every listener of the house), the
house's certificate used, the sender's certificate required when an authority is configured."""

import ssl

import pytest

from maison import serving_mllp
from maison.core import pki
from maison.core.config import Settings


def test_off_loopback_without_tls_is_refused(tmp_path):
    with pytest.raises(ValueError, match="TLS"):
        serving_mllp.tls_context(Settings(data_dir=tmp_path, host="0.0.0.0", mllp_port=2575))
    assert serving_mllp.tls_context(Settings(data_dir=tmp_path, mllp_port=2575)) is None


def test_tls_with_the_house_certificate_and_client_authority(tmp_path):
    authority = pki.Authority(tmp_path / "pki")
    issued = authority.issue_server("mllp", ["hopital.example"])
    settings = Settings(data_dir=tmp_path, host="0.0.0.0", tls_cert=str(issued.cert), tls_key=str(issued.key))
    assert serving_mllp.tls_context(settings).verify_mode == ssl.CERT_NONE
    mutual = serving_mllp.tls_context(Settings(**{**settings.__dict__, "mllp_tls_ca": str(authority.cert_path)}))
    assert mutual.verify_mode == ssl.CERT_REQUIRED


def test_the_handlers_of_the_hospital_wing(house):
    assert "ADT" in serving_mllp.handlers(house)
