"""spanwatch web UI (Flask); built on the appliance's service interface.

Platform API for the area blueprints:

- ``webui.app.BLUEPRINTS``: add one line ``"webui.<area>:bp"``.
- ``webui.auth.require_role("viewer" | "analyst" | "admin", write=...)`` on every view.
- ``webui.extensions.current_service()``: the per-process ``Service``.
- ``webui.audit.audit(action, target, **detail)``: record what the current user did.
- ``webui.api.api_blueprint(area, __name__)``: ``/api/v1/<area>`` JSON endpoints.
- Templates extend ``base.html``; macros in ``templates/_macros/ui.html``.
- Strings: ``_()`` in templates and code; Vietnamese in ``webui/<area>/translations/vi.po``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(*args: Any, **kwargs: Any) -> Flask:
    """See :func:`webui.app.create_app`."""
    from webui.app import create_app as _create_app

    return _create_app(*args, **kwargs)
