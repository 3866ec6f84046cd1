from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

DEFAULT_KEYMAP = {
    "great": "1",
    "okay": "2",
    "bad": "3",
    "flag": "f",
    "next": "j",
    "prev": "k",
    "undo": "u",
    "submit": "Enter",
    "instructions": "?",
    # The long-trace page (docs/labeling.md): jumps, and rating the cursor's section at once.
    "next_unrated": "n",
    "next_flagged": "m",
    "group_great": "G",
    "group_okay": "O",
    "group_bad": "B",
    # Verify mode (docs/labeling.md): confirm the machine's verdict, accept its verdicts up to
    # its first Bad, jump to the next step it is unsure of; and a critique of any step.
    "confirm": "c",
    "accept": "a",
    "next_unsure": "x",
    "critique": "e",
}
# Actions added after projects had chosen their keys: their default key yields to a key a
# project already gave another action (that action keeps it; this one has no key until the
# project picks one), so an existing keymap never starts to collide.
YIELDING_DEFAULTS = ("next_unrated", "next_flagged", "group_great", "group_okay", "group_bad",
                     "confirm", "accept", "next_unsure", "critique")


def merged_keymap(keymap: dict | None) -> dict:
    custom = dict(keymap or {})
    taken = {k for a, k in custom.items()}
    merged = {a: k for a, k in DEFAULT_KEYMAP.items()
              if a in custom or a not in YIELDING_DEFAULTS or k not in taken}
    merged.update(custom)
    return merged


# Keys the labeling page binds itself (static/js/label.js): no action may take one, or
# the built-in behind it becomes unreachable by keyboard.
BUILT_IN_KEYS = {
    "w": "write your own step",
    "Escape": "leave the own-step box / close a dialog",
    "Tab": "move between buttons",
    " ": "press the focused button",
}


def default_keymap() -> dict:
    return dict(DEFAULT_KEYMAP)


def validate_keymap(keymap: dict) -> None:
    """A keymap maps every action to one key, and no key to two actions."""
    if not isinstance(keymap, dict):
        raise ValidationError("The keymap must be an object of action -> key.")
    unknown = set(keymap) - set(DEFAULT_KEYMAP)
    if unknown:
        raise ValidationError(f"Unknown keymap actions: {', '.join(sorted(unknown))}.")
    merged = merged_keymap(keymap)
    seen: dict[str, str] = {}
    for action, key in merged.items():
        if not isinstance(key, str) or not key:
            raise ValidationError(f"Key for '{action}' must be a non-empty string.")
        if key in seen:
            raise ValidationError(f"Key '{key}' is bound to both '{seen[key]}' and '{action}'.")
        if key in BUILT_IN_KEYS:
            raise ValidationError(f"Key '{key}' is built in ({BUILT_IN_KEYS[key]}); "
                                  f"choose another key for '{action}'.")
        seen[key] = action


class Project(models.Model):
    """A labeling job over the solutions of its problems."""

    class Mode(models.TextChoices):
        FIRST_ERROR = "first_error", "First error (PRM800K phase 2)"
        BRANCH = "branch", "Branch (PRM800K phase 1)"

    class RatingScale(models.TextChoices):
        PRM800K = "prm800k", "Great (+1) / Okay (0) / Bad (-1)"
        BINARY = "binary", "Good (+1) / Bad (-1)"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    instructions = models.TextField(blank=True, help_text="Markdown shown to annotators.")
    mode = models.CharField(max_length=20, choices=Mode.choices, default=Mode.FIRST_ERROR)
    rating_scale = models.CharField(
        max_length=20, choices=RatingScale.choices, default=RatingScale.PRM800K
    )
    overlap = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(50)],
        help_text="Annotators per solution.",
    )
    candidates_per_position = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(64)]
    )
    queue_strategy = models.CharField(max_length=40, default="sequential")
    lease_seconds = models.PositiveIntegerField(
        default=3600, validators=[MinValueValidator(60), MaxValueValidator(7 * 24 * 3600)]
    )
    keymap = models.JSONField(default=default_keymap, blank=True, validators=[validate_keymap])
    show_hints = models.BooleanField(
        default=False, help_text="Show machine pre-annotations to annotators, marked as hints."
    )
    verify_source = models.CharField(
        max_length=200, blank=True, default="",
        help_text="Verify mode: the machine label source whose verdicts and reasons annotators "
                  "see pre-selected on each step (judge:<name>, imported:<name>, mc_hard, "
                  "mc_soft[@t], prm:<model>@<t>). Empty: annotators rate from scratch.")
    verify_blind_share = models.FloatField(
        default=0.0, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Verify mode: the share of tasks labeled blind (the source hidden), to measure "
                  "whether verifying anchors annotators to the machine (label-sources report).")
    # Kept by the services that start and void a certification (annotate.services.blind):
    # whether some of the project's machine hints may be hidden from annotators. Read with
    # the project on every labeling action, so a project without one skips the filter.
    hints_may_be_hidden = models.BooleanField(default=False, editable=False)
    critique_required_on_bad = models.BooleanField(
        default=False, help_text="A Bad step needs a written critique before the task is submitted.")
    gold_rate = models.FloatField(
        default=0.0, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    screening_items = models.PositiveSmallIntegerField(default=0)
    screening_threshold = models.FloatField(
        default=0.75, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    generator = models.JSONField(
        default=dict, blank=True,
        help_text="Generation settings for candidate steps: model path or id, sampling settings.",
    )
    archived_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def effective_keymap(self) -> dict:
        return merged_keymap(self.keymap)


class Membership(models.Model):
    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"
        REVIEWER = "reviewer", "Reviewer"
        ANNOTATOR = "annotator", "Annotator"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.ANNOTATOR)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} as {self.role}"
