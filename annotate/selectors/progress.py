"""An annotator's progress in one project: the task they hold and how many they finished.

Read-only: the start page (a GET) uses these to show where the annotator is without
assigning anything; a task is only ever assigned by a POST.
"""

from django.utils import timezone

from annotate.models import Assignment


def held_task(project, user) -> Assignment | None:
    """The user's active task in the project whose lease is still live, or None."""
    return (Assignment.objects.filter(project=project, annotator=user,
                                      status=Assignment.Status.ACTIVE,
                                      lease_expires_at__gt=timezone.now())
            .only("id").first())


def tasks_done(project, user) -> int:
    """Tasks the user submitted in the project (labeled here, not imported)."""
    return Assignment.objects.filter(project=project, annotator=user,
                                     status=Assignment.Status.SUBMITTED,
                                     source=Assignment.Source.LABELING).count()
