"""Django admin's user forms refuse look-alike usernames (annotate.services.accounts), as
the members form and every other way of creating a user do."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import ValidationError

from annotate.services import accounts


class _CheckedUsername:
    def clean_username(self):
        parent = getattr(super(), "clean_username", None)  # the creation form has one
        username = parent() if parent else self.cleaned_data.get("username")
        if username is None:
            return username
        username = accounts.clean_username(username)
        taken = get_user_model().objects.filter(username__iexact=username)
        if self.instance.pk is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise ValidationError("A user with that username already exists.")
        return username


class CheckedUserCreationForm(_CheckedUsername, AdminUserCreationForm):
    pass


class CheckedUserChangeForm(_CheckedUsername, UserChangeForm):
    pass


class CheckedUserAdmin(UserAdmin):
    add_form = CheckedUserCreationForm
    form = CheckedUserChangeForm


User = get_user_model()
if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, CheckedUserAdmin)
