"""Fetching a URL a caller named, without letting the caller reach inside the house (SSRF).

A structure registers its identity provider with a `jwksUri` that Maison then fetches: whoever holds
the key may point it anywhere. Following OWASP's Server-Side Request Forgery Prevention Cheat Sheet
("application layer", case of a URL that cannot be allow-listed):

- the name is resolved once, and *every* address it resolves to must be public: not loopback,
  private (RFC 1918, IPv6 ULA), link-local (169.254/16 — a cloud's metadata service — fe80::/10),
  shared (100.64/10), reserved, documentation, multicast or unspecified; an IPv4 address carried in
  IPv6 (mapped ::ffff:0:0/96, NAT64 64:ff9b::/96, 6to4 2002::/16, Teredo) is judged as IPv4;
- the connection goes to the address checked, not to the name again: a DNS answer changed between
  the check and the connection (DNS rebinding) cannot redirect it. The name is kept for `Host` and
  for TLS (SNI and the certificate's name are checked against it);
- no redirects, no proxy from the environment, https only, bounded time and size;
- one error, `Unreachable`, whatever went wrong, so that the answers do not map the inside network
  (which addresses exist, which ports are open, what they answer).

`private_addresses=True` lifts the address rule (and allows plain http) for tests and labs, where
the provider runs on loopback.
"""

from __future__ import annotations

import ipaddress
import socket

import httpx

MAX_ADDRESSES = 4  # tried in the resolver's order; each within the timeout
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Unreachable(Exception):
    """The URL was not fetched; deliberately without the reason."""


def is_public(address: IPAddress) -> bool:
    """True for an address of the public Internet (what a provider's JWKS URI may resolve to)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public(embedded)
    return address.is_global and not address.is_multicast


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (an address literal resolves to itself)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    found: list[IPAddress] = []
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


def fetch(url: str, *, max_bytes: int, timeout: float = 5.0, private_addresses: bool = False) -> bytes:
    """The body of a 200 answer to GET `url`, or `Unreachable`."""
    try:
        target = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise Unreachable from None
    schemes = ("https", "http") if private_addresses else ("https",)
    if target.scheme not in schemes or not target.host or target.userinfo:
        raise Unreachable
    port = target.port or (443 if target.scheme == "https" else 80)
    addresses = resolve(target.host, port)
    if not addresses or not (private_addresses or all(is_public(a) for a in addresses)):
        raise Unreachable  # one non-public answer is enough: the resolver may be the attacker's
    for address in addresses[:MAX_ADDRESSES]:
        try:
            return _get(target, address, max_bytes, timeout)
        except httpx.TransportError:
            continue  # this address does not answer: the next one
        except (httpx.HTTPError, OSError, ValueError):
            break
    raise Unreachable


def _get(target: httpx.URL, address: IPAddress, max_bytes: int, timeout: float) -> bytes:
    """GET over a connection to `address` itself, the name kept for Host, SNI and certificate."""
    pinned = target.copy_with(host=str(address))
    headers = {"Host": target.netloc.decode("ascii"), "Accept": "application/json"}
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        with client.stream("GET", pinned, headers=headers, extensions={"sni_hostname": target.host}) as answer:
            if answer.status_code != 200:
                raise Unreachable
            body = bytearray()
            for chunk in answer.iter_bytes():  # decoded, so a compressed bomb is bounded too
                body += chunk
                if len(body) > max_bytes:
                    raise Unreachable
            return bytes(body)
