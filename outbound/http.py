"""An HTTP client for requests to other servers: every request (the first and any the
caller makes later) passes the outbound policy, the connection goes to the address that
was checked (no second DNS answer in between), redirects are never followed and the
timeout is bounded."""

from __future__ import annotations

import httpx2

from .policy import OutboundRefused, check_url

MAX_TIMEOUT = 3600.0


class PolicyTransport(httpx2.HTTPTransport):
    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        url = str(request.url)
        addresses = check_url(url)  # OutboundRefused before any connection is made
        host = request.url.host
        if addresses and str(addresses[0]) != host.strip("[]"):
            # Connect to the checked address; Host and TLS keep the name.
            request.extensions = {**request.extensions, "sni_hostname": host}
            request.url = request.url.copy_with(host=str(addresses[0]))
        return super().handle_request(request)


def client(timeout: float, **kwargs) -> httpx2.Client:
    """An ``httpx2.Client`` under the outbound policy (the openai client takes it too)."""
    seconds = max(0.1, min(float(timeout), MAX_TIMEOUT))
    return httpx2.Client(transport=PolicyTransport(trust_env=False), follow_redirects=False,
                         trust_env=False, timeout=httpx2.Timeout(seconds, connect=min(seconds, 10.0)),
                         **kwargs)


__all__ = ["OutboundRefused", "check_url", "client"]
