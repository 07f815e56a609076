"""The operators' SMTP server class (maison/partage/mss/smtp.py), below its listeners."""

from __future__ import annotations

import pytest
from aiosmtpd.smtp import SMTP

from maison.partage.mss.smtp import MssSMTP

PATHS = [
    "<pfi@chu-bench.mssante.fr> SIZE=270000",
    "<pfi@chu-bench.mssante.fr>",
    "<claire.martin+lettres@medecin.mssante.fr> SIZE=1 BODY=8BITMIME",
    " <a@b.fr>  SIZE=1 BODY=8BITMIME ",
    "<a@b.fr>SIZE=1",
    "<a@x.fr> ",
    "<a@x.fr> SIZE=1\t",
    "<a@x.fr>\tSIZE=2",
    "<>",
    '<"a b"@x.fr>',
    "<a b@x.fr>",
    "<@relay.fr:a@b.fr>",
    "<a..b@x.fr>",
    "<.a@x.fr>",
    "<a@-x.fr>",
    "<a@x..fr>",
    "<a@[1.2.3.4]>",
    "<a(commentaire)@x.fr>",
    "<" + "a" * 64 + "@x.fr>",
    "<" + "a" * 65 + "@x.fr>",
    "a@x.fr",
    "<a@x.fr",
    "<é@x.fr>",
    "<a@x_y.fr>",
    "<a@x.fr>\r\nRCPT TO:<b@x.fr>",
    "\t<a@x.fr>",
    "<a@x.fr>\n",
    "<a@x.fr> SIZE=1 \x00",
    "",
]


@pytest.mark.parametrize("path", PATHS)
def test_a_path_is_read_as_aiosmtpd_reads_it(path):
    """The fast path for `<local@domain>` answers exactly what the library's RFC 5322 parser
    answers (address and parameters, or None for a path it refuses), including the local part's
    64-octet limit (RFC 5321 §4.5.3.1.1)."""
    ours = MssSMTP.__new__(MssSMTP)
    library = SMTP.__new__(SMTP)
    ours.local_part_limit = library.local_part_limit = 64
    assert ours._getaddr(path) == library._getaddr(path)
