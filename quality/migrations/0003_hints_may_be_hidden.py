from django.db import migrations


def mark_projects(apps, schema_editor):
    """Projects with a certification that is not void may hide hints from annotators."""
    Certification = apps.get_model("quality", "Certification")
    Project = apps.get_model("annotate", "Project")
    ids = Certification.objects.exclude(status="void").values("project_id")
    Project.objects.filter(pk__in=ids).update(hints_may_be_hidden=True)


class Migration(migrations.Migration):

    dependencies = [
        ("annotate", "0011_hints_may_be_hidden"),
        ("quality", "0002_certification"),
    ]

    operations = [migrations.RunPython(mark_projects, migrations.RunPython.noop)]
