"""A guarded downloader for provider result URLs (the Wan video), so a URL cannot become an SSRF.

Rules: https only; the host must match the allow-list (`WAN_ALLOWED_HOSTS`, comma-separated domain
suffixes); every address the host resolves to must be public (no private, loopback, link-local,
metadata, multicast or reserved address), and the address actually connected to is checked again
before the body is read (DNS can change between our lookup and httpx's); redirects are followed by
hand only within the same origin (scheme, host and port); the body is capped in bytes. The one
exception is for local runs and tests: a loopback host listed *literally* in the allow-list (e.g.
`127.0.0.1`) may be fetched over http. Production lists only provider domains, so that door stays shut there.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from ssl import SSLContext

import httpx

from shared.errors import GenerationFailed, Unavailable

Resolver = Callable[[str, int], list[str]]
_LOOPBACK_NAMES = frozenset({"127.0.0.1", "::1", "localhost"})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class DownloadRefused(GenerationFailed):
    """The result URL broke a download rule; permanent (the provider will keep returning it)."""

    code = "download_refused"


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise Unavailable(f"cannot resolve {host} ({exc.strerror})") from None
    return [str(info[4][0]) for info in infos]


def _origin(url: httpx.URL) -> tuple[str, str, int]:
    """Scheme, host and effective port: what a redirect may not change."""
    return url.scheme, url.host.lower(), url.port or (443 if url.scheme == "https" else 80)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def parse_allowed_hosts(value: str) -> tuple[str, ...]:
    return tuple(h.strip().lower().lstrip(".") for h in value.split(",") if h.strip())


class SafeDownloader:
    def __init__(
        self,
        allowed_hosts: str,
        *,
        max_bytes: int = 256 * 1024 * 1024,
        resolver: Resolver = system_resolver,
        verify: SSLContext | bool = True,
        timeout: httpx.Timeout | None = None,
        max_redirects: int = 3,
    ) -> None:
        self._allowed = parse_allowed_hosts(allowed_hosts)
        self._max_bytes = max_bytes
        self._resolve = resolver
        self._max_redirects = max_redirects
        # trust_env=False: a proxy from the environment would make the peer check meaningless.
        self._http = httpx.Client(
            verify=verify, timeout=timeout or httpx.Timeout(60.0, connect=10.0), follow_redirects=False, trust_env=False
        )

    def close(self) -> None:
        self._http.close()

    def fetch(self, url: str) -> bytes:
        """The body at `url`, or DownloadRefused / Unavailable (transient network faults)."""
        target = httpx.URL(url)
        for _ in range(self._max_redirects + 1):
            self.check_url(target)
            location = self._get(target)
            if isinstance(location, bytes):
                return location
            if _origin(location) != _origin(target):  # another port is another service, even on one host
                raise DownloadRefused(
                    f"refused redirect from {target.host} to another origin ({location.host}:{_origin(location)[2]})"
                )
            target = location
        raise DownloadRefused(f"too many redirects from {httpx.URL(url).host}")

    def _host_allowed(self, host: str) -> bool:
        if _is_ip(host):  # an address matches only itself: "0.0.1" must not admit 127.0.0.1
            return host in self._allowed
        return any(host == s or host.endswith("." + s) for s in self._allowed)

    def _loopback_ok(self, host: str) -> bool:
        return host in _LOOPBACK_NAMES and host in self._allowed

    def check_url(self, url: httpx.URL) -> None:
        host = url.host.lower()
        if not self._host_allowed(host):
            raise DownloadRefused(f"refused download from {host or 'no host'}: not in WAN_ALLOWED_HOSTS")
        if url.scheme != "https" and not (url.scheme == "http" and self._loopback_ok(host)):
            raise DownloadRefused(f"refused {url.scheme or 'schemeless'} download from {host}: https only")
        for address in self._resolve(host, url.port or (443 if url.scheme == "https" else 80)):
            self.check_address(host, address)

    def check_address(self, host: str, address: str) -> None:
        ip = ipaddress.ip_address(address.split("%", maxsplit=1)[0])  # drop an IPv6 zone id
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip.is_loopback and self._loopback_ok(host):
            return
        if not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_link_local:
            raise DownloadRefused(f"refused download from {host}: it resolves to a non-public address ({ip})")

    def _get(self, url: httpx.URL) -> bytes | httpx.URL:
        """The body, or the next URL of a redirect."""
        try:
            with self._http.stream("GET", url) as response:
                self._check_peer(url.host, response)
                if response.status_code in _REDIRECTS and "location" in response.headers:
                    return url.join(response.headers["location"])
                if response.status_code == 429 or response.status_code >= 500:
                    raise Unavailable(f"video download from {url.host} failed with HTTP {response.status_code}")
                if response.status_code != 200:
                    raise GenerationFailed(f"video download from {url.host} failed with HTTP {response.status_code}")
                return self._read_capped(response)
        except httpx.TransportError as exc:
            raise Unavailable(f"video download from {url.host} failed ({type(exc).__name__})") from None

    def _check_peer(self, host: str, response: httpx.Response) -> None:
        stream = response.extensions.get("network_stream")
        peer = stream.get_extra_info("server_addr") if stream is not None else None
        if not peer:
            raise DownloadRefused(f"refused download from {host}: cannot verify the connected address")
        self.check_address(host, str(peer[0]))

    def _read_capped(self, response: httpx.Response) -> bytes:
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._max_bytes:
            raise DownloadRefused(f"refused download: {declared} bytes is over the {self._max_bytes}-byte cap")
        chunks, total = [], 0
        for chunk in response.iter_bytes():
            total += len(chunk)
            if total > self._max_bytes:
                raise DownloadRefused(f"refused download: over the {self._max_bytes}-byte cap")
            chunks.append(chunk)
        return b"".join(chunks)
