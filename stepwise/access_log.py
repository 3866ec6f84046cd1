"""gunicorn's access log, with API keys masked as in every other log line.

A reward URL (``/api/prm/reward/<key>/``) carries its key in the path, for RL trainers that
can only be given a URL. Django's log lines pass the ``api.log_filters`` filter; gunicorn's
access log has handlers of its own, so its request line and path are masked here.
"""

from gunicorn.glogging import Logger

from api.log_filters import redact


class RedactingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for name in ("r", "U"):  # the request line and the path
            if isinstance(atoms.get(name), str):
                atoms[name] = redact(atoms[name])
        return atoms
