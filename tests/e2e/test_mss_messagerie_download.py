"""A patient downloads what a professional attached, whatever its name and declared type (issue 18
§2.4, §3): RFC 6266 names, a safe type, nosniff; a name that is not Latin-1 downloads too."""

from __future__ import annotations

from urllib.parse import unquote

from maison.formats import mime as message
from tests.e2e.test_mss_messagerie import house, module_pros, mss, pros, setting  # noqa: F401 - the fixtures
from tests.e2e.test_mss_smtp import _client, _delivered
from tests.partage.mss_world import PFI_PASSWORD

HOSTILE = [
    ('ordonnance_été_处方".pdf\r\nX-Injected: 1', "application/pdf", b"%PDF-1.4 ordonnance"),
    ("page.svg", "image/svg+xml", b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>"),
    ("../../etc/passwd.html", "text/html", b"<script>document.cookie</script>"),
]


def test_hostile_attachment_names_and_types_download_safely(setting, house):  # noqa: F811
    trust, http, sender, box = setting.mss, setting.http, setting.sender, setting.patient.box
    out = message.Outgoing(
        sender,
        [box],
        "Vos documents",
        "Bonjour, voici vos documents.",
        [message.Attachment(name, kind, data) for name, kind, data in HOSTILE],
    )
    with _client(trust, "chu-test") as client:
        client.login(sender, PFI_PASSWORD)
        client.sendmail(sender, [box], message.as_bytes(message.compose(out, domain="chu-test.mssante.fr")))
    assert _delivered(house, box)
    uid = http.get("").json()["messages"][0]["uid"]
    for n, (_name, _kind, data) in enumerate(HOSTILE):
        piece = http.get(f"/{uid}/pieces/{n}")
        assert piece.status_code == 200, piece.text
        assert piece.content == data
        assert piece.headers["x-content-type-options"] == "nosniff"
        assert "x-injected" not in piece.headers
        disposition = piece.headers["content-disposition"]
        assert disposition.startswith('attachment; filename="') and "\r" not in disposition
        encoded = disposition.split("filename*=UTF-8''", 1)[1]
        assert "/" not in unquote(encoded) and "\n" not in unquote(encoded)
    assert http.get(f"/{uid}/pieces/0").headers["content-type"] == "application/pdf"
    assert "处方" in unquote(http.get(f"/{uid}/pieces/0").headers["content-disposition"].split("''", 1)[1])
    for n in (1, 2):  # SVG and HTML are not rendered in Mon espace santé's origin
        assert http.get(f"/{uid}/pieces/{n}").headers["content-type"] == "application/octet-stream"
