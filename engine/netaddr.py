"""Host addresses: loopback or not, and HOST:PORT parsing, for every listener and URL pacer checks."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: the only places plain HTTP and unauthenticated servers may use."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_host_port(text: str, example: str = "127.0.0.1:8080") -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT`` -> (host, port); ValueError when malformed."""
    raw = text.strip()
    if raw.startswith("["):
        host, sep, rest = raw[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
        ok = bool(sep) and rest.startswith(":")
    else:
        host, sep, port_text = raw.rpartition(":")
        ok = bool(sep) and ":" not in host
    if not ok or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"must be HOST:PORT such as {example}, got {text!r}")
    return host, int(port_text)
