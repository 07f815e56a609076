"""Security events of the token logins to an operator's servers (issue 18 §2.5).

A password login (SMTP AUTH PLAIN/LOGIN, IMAP LOGIN/AUTHENTICATE PLAIN) is recorded by the
mailboxes' throttle (maison.core.lockout). A Pro Santé Connect token (XOAUTH2, OAUTHBEARER; RFC 7628)
cannot be guessed, so it is not throttled, but its successes and failures are security events all
the same (IHE BALP / DICOM 110114 "User Authentication"): who, which mailbox, by what, from where,
in the same shape as the throttle's (`service` mss, the account as `compte`).
"""

from __future__ import annotations

from maison.core import audit
from maison.core.actor import Actor
from maison.core.lockout import account_key


def token_login(
    trail: audit.Trail, *, ok: bool, mailbox: str, person: str | None, via: str, mechanism: str, source: str
) -> None:
    """Record one token login to `mailbox` (`via` smtp or imap) as `connexion` or `connexion-echec`:
    it changes nothing, so its record is group-committed through the journal (returns once durable)."""
    actor = Actor(person=person, structure="", software=via) if person else audit.anonymous(source, software=via)
    trail.security(
        "connexion" if ok else "connexion-echec",
        actor,
        outcome="success" if ok else "failure",
        detail={
            "service": "mss",
            "compte": account_key(mailbox or ""),
            "source": source,
            "methode": mechanism,
            "via": via,
        },
    )
