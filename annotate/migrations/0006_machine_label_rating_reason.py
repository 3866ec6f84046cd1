"""PreAnnotation.rating (a machine label's -1/0/+1, NULL for scores and unparsed judge
answers), PreAnnotation.reason (the critique), PreAnnotation.scope (0, or the solution whose
context a label was given in; part of the unique key) and the ``judge`` kind."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("annotate", "0005_trajectory_context")]

    operations = [
        migrations.RemoveConstraint(model_name="preannotation", name="preannotation_unique_source"),
        migrations.AddField(
            model_name="preannotation",
            name="scope",
            field=models.PositiveBigIntegerField(
                default=0, help_text="0: a label of the step wherever it appears; else the id of "
                "the solution whose context it was given in (a judge that read the whole "
                "trajectory)."),
        ),
        migrations.AddConstraint(
            model_name="preannotation",
            constraint=models.UniqueConstraint(fields=("node", "kind", "source", "scope"),
                                               name="preannotation_unique_source_scope"),
        ),
        migrations.AddField(
            model_name="preannotation",
            name="rating",
            field=models.SmallIntegerField(
                blank=True, choices=[(-1, "Bad"), (0, "Okay"), (1, "Great")], null=True,
                help_text="The discrete label where the source gives one; NULL for a score or "
                          "an unparsed judge answer."),
        ),
        migrations.AddField(
            model_name="preannotation",
            name="reason",
            field=models.TextField(blank=True, default="", help_text="The source's critique."),
        ),
        migrations.AlterField(
            model_name="preannotation",
            name="kind",
            field=models.CharField(choices=[
                ("mc_soft", "Monte Carlo soft estimate"), ("mc_hard", "Monte Carlo hard estimate"),
                ("binary_search", "Binary-search first error"), ("prm_score", "PRM score"),
                ("imported", "Imported machine label"), ("exact", "Exact checker"),
                ("judge", "LLM judge")], max_length=20),
        ),
    ]
