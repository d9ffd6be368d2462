"""The JSON API framework: ``/api/v1/<area>/...`` blueprints, helpers and the docs page.

An area adds its endpoints with::

    from webui.api import api_blueprint, json_page, parse_json
    bp = api_blueprint("alerts", __name__)          # /api/v1/alerts, endpoint api_alerts.*

    @bp.get("/")
    @require_role("viewer")
    def list_alerts():
        \"\"\"List alerts, newest first. Query: since, until, severity, q, offset, limit.\"\"\"
        return json_page(current_service().alerts.list(...), lambda a: a.as_json())

and one line ``"webui.alerts.api:bp"`` in ``webui.app.BLUEPRINTS``. The docstring is the
documentation on the /api page (first line: summary; the rest: details). Clients
authenticate with ``Authorization: Bearer <token>`` (tokens on the account page) or the
browser session (then a CSRF token in ``X-CSRFToken`` for writes).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar

from flask import Blueprint, abort, current_app, jsonify, render_template, request
from pydantic import BaseModel, ValidationError

from appliance import __version__
from webui.auth.guard import current_user, require_role
from webui.errors import error_response

M = TypeVar("M", bound=BaseModel)

API_PREFIX = "/api/v1"
MAX_LIMIT = 1000

bp = Blueprint("api", __name__, url_prefix="/api")


def api_blueprint(area: str, import_name: str) -> Blueprint:
    """A blueprint named ``api_<area>`` serving ``/api/v1/<area>``."""
    return Blueprint(f"api_{area}", import_name, url_prefix=f"{API_PREFIX}/{area}")


def json_page(page: Any, serialize: Callable[[Any], Any]) -> Any:
    """A ``Page`` as ``{"items": [...], "total", "offset", "limit"}``."""
    return jsonify(items=[serialize(item) for item in page.items], total=page.total,
                   offset=page.offset, limit=page.limit)  # fmt: skip


def paging(default_limit: int = 50) -> tuple[int, int]:
    """``offset`` and ``limit`` from the query string (limit at most 1000); 400 if bad."""
    try:
        offset = int(request.args.get("offset", 0))
        limit = int(request.args.get("limit", default_limit))
    except ValueError:
        abort(400)
    if offset < 0 or not 1 <= limit <= MAX_LIMIT:
        abort(400)
    return offset, limit


def iso_time(us: int | None) -> str | None:
    """UTC microseconds as ISO-8601 in UTC (``2026-11-24T07:30:00.123456Z``), the API's form."""
    if us is None:
        return None
    moment = datetime.fromtimestamp(us / 1_000_000, tz=UTC)
    return moment.isoformat().replace("+00:00", "Z")


def parse_time_arg(name: str) -> int | None:
    """An ISO-8601 query argument as UTC microseconds (naive means UTC); 400 if malformed."""
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise_bad_request(f"{name}: not an ISO-8601 time: {raw!r}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1_000_000)


def parse_json(model: type[M]) -> M:
    """The request body validated by a pydantic model; a 400 naming the field otherwise."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise_bad_request("The body must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in err.errors()
        )
        raise_bad_request(problems)


def raise_bad_request(message: str) -> NoReturn:
    """Stop the request with a JSON 400 carrying ``message``."""
    abort(error_response(400, message, "bad-request"))


@dataclass(frozen=True)
class EndpointDoc:
    """One API endpoint as the /api page documents it."""

    methods: list[str]
    path: str
    summary: str
    details: str
    role: str
    write_role: str
    area: str


def api_endpoints() -> list[EndpointDoc]:
    """Every ``/api/v1`` route of the app, from the URL map and the views' docstrings."""
    docs = []
    for rule in current_app.url_map.iter_rules():
        if not rule.rule.startswith(API_PREFIX):
            continue
        view = current_app.view_functions[rule.endpoint]
        text = inspect.getdoc(view) or ""
        summary, _, details = text.partition("\n")
        methods = sorted(m for m in (rule.methods or ()) if m not in ("HEAD", "OPTIONS"))
        area = rule.rule[len(API_PREFIX) + 1 :].split("/", 1)[0]
        role = getattr(view, "required_role", "forbidden")
        docs.append(EndpointDoc(methods, rule.rule, summary, details.strip(), role,
                                getattr(view, "write_role", role), area))  # fmt: skip
    return sorted(docs, key=lambda d: (d.area, d.path, d.methods))


def _group(docs: Iterable[EndpointDoc]) -> dict[str, list[EndpointDoc]]:
    out: dict[str, list[EndpointDoc]] = {}
    for doc in docs:
        out.setdefault(doc.area, []).append(doc)
    return out


@bp.get("/")
@require_role("viewer")
def docs() -> Any:
    """The API documentation page, generated from the routes."""
    return render_template("api/docs.html", areas=_group(api_endpoints()), prefix=API_PREFIX)


@bp.get("/v1/me")
@require_role("viewer")
def me() -> Any:
    """Who the token (or session) belongs to: username, role and the appliance version."""
    user = current_user()
    assert user is not None
    return jsonify(username=user.username, role=user.role, full_name=user.full_name,
                   version=__version__)  # fmt: skip


@bp.get("/v1/endpoints")
@require_role("viewer")
def endpoints() -> Any:
    """This list of endpoints as JSON (method, path, summary, roles)."""
    return jsonify(endpoints=[
        {"methods": d.methods, "path": d.path, "summary": d.summary, "role": d.role,
         "write_role": d.write_role}
        for d in api_endpoints()
    ])  # fmt: skip
