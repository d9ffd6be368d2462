"""Error pages: HTML for people, JSON under /api; a 500 never shows internals."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from appliance.errors import ApplianceError

logger = logging.getLogger(__name__)


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(ApplianceError, _appliance_error)
    app.register_error_handler(Exception, _unexpected)


def _messages() -> dict[int, str]:
    return {
        400: _("The request was not understood."),
        401: _("Please log in."),
        403: _("Your role does not allow this."),
        404: _("This page does not exist."),
        405: _("This action is not allowed here."),
        413: _("The upload is too large."),
        500: _("Something went wrong on the appliance; the error is in its log."),
        503: _("A component of the appliance is not available right now."),
    }


def error_response(status: int, message: str | None = None, code: str | None = None) -> Any:
    text = message or _messages().get(status, _("Error"))
    if request.path.startswith("/api/v1/"):
        response = jsonify(error=code or _slug(status), message=text)
        response.status_code = status
        return response
    return render_template("errors/error.html", status=status, message=text), status


def _slug(status: int) -> str:
    return {400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found",
            405: "method-not-allowed", 413: "too-large", 500: "internal-error",
            503: "unavailable"}.get(status, "error")  # fmt: skip


def _csrf_error(err: CSRFError) -> Any:
    logger.info("CSRF check failed path=%s reason=%s.", request.path, err.description)
    return error_response(400, _("The form expired or was sent from elsewhere; please "
                                 "reload the page and try again."), "csrf")  # fmt: skip


def _http_error(err: HTTPException) -> Any:
    status = err.code or 500
    return error_response(status)


def _appliance_error(err: ApplianceError) -> Any:
    logger.error("Request failed path=%s: %s.", request.path, err)
    return error_response(503, str(err))


def _unexpected(err: Exception) -> Any:
    logger.exception("Unhandled error path=%s.", request.path)
    return error_response(InternalServerError.code)
