"""audit.records_after / last_seq: how the observatory folds the trail by a seq cursor (issue 23)."""

from maison.core import audit
from maison.core.actor import Actor

WHO = Actor("8100000000002", "1750000019", "IDAM-A", kind="professional")


def test_a_window_of_seq_and_only_the_actions_asked_for(db):
    with db.write() as conn:
        assert audit.last_seq(conn) == 0
        for action in ("dmp.alimenter", "dmp.consulter", "dmp.alimenter", "mss.remettre", "dmp.alimenter"):
            audit.Trail.write(conn, WHO, action)
    with db.read() as conn:
        head = audit.last_seq(conn)
        first = audit.records_after(conn, 0, 3, ["dmp.alimenter", "mss.remettre"])
        rest = audit.records_after(conn, 3, head, ["dmp.alimenter", "mss.remettre"])
    assert head == 5
    assert [(r["seq"], r["action"]) for r in first] == [(1, "dmp.alimenter"), (3, "dmp.alimenter")]
    assert [(r["seq"], r["action"]) for r in rest] == [(4, "mss.remettre"), (5, "dmp.alimenter")]
