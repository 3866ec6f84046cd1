"""PreAnnotation.rating (a machine label's -1/0/+1, NULL for scores and unparsed judge
answers), PreAnnotation.reason (the critique) and the ``judge`` kind."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("annotate", "0004_username_case_insensitive")]

    operations = [
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
