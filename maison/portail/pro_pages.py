"""What every professional page of `/pro` shares: its session, the Actor it acts as, CSRF, its frame.

A professional's session is opened by his Pro Santé Connect login (portal "pro") and keeps the Actor
that login established (`Session.actor`): every page hands that Actor to the same service function
the API route calls, so the services decide and audit exactly as for the API caller. No session, or
a session of another portal: the French 401 page. Routes are `@public(SESSION_PAGE)`: the portal
checks its own session (patient.py does the same).
"""

from __future__ import annotations

from typing import ClassVar

from fastapi import Request

from maison.core.actor import Actor
from maison.core.errors import Forbidden, Unauthenticated
from maison.portail.pro import BASE, COOKIE, LANDING, NAV, PORTAL, PORTAL_NAME
from maison.portail.sessions import Session, Sessions
from maison.portail.web import PortalRoute, check_token, read_form

__all__ = ["BASE", "COOKIE", "SESSION_PAGE", "ProPages", "ProRoute"]

SESSION_PAGE = "page de l'espace professionnel : la session du portail est vérifiée par le portail lui-même"


# error pages that name the professional's portal and link to its home (as pro.py's own routes)
class ProRoute(PortalRoute):
    context: ClassVar[dict[str, str]] = {"portal_name": PORTAL_NAME, "home": LANDING}


class ProPages:
    """The session side of a /pro page: who is logged in, as which Actor, and the frame of the page."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    def session(self, request: Request) -> Session:
        found = self.sessions.find(request.cookies.get(COOKIE), PORTAL)
        if found is None:
            raise Unauthenticated("session expirée ou absente : reconnectez-vous", code="session")
        return found

    def actor(self, session: Session) -> Actor:
        actor = session.actor
        if actor is None:  # a pro session is always opened with the login's Actor
            raise Forbidden("session sans professionnel : reconnectez-vous", code="session")
        return actor

    def caller(self, request: Request) -> tuple[Session, Actor]:
        session = self.session(request)
        return session, self.actor(session)

    async def posted(self, request: Request) -> tuple[Session, Actor, dict[str, str]]:
        """A POST of a logged-in page: its session and Actor, and its form once the CSRF token is checked."""
        form = await read_form(request)
        session, actor = self.caller(request)
        check_token(session.csrf, form, request)
        return session, actor, form

    def context(self, session: Session, current: str, **more: object) -> dict:
        """base.html's frame: the portal's navigation (pro.NAV), logout, the session's CSRF token."""
        return {
            "nav": NAV,
            "current": current,
            "csrf": session.csrf,
            "logout": f"{BASE}/deconnexion",
            "portal_name": PORTAL_NAME,
            "home": LANDING,
            **more,
        }
