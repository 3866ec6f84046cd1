from django.urls import path

from .views import home

app_name = "annotate"

urlpatterns = [
    path("", home.home, name="home"),
]
