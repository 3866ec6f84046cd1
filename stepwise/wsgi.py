import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

from stepwise.body_limit import BodyLimit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stepwise.settings")
# Oversized bodies get a 413; unread ones are read off the connection (stepwise/body_limit.py).
application = BodyLimit(get_wsgi_application(), settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
