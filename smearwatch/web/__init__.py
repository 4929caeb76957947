"""`smearwatch serve`: the analyst's workbench, a local web interface on the same database.

Server-rendered pages (Starlette + Jinja2 with autoescape), plain HTML forms, one local
stylesheet: nothing is fetched from outside the machine. The week's figures come from the
report model (`reports.model`), the review form writes the same `review` rows as the CLI
(`db.reviews`) and the verify action re-hashes payloads with `db.queries`.
"""

from smearwatch.web.app import WebSettings, create_app

__all__ = ["WebSettings", "create_app"]
