"""Staff accounts: agents, supervisors, content staff and admins; login, sessions, roles."""

from .models import Role, StaffSession, StaffUser
from .web import CurrentUser, register_staff_page, require_role, setup_accounts, setup_templates

__all__ = [
    "CurrentUser",
    "Role",
    "StaffSession",
    "StaffUser",
    "register_staff_page",
    "require_role",
    "setup_accounts",
    "setup_templates",
]
