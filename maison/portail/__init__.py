"""The portals: web pages served by the house for the patient, the professional and the observatory.

Issue 24. One more client of the services' own functions (never a second path to the data): each
page calls the same service function as the API route that shows the same thing, so it writes the
same audit record. Server-rendered Jinja2 pages, htmx for partial updates, every reading part
working without JavaScript (DESIGN.md "web pages").
"""
