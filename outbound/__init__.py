"""Outbound requests and the credentials they carry, on the bottom floor so that every app
that points the server at another one (generation servers, judges, scorers) uses one policy.

* ``policy``: which hosts the server may send requests to (``STEPWISE_OUTBOUND_HOSTS``).
* ``http``: an HTTP client that checks every request against the policy, never follows a
  redirect and has a bounded timeout.
* ``credentials``: the named secrets the operator defines (``STEPWISE_SERVER_SECRETS``).
* ``redact``: credentials out of URLs and key-shaped values out of messages.
"""
