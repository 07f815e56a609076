"""One form, two answers: the portal's partial updates (htmx) beside the plain POST.

A form of the portal posts to its `action` without JavaScript and, with htmx, the same URL through
`hx-post`; the handler tells them apart by htmx's `HX-Request: true` header (the pattern of
`masquage.html`). Without JavaScript the change is followed by a 303 to the page (POST-redirect-GET),
and a refusal is the portal's French error page with its 4xx status. With htmx the answer is the
fragment the form replaces, carrying a notice; a refusal of the service is that fragment too, with
the service's own words as an alert: htmx 2 swaps no 4xx answer, so a refusal answered 4xx would
leave the patient in front of an unchanged form with nothing said.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from maison.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from maison.portail.web import wants_fragment

# What the service refuses of the patient's change (the CSRF check and the session come before it)
REFUSALS = (InvalidInput, NotFound, Forbidden, Conflict)


@dataclass(frozen=True)
class Notice:
    """What a fragment tells after a change: done (a status) or refused (an alert)."""

    text: str
    refused: bool = False


async def changed(
    request: Request, change: Callable[[], object], back: str, fragment: Callable[[Notice], Response], done: str
) -> Response:
    """Run `change` (a service call, in the thread pool); answer a 303 to `back` without JavaScript,
    else `fragment` with the notice `done` or the service's refusal (`fragment` runs in the thread
    pool too: it reads what it shows through the services)."""
    if not wants_fragment(request):
        await run_in_threadpool(change)
        return RedirectResponse(back, 303)
    try:
        await run_in_threadpool(change)
    except REFUSALS as error:
        return await run_in_threadpool(fragment, Notice(error.message, refused=True))
    return await run_in_threadpool(fragment, Notice(done))
