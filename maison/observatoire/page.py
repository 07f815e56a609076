"""A served report as one self-contained HTML page (`maison indicateurs … --html FILE`).

In French, one stylesheet inline, no script, no external resource: the file is sent by e-mail or
archived as it is. Accessible (RGAA 4.1 / WCAG 2.1 AA): `lang="fr"`, one `h1`, a heading per report
and per table, every chart (`maison.observatoire.charts`, inline SVG with its title and description)
followed by its table as the fallback (`caption`, `th scope`), text colours of contrast ≥ 7:1 on
white, the signature's state stated in words — an unsigned report says so first, with its reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape

from maison.observatoire.charts import svg
from maison.observatoire.report import Table
from maison.observatoire.service import Served

STYLE = """
body { font-family: system-ui, sans-serif; color: #1a1a1a; background: #fff; margin: 2rem; line-height: 1.5; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.3rem; margin-top: 2.5rem; border-bottom: 2px solid #1f4e79; }
h3 { font-size: 1.1rem; margin-top: 1.5rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; }
caption { text-align: left; font-weight: 600; padding: 0.25rem 0; }
th, td { border: 1px solid #595959; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #e8eef5; }
td.nombre { text-align: right; font-variant-numeric: tabular-nums; }
.signe { border-left: 6px solid #2e6b30; padding: 0.5rem 1rem; background: #eef6ee; }
.non-signe { border-left: 6px solid #a4000f; padding: 0.5rem 1rem; background: #fbeaea; }
figure { margin: 1rem 0; } figcaption { font-size: 0.9rem; }
code { word-break: break-all; }
"""


def _cell(value: object) -> str:
    if value is None:
        return "<td>—</td>"
    if isinstance(value, bool):
        return f"<td>{'oui' if value else 'non'}</td>"
    if isinstance(value, (int, float)):
        return f'<td class="nombre">{escape(str(value))}</td>'
    return f"<td>{escape(str(value))}</td>"


def table_html(table: Table, level: int = 3) -> str:
    """A table under its heading: its chart first when it has one, then the table itself (the
    chart's fallback), then its notes."""
    parts = [f"<h{level}>{escape(table.title)}</h{level}>"]
    chart = svg(table)
    if chart is not None:
        parts.append(
            f"<figure>{chart}<figcaption>Graphique : {escape(table.title)}. Les valeurs sont dans le "
            "tableau qui suit.</figcaption></figure>"
        )
    head = "".join(f'<th scope="col">{escape(c)}</th>' for c in table.columns)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in table.rows)
    if not table.rows:
        body = f'<tr><td colspan="{len(table.columns)}">aucune ligne</td></tr>'
    parts.append(
        f"<table><caption>{escape(table.title)}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )
    if table.notes:
        parts.append("<ul>" + "".join(f"<li>{escape(n)}</li>" for n in table.notes) + "</ul>")
    return "\n".join(parts)


def _seal(served: Served) -> str:
    seal = served.seal
    position = f"trace d'audit jusqu'à seq {seal.seq} (empreinte <code>{escape(seal.hash)}</code>)"
    if seal.signed:
        return (
            f'<p class="signe"><strong>Rapport signé</strong> par la maison (clé {escape(seal.key_id)}, '
            f"{escape(seal.as_dict()['algorithme'])}), {position}. Signature JWS : "
            f"<code>{escape(seal.signature or '')}</code></p>"
        )
    why = escape(seal.reason)
    return f'<p class="non-signe" role="alert"><strong>Rapport non signé</strong> : {why} ; {position}.</p>'


def render(title: str, reports: Sequence[Served]) -> str:
    """The page: every report with its seal and its tables."""
    sections = []
    for served in reports:
        sections.append(f"<section><h2>{escape(served.title)}</h2>{_seal(served)}")
        sections.extend(table_html(t) for t in served.tables)
        sections.append("</section>")
    made = datetime.now(UTC).strftime("%d/%m/%Y %H:%M UTC")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="fr">',
            '<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(title)}</title><style>{STYLE}</style></head>",
            "<body><main>",
            f"<h1>{escape(title)}</h1>",
            f"<p>Calculé par la maison à partir de la trace d'audit, le {made}.</p>",
            *sections,
            "</main></body></html>",
        ]
    )
