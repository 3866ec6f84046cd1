"""Solution.trajectory: an imported agent trajectory's messages and fields (the context
the labeling page shows between steps, and what the AgentProcessBench export gives back)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("annotate", "0004_username_case_insensitive")]

    operations = [
        migrations.AddField(
            model_name="solution",
            name="trajectory",
            field=models.JSONField(
                blank=True, default=dict,
                help_text="An agent trajectory's record as imported, less its labels (which are "
                          "StepRatings): messages, the assistant turn each step is, the other "
                          "fields."),
        ),
    ]
