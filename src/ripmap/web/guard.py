"""Who may talk to ``ripmap serve``: the bind address rule and the Host / Origin checks.

The server reads source code and answers anyone who can reach its port, so:

* it binds to loopback unless the user asks otherwise with an explicit flag
  (:func:`check_bind`), and says so loudly when they do;
* every request must name this server in its ``Host`` header (:func:`host_allowed`).
  A page on another site can make a browser resolve its own domain name to 127.0.0.1
  (DNS rebinding) and then read the answers as same-origin; its requests still carry
  that domain name as Host, so they are refused. An IP-literal Host cannot be rebound
  and is accepted when it is the bound address (or any address when bound to all);
* API requests that a browser marks as coming from another site (``Origin`` naming
  another origin, ``Sec-Fetch-Site: cross-site``) are refused too, so another page
  cannot even make the server do work on its behalf.
"""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Iterable

from ..errors import UsageError

LOOPBACK_NAMES = ("localhost",)


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a bind address or name) stays on this machine."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    ip = _ip(host)
    return ip is not None and ip.is_loopback


def is_wildcard(host: str) -> bool:
    ip = _ip(host)
    return ip is not None and ip.is_unspecified


def check_bind(host: str, allow_remote: bool) -> str | None:
    """Refuse a non-loopback bind without ``allow_remote``; with it, the warning to print."""
    if is_loopback(host):
        return None
    if not allow_remote:
        raise UsageError(f"--host {host} is not a loopback address: anyone who can reach it could read this "
                         f"repository's code; add --allow-remote to serve it beyond this machine anyway")
    return (f"serving on {host}, beyond this machine: anyone who can reach this port can read this "
            f"repository's code through the page and its API (there is no login)")


def url_host(host: str) -> str:
    """``host`` as it appears in a URL or Host header (IPv6 in brackets)."""
    ip = _ip(host)
    return f"[{ip.compressed}]" if ip is not None and ip.version == 6 else host.lower()


@dataclass(frozen=True)
class HostPolicy:
    """The Host header values this server answers to (lower case, with port)."""

    port: int
    names: frozenset[str]  # host parts (no port) accepted by name or literal
    any_ip: bool = False  # bound to all addresses: any IP literal is this server

    @classmethod
    def for_bind(cls, host: str, port: int, extra: Iterable[str] = ()) -> "HostPolicy":
        names = {url_host(host)}
        if is_loopback(host) or is_wildcard(host):
            names.update(("localhost", "127.0.0.1", "[::1]"))
        if is_wildcard(host):
            for n in (socket.gethostname(), socket.getfqdn()):
                if n:
                    names.add(n.lower())
        names.update(url_host(x) for x in extra)
        return cls(port, frozenset(names), any_ip=is_wildcard(host))

    def allows(self, header: str | None) -> bool:
        return host_allowed(header, self)

    def origins(self) -> frozenset[str]:
        """The page's own origins (what its ``fetch`` sends as ``Origin``)."""
        suffix = "" if self.port == 80 else f":{self.port}"
        return frozenset(f"http://{n}{suffix}" for n in self.names)


def split_host(header: str) -> tuple[str, int | None]:
    """A Host header as (host, port); port None when absent or not a number."""
    h = header.strip().lower()
    if h.startswith("["):
        end = h.find("]")
        if end < 0:
            return h, None
        host, rest = h[: end + 1], h[end + 1:]
    else:
        host, _, port = h.partition(":")
        rest = ":" + port if port else ""
    if not rest:
        return host, None
    if not rest.startswith(":") or not rest[1:].isdigit():
        return host, -1
    return host, int(rest[1:])


def host_allowed(header: str | None, policy: HostPolicy) -> bool:
    """Whether a request's Host header names this server (the DNS-rebinding guard)."""
    if not header:
        return False
    host, port = split_host(header)
    if port is None:
        port = 80
    if port != policy.port:
        return False
    if host in policy.names:
        return True
    return policy.any_ip and _ip(host) is not None


def cross_site(origin: str | None, fetch_site: str | None, policy: HostPolicy) -> str | None:
    """Why an API request looks like it came from another site's page, or None."""
    if fetch_site and fetch_site.lower() == "cross-site":
        return "Sec-Fetch-Site: cross-site"
    if origin is None:
        return None  # curl, scripts, same-origin GETs
    o = origin.strip().lower().rstrip("/")
    if o in policy.origins():
        return None
    if policy.any_ip and o.startswith("http://"):
        host, port = split_host(o[len("http://"):])
        if _ip(host) is not None and (port or 80) == policy.port:
            return None
    return f"Origin {origin}"
