"""Writes of the API app: issuing and revoking tokens."""

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from .models import APIToken, hash_key


def issue_token(*, user, name: str, scope: str = APIToken.Scope.READ,
                expires_at=None) -> tuple[APIToken, str]:
    """Create a token and return it with its key. The key is never retrievable again."""
    if "\x00" in (name or ""):  # PostgreSQL text cannot hold it: a message, not a DataError
        raise ValidationError({"name": "'name' contains a NUL byte."})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": "The expiry must be in the future."})
    key = APIToken.generate_key()
    try:
        with transaction.atomic():
            token = APIToken.objects.create(
                user=user, name=name, scope=scope, expires_at=expires_at,
                prefix=key[:10], key_hash=hash_key(key),
            )
    except IntegrityError:
        raise ValidationError({"name": "You already have a live token with this name."})
    return token, key


def revoke_token(token: APIToken) -> APIToken:
    if token.revoked_at is None:
        APIToken.objects.filter(pk=token.pk, revoked_at=None).update(revoked_at=timezone.now())
        token.refresh_from_db()
    return token
