"""Token authentication: ``Authorization: Bearer sw_...`` (``Token sw_...`` also works).

Every request looks the token up again, so a revoked or expired token stops at once.
The key is never logged: errors name the token's prefix at most.

``RewardUrlAuthentication`` reads a reward URL's secret from the path instead, for
trainers that cannot send a header; the URL works only for scoring its one model.
"""

from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions

from .models import APIToken, RewardUrl, hash_key
from .throttling import bad_token, bad_token_retry_after, minutes

# Writing last_used_at on every request would make every read a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class APITokenAuthentication(authentication.BaseAuthentication):
    keywords = ("bearer", "token")

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower().decode(errors="replace") not in self.keywords:
            return None
        # An address that sent too many bad tokens is refused before any lookup, so
        # guessing stops there (api.throttling.FailureCounter; per IP, in the cache).
        wait = bad_token_retry_after(request)
        if wait:
            raise exceptions.Throttled(wait, detail="Too many bad API tokens from your address; "
                                       f"try again in {minutes(wait)}.")
        if len(header) != 2:
            self._refuse(request, "Malformed Authorization header.")
        try:
            key = header[1].decode("ascii")
        except UnicodeDecodeError:
            self._refuse(request, "Malformed token.")
        token = (
            APIToken.objects.select_related("user").filter(key_hash=hash_key(key)).first()
        )
        if token is None:
            self._refuse(request, "Invalid token.")
        if token.revoked_at is not None:
            self._refuse(request, "Token revoked.")
        now = timezone.now()
        if token.expires_at is not None and token.expires_at <= now:
            self._refuse(request, "Token expired.")
        if not token.user.is_active:
            self._refuse(request, "User inactive.")
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            APIToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    @staticmethod
    def _refuse(request, message: str):
        bad_token(request)
        raise exceptions.AuthenticationFailed(message)

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class RewardUrlAuthentication(authentication.BaseAuthentication):
    """The ``key`` URL argument is a reward URL's secret; auth is the RewardUrl.

    Unknown and revoked secrets get the same 401, so a guess learns nothing. The URL
    stops working when its creator leaves the model's project or is deactivated.
    """

    def authenticate(self, request):
        from annotate.selectors.projects import role_in

        key = (request.parser_context or {}).get("kwargs", {}).get("key") or ""
        wait = bad_token_retry_after(request)
        if wait:
            raise exceptions.Throttled(wait, detail="Too many bad reward URLs from your "
                                       f"address; try again in {minutes(wait)}.")
        reward_url = (RewardUrl.objects.select_related("created_by", "prm_model__project")
                      .filter(key_hash=hash_key(key), revoked_at=None).first())
        if reward_url is None or not reward_url.created_by.is_active or role_in(
                reward_url.prm_model.project, reward_url.created_by) is None:
            bad_token(request)
            raise exceptions.AuthenticationFailed("No such reward URL, or it was revoked.")
        now = timezone.now()
        if reward_url.last_used_at is None or now - reward_url.last_used_at > LAST_USED_RESOLUTION:
            RewardUrl.objects.filter(pk=reward_url.pk).update(last_used_at=now)
        return reward_url.created_by, reward_url

    def authenticate_header(self, request):
        return 'RewardURL realm="api"'  # a 401, not a 403: the URL itself is the credential
