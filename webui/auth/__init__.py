"""Authentication: the login guard, roles, sessions and API tokens.

Blueprints import from here: ``from webui.auth import require_role, current_user``.
The login, first-run and account views live in :mod:`webui.auth.views`.
"""

from __future__ import annotations

from webui.auth.guard import current_user, require_role

__all__ = ["current_user", "require_role"]
