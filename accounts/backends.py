from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend

from .signed_in import signed_in_row


class SignedInModelBackend(ModelBackend):
    """Django's model backend, reading the signed-in user through this worker's copy (accounts/signed_in.py)."""

    def get_user(self, user_id: Any) -> Any:
        model = get_user_model()
        user = signed_in_row(f"user:{user_id}", lambda: model._default_manager.filter(pk=user_id).first())
        return user if user is not None and self.user_can_authenticate(user) else None
