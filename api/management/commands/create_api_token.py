"""Issue an API token from the command line (for headless set-ups); prints the key once."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from api.services import issue_token


class Command(BaseCommand):
    help = "Create an API token for a user and print its key (shown only this once)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("name")
        parser.add_argument("--scope", choices=["read", "write"], default="read")
        parser.add_argument("--days", type=int, help="Expire after this many days.")

    def handle(self, username, name, scope, days, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user '{username}'.")
        expires = timezone.now() + timedelta(days=days) if days else None
        try:
            _, key = issue_token(user=user, name=name, scope=scope, expires_at=expires)
        except Exception as exc:  # the service's ValidationError, as a CLI message
            raise CommandError(str(exc))
        self.stdout.write(key)
