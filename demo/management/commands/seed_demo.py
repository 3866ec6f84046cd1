"""Seed demo accounts and demo projects with synthetic arithmetic problems and solutions.

Safe to re-run: accounts, projects and content are created once.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from annotate.models import Membership, Project

DEMO_ACCOUNTS = [
    # username, password, project role, Django superuser
    ("admin", "stepwise-admin", Membership.Role.ADMIN, True),
    ("annotator", "stepwise-annotator", Membership.Role.ANNOTATOR, False),
    ("reviewer", "stepwise-reviewer", Membership.Role.REVIEWER, False),
]

DEMO_INSTRUCTIONS = """\
Rate each step of the solution:

* **Great (+1)**: correct, easy to verify, and moves the solution forward.
* **Okay (0)**: correct but adds nothing.
* **Bad (-1)**: wrong, unverifiable, or derailing.

Each step is one arithmetic operation, so check it: is the result on this line right?
"""

DEMO_PROJECTS = [
    ("demo-first-error", "Demo: arithmetic, first error", Project.Mode.FIRST_ERROR),
    ("demo-branch", "Demo: arithmetic, branches", Project.Mode.BRANCH),
]


class Command(BaseCommand):
    help = "Create demo accounts and demo projects (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--problems", type=int, default=12)
        parser.add_argument("--solutions-per-problem", type=int, default=2)

    @transaction.atomic
    def handle(self, *args, **options):
        from demo.seed import seed_demo_content

        users = {}
        for username, password, _role, superuser in DEMO_ACCOUNTS:
            user, created = get_user_model().objects.get_or_create(username=username)
            if created:
                user.set_password(password)
                user.is_staff = user.is_superuser = superuser
                user.save()
            users[username] = user

        generator = {"model": str(settings.MODELS_DIR / "demo-arith"), "temperature": 0.8,
                     "top_p": 0.95, "max_new_tokens": 48, "delimiter": "\n"}
        for slug, name, mode in DEMO_PROJECTS:
            project, created = Project.objects.get_or_create(
                slug=slug,
                defaults={"name": name, "mode": mode, "instructions": DEMO_INSTRUCTIONS,
                          "candidates_per_position": 3, "show_hints": True,
                          "generator": generator, "created_by": users["admin"]},
            )
            for username, _password, role, _superuser in DEMO_ACCOUNTS:
                Membership.objects.get_or_create(project=project, user=users[username],
                                                 defaults={"role": role})
            if created or not project.problems.exists():
                summary = seed_demo_content(
                    project, n_problems=options["problems"],
                    solutions_per_problem=options["solutions_per_problem"], alternatives=True,
                )
                self.stdout.write(f"Seeded {project.slug}: {summary}")
        self.stdout.write(self.style.SUCCESS("Demo accounts: " + ", ".join(
            f"{u} / {p}" for u, p, _r, _s in DEMO_ACCOUNTS)))
