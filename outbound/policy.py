"""Which hosts the server may send requests to.

``STEPWISE_OUTBOUND_HOSTS`` is the operator's allow-list, comma-separated: ``host``,
``host:port``, ``*.example.org`` (wildcards), an address or a network (``10.0.0.0/8``),
or ``*`` (any public host). The deployment's ``GENERATION_SERVER_URL`` is allowed too.
A URL passes when its host and port match an entry and every address its host resolves
to is public, or was listed: a host named exactly, or an address inside a listed network.
So loopback, link-local (cloud metadata) and private ranges are reached only where the
operator wrote them down, and a wildcard never reaches them.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

DEFAULT_PORTS = {"http": 80, "https": 443}
NOT_ALLOWED = ("{where} is not among the servers this deployment allows; the operator lists "
               "them in STEPWISE_OUTBOUND_HOSTS.")


class OutboundRefused(Exception):
    """A request the policy does not allow; the message is safe to show the admin."""


@dataclass(frozen=True)
class Entry:
    host: str  # a name, a pattern with *, or '' for a network entry
    port: int | None
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None

    @property
    def exact(self) -> bool:
        return "*" not in self.host

    def matches(self, host: str, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.network is not None:
            address = _ip(host)
            return address is not None and address in self.network
        return fnmatch.fnmatchcase(host, self.host)


def _ip(text: str):
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def parse_entry(text: str) -> Entry:
    text = text.strip().lower()
    if text.startswith("["):  # [::1]:8000
        host, _, rest = text[1:].partition("]")
        port = rest.lstrip(":") or None
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, None
    port_no = int(port) if port else None
    try:
        network = ipaddress.ip_network(host, strict=False)
    except ValueError:
        network = None
    return Entry("" if network else host, port_no, network)


def target(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL; OutboundRefused for anything else."""
    try:
        parts = urlsplit(str(url).strip())
        port = parts.port
    except ValueError:
        raise OutboundRefused("The server URL is not a valid http(s) URL.") from None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise OutboundRefused("The server URL must start with http:// or https:// and name a host.")
    return parts.scheme, parts.hostname.lower().rstrip("."), port or DEFAULT_PORTS[parts.scheme]


def entries() -> list[Entry]:
    listed = [parse_entry(e) for e in getattr(settings, "STEPWISE_OUTBOUND_HOSTS", []) if e.strip()]
    deployment = getattr(settings, "GENERATION_SERVER_URL", "")
    if deployment:
        _, host, port = target(deployment)
        listed.append(Entry(host, port, None) if _ip(host) is None
                      else Entry("", port, ipaddress.ip_network(host.strip("[]"))))
    return listed


def _public(address) -> bool:
    return address.is_global and not address.is_multicast


def resolve(host: str, port: int) -> list:
    address = _ip(host)
    if address is not None:
        return [address]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise OutboundRefused(f"The server name {host} cannot be resolved.") from None
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))


def check_url(url: str) -> list:
    """The addresses ``url`` may be reached at; OutboundRefused when the policy says no."""
    _, host, port = target(url)
    where = f"{host}:{port}"
    listed = entries()
    matched = [e for e in listed if e.matches(host, port)]
    if not matched:
        raise OutboundRefused(NOT_ALLOWED.format(where=where))
    named = any(e.exact and e.network is None for e in matched)
    networks = [e.network for e in listed if e.network is not None and e.port in (None, port)]
    addresses = resolve(host, port)
    for address in addresses:
        if not (_public(address) or named or any(address in n for n in networks)):
            # The same words as an unlisted host: which internal names resolve stays unsaid.
            raise OutboundRefused(NOT_ALLOWED.format(where=where))
    return addresses
