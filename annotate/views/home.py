from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from annotate.selectors.projects import projects_with_progress


@login_required
def home(request):
    """The annotator's home: their projects, with open and done counts."""
    return render(request, "annotate/home.html", {"projects": projects_with_progress(request.user)})
