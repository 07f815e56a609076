"""The trust space's answer to the Annuaire: which domains an operator serves, whose mailbox an
address is (issue 18 §1.2; maison/identite/annuaire/operators.py states the rule).

The Annuaire (identite layer) may not import MSSanté (partage): the house plugs this registry into
it. It reads the trust space's operators and the local operators' mailboxes in the Annuaire's own
transaction (one database), so that what is checked is what is committed.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from maison.identite.annuaire.operators import HostedMailbox, OperatorRights
from maison.partage.mss import store

Op, M = store.mss_operator, store.mss_mailbox


class TrustSpaceRegistry:
    """`maison.identite.annuaire.operators.MailboxRegistry` over the trust space's tables."""

    def operator(self, conn: Connection, operator_id: str) -> OperatorRights | None:
        row = conn.execute(
            sa.select(Op.c.domains, Op.c.local).where(Op.c.id == operator_id, Op.c.active.is_(True))
        ).first()
        if row is None:
            return None
        domains = frozenset(d.strip().lower() for d in row.domains.split(",") if d.strip())
        return OperatorRights(domains, keeps_registry=bool(row.local))

    def mailbox(self, conn: Connection, address: str) -> HostedMailbox | None:
        row = conn.execute(
            sa.select(M.c.operator, M.c.kind, M.c.owner, M.c.active).where(M.c.address == address.strip().lower())
        ).first()
        return None if row is None else HostedMailbox(row.operator, row.kind, row.owner, bool(row.active))
