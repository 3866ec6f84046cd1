"""Usernames: one spelling per account, and no look-alikes.

* NFKC: full-width and compatibility forms become their plain letters (``ａｄｍｉｎ`` is
  ``admin``), as Django's own forms do.
* Case-insensitive uniqueness: ``ADMINB`` is the account ``adminb``. Checked here and held
  by a unique index on ``UPPER(username)`` (migration annotate 00xx_username_ci).
* No confusables: a name may not mix scripts (``аdmin`` with a Cyrillic а), nor be spelled
  entirely in non-Latin letters that look Latin (``ѕсоре`` in Cyrillic). Both refusals are
  decided from the name alone, never from which accounts exist.
"""

from __future__ import annotations

import unicodedata

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

# Non-Latin letters that render like Latin ones (lower case; from Unicode's confusables).
LATIN_LOOKALIKES = set(
    "аеорсухіјѕԁԛԝһӏԍ"  # Cyrillic
    "οαντικνρχυϲϳ"  # Greek
)
NEUTRAL_SCRIPTS = {"COMMON", "INHERITED"}
# Japanese and Korean names mix these legitimately (and Latin with them: UTS #39's
# "highly restrictive" level); they count as one script here.
EAST_ASIAN = {"CJK", "HIRAGANA", "KATAKANA", "HANGUL", "BOPOMOFO", "HALFWIDTH"}


def normalize(username: str) -> str:
    return unicodedata.normalize("NFKC", username or "").strip()


def _script(char: str) -> str:
    """The script of a letter by its Unicode name's first word (LATIN, CYRILLIC, ...)."""
    if not unicodedata.category(char).startswith("L"):
        return "COMMON"
    name = unicodedata.name(char, "")
    script = name.split(" ", 1)[0] if name else "UNKNOWN"
    return "EAST ASIAN" if script in EAST_ASIAN else script


def check_confusable(username: str) -> None:
    letters = [c for c in username if _script(c) not in NEUTRAL_SCRIPTS]
    scripts = {_script(c) for c in letters}
    if len(scripts - {"LATIN"} if "EAST ASIAN" in scripts else scripts) > 1:
        raise ValidationError(
            f"A username may not mix scripts ({', '.join(sorted(s.title() for s in scripts))}): "
            "such names can look like another account's.", code="mixed_script")
    if letters and "LATIN" not in scripts and all(c.lower() in LATIN_LOOKALIKES for c in letters):
        raise ValidationError("This username is spelled in letters that look Latin but are not; "
                              "write it in Latin letters.", code="confusable")


def clean_username(raw: str) -> str:
    """The username to store or look up: normalised and checked for look-alikes."""
    username = normalize(raw)
    if not username:
        raise ValidationError("A username is required.")
    check_confusable(username)
    return username


def find_user(username: str):
    """The account of this username in any case, or None."""
    return get_user_model().objects.filter(username__iexact=username).first()


def check_new_username(user) -> None:
    """For every save of a user (pre_save) that sets its name: normalised, no look-alike,
    unique in any case. An existing account saved under its old name (a password change)
    is left alone, so a name from before these rules does not lock its owner out."""
    User = get_user_model()
    if user.pk is not None and User.objects.filter(pk=user.pk,
                                                   username=user.username).exists():
        return
    user.username = clean_username(user.username)
    taken = User.objects.filter(username__iexact=user.username)
    if user.pk is not None:
        taken = taken.exclude(pk=user.pk)
    if taken.exists():
        raise ValidationError("A user with that username already exists.", code="unique")
