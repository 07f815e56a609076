"""The trust space's answer to the Annuaire: which domains an operator serves, whose mailbox an
address is (issue 18 §1.2; maison/identite/annuaire/operators.py states the rule).

The Annuaire (identite layer) may not import MSSanté (partage): the house plugs this registry into
it. It reads the trust space's operators and the local operators' mailboxes in the Annuaire's own
transaction (one database), so that what is checked is what is committed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from maison.identite.annuaire.operators import HostedMailbox, OperatorRights
from maison.partage.mss import store

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


class TrustSpaceRegistry:
    """`maison.identite.annuaire.operators.MailboxRegistry` over the trust space's tables."""

    def operator(self, conn: Connection, operator_id: str) -> OperatorRights | None:
        row = store.active_operator_rights(conn, operator_id)
        if row is None:
            return None
        domains = frozenset(d.strip().lower() for d in row.domains.split(",") if d.strip())
        return OperatorRights(domains, keeps_registry=bool(row.local))

    def mailbox(self, conn: Connection, address: str) -> HostedMailbox | None:
        row = store.mailbox_hosting(conn, address.strip().lower())
        return None if row is None else HostedMailbox(row.operator, row.kind, row.owner, bool(row.active))
