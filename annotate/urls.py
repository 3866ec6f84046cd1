from django.urls import path

from .views import home, labeling

app_name = "annotate"

urlpatterns = [
    path("", home.home, name="home"),
    path("p/<slug:slug>/next/", labeling.start, name="start"),
    path("task/<int:pk>/", labeling.task, name="task"),
    path("task/<int:pk>/rate/", labeling.rate, name="rate"),
    path("task/<int:pk>/rate-group/", labeling.rate_group, name="rate_group"),
    path("task/<int:pk>/flag/", labeling.flag, name="flag"),
    path("task/<int:pk>/accept/", labeling.accept, name="accept"),
    path("task/<int:pk>/critique/", labeling.critique, name="critique"),
    path("task/<int:pk>/critique/delete/", labeling.critique_delete, name="critique_delete"),
    path("task/<int:pk>/undo/", labeling.undo, name="undo"),
    path("task/<int:pk>/choose/", labeling.choose, name="choose"),
    path("task/<int:pk>/write/", labeling.write, name="write"),
    path("task/<int:pk>/finish/", labeling.finish, name="finish"),
    path("task/<int:pk>/skip/", labeling.skip, name="skip"),
]
