"""Users and their memberships."""

from __future__ import annotations

from datetime import datetime

import msgspec


class UserView(msgspec.Struct):
    id: int
    email: str
    name: str
    created_at: datetime


class MembershipView(msgspec.Struct):
    user_id: int
    account_id: int
    role: str
