"""HTTP fetches of URLs that came from someone else (marketplace APIs, their image links).

A URL in an API response is untrusted input: fetched naively it can point at the cloud metadata
service, at Postgres on localhost, or at a 10 GB file. `SafeHttp.fetch` therefore

- accepts http and https only;
- resolves the host itself, refuses it if **any** of its addresses is private, loopback,
  link-local, multicast, reserved or otherwise not globally routable, and then connects to the
  very address it checked (a custom httpcore network backend), so a DNS answer that changes
  between the check and the connect (DNS rebinding) cannot slip past;
- follows redirects by hand, so every hop goes through the same checks (and credentials are not
  forwarded to another origin);
- caps the body size (Content-Length first, then counted while streaming; it stops reading past
  the cap), and the time: connect, read (per chunk) and total;
- raises one typed `FetchError` subclass per failure, each carrying an ErrorCode that says
  whether trying again can help.

Environment proxies are ignored (a proxy would resolve names on our behalf, out of our sight).
Loopback can be allowed explicitly (`FetchPolicy.allow_loopback`): that exists for replay servers
in tests and is never on by default; private ranges cannot be allowed at all.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json as _json
import socket
import ssl
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable

import httpcore
import httpx

from common_py.errors import ErrorCode, PipelineError

Resolver = Callable[[str, int], Awaitable[list[str]]]
_REDIRECTS = {301, 302, 303, 307, 308}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_ERROR_BODY_BYTES = 2048  # of a non-2xx answer: enough to explain an API error


# -- errors -------------------------------------------------------------------------------------

class FetchError(PipelineError):
    """A fetch failed; `url` is the URL of the hop that failed."""

    def __init__(self, message: str, url: str, code: ErrorCode | None = None):
        super().__init__(message, code)
        self.reason = message
        self.url = url

    def __str__(self) -> str:
        return f"{self.reason} ({self.url})"


class UnsafeURL(FetchError):
    """Not http(s), malformed, or its host resolves to an address we never connect to."""

    code = ErrorCode.BAD_INPUT


class TooLarge(FetchError):
    code = ErrorCode.BAD_INPUT


class TooManyRedirects(FetchError):
    code = ErrorCode.BAD_INPUT


class FetchTimeout(FetchError):
    code = ErrorCode.TIMEOUT


class ConnectFailed(FetchError):
    """DNS failure, connection refused or reset, TLS failure: the other side may be back later."""

    code = ErrorCode.DEPENDENCY_UNAVAILABLE


class HTTPStatusError(FetchError):
    """A non-2xx answer. 429 and 5xx are retryable, other 4xx are not. `body` holds the first
    bytes of the answer (APIs explain their errors there)."""

    def __init__(self, status: int, url: str, body: bytes = b""):
        code = ErrorCode.DEPENDENCY_UNAVAILABLE if status == 429 or status >= 500 else ErrorCode.BAD_INPUT
        super().__init__(f"HTTP {status}", url, code)
        self.status = status
        self.body = body


# -- policy and result --------------------------------------------------------------------------

@dataclass(frozen=True)
class FetchPolicy:
    max_bytes: int = 20 * 1024 * 1024
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 15.0    # longest silence between two chunks
    total_timeout_s: float = 60.0   # the whole fetch: every hop, resolve, connect and body
    max_redirects: int = 5
    allow_loopback: bool = False    # tests only: lets a replay server on 127.0.0.1 / ::1 answer


@dataclass(frozen=True)
class FetchResult:
    url: str            # the final URL, after redirects
    status: int
    headers: httpx.Headers
    content: bytes

    def json(self) -> Any:
        try:
            return _json.loads(self.content)
        except ValueError as exc:
            raise FetchError(f"response is not JSON: {exc}", self.url, ErrorCode.DEPENDENCY_UNAVAILABLE) from exc


# -- address checks -----------------------------------------------------------------------------

def blocked_reason(address: str, allow_loopback: bool = False) -> str | None:
    """Why we never connect to `address` (an IP literal), or None if it is a public address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address):
        # ::ffff:a.b.c.d, 2002:xxxx:xxxx:: (6to4) and 64:ff9b::a.b.c.d (NAT64) reach an IPv4 address
        if ip in _NAT64:
            ip = ipaddress.IPv4Address(ip.packed[-4:])
        else:
            ip = ip.ipv4_mapped or ip.sixtofour or ip
    # order matters: the stdlib counts loopback and link-local as "private" too
    if ip.is_loopback:
        return None if allow_loopback else "loopback"
    for reason, hit in (("unspecified", ip.is_unspecified), ("link-local", ip.is_link_local),
                        ("multicast", ip.is_multicast), ("private", ip.is_private),
                        ("reserved", ip.is_reserved), ("not globally routable", not ip.is_global)):
        if hit:
            return reason
    return None


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))  # unique, resolver order kept


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks every address, connects to a checked one: the check and the connection
    cannot disagree about where the host is."""

    def __init__(self, resolver: Resolver, allow_loopback: bool):
        self._inner = httpcore.AnyIOBackend()
        self._resolver = resolver
        self._allow_loopback = allow_loopback

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        url = f"//{host}:{port}"  # _send puts the request's full URL in its place
        try:
            addresses = await asyncio.wait_for(self._resolver(host, port), timeout)
        except asyncio.TimeoutError as exc:
            raise FetchTimeout(f"resolving {host} timed out", url) from exc
        except OSError as exc:
            raise ConnectFailed(f"cannot resolve {host}: {exc}", url) from exc
        if not addresses:
            raise ConnectFailed(f"{host} has no address", url)
        for address in addresses:
            reason = blocked_reason(address, self._allow_loopback)
            if reason:
                raise UnsafeURL(f"{host} resolves to {address} ({reason})", url)
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                                     socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        raise last  # type: ignore[misc]  # addresses is not empty

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):  # pragma: no cover
        raise UnsafeURL("unix sockets are not fetched", path)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, backend: _GuardedBackend, ssl_context: ssl.SSLContext, limits: httpx.Limits):
        super().__init__(verify=ssl_context, trust_env=False, limits=limits)
        # httpx 0.28 (pinned) does not take a network backend, so we build its connection pool
        # ourselves with the same settings plus ours; the request/response mapping stays httpx's.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context, max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry, network_backend=backend)


# -- the client ---------------------------------------------------------------------------------

class SafeHttp:
    """One connection pool; `fetch()` as often as needed; `aclose()` at the end."""

    def __init__(self, policy: FetchPolicy | None = None, *, resolver: Resolver | None = None,
                 user_agent: str = "pvm/0.1"):
        self.policy = policy or FetchPolicy()
        p = self.policy
        transport = _GuardedTransport(_GuardedBackend(resolver or system_resolver, p.allow_loopback),
                                      httpx.create_ssl_context(), httpx.Limits(max_connections=20))
        self._client = httpx.AsyncClient(
            transport=transport, trust_env=False, follow_redirects=False,
            timeout=httpx.Timeout(connect=p.connect_timeout_s, read=p.read_timeout_s,
                                  write=p.read_timeout_s, pool=p.connect_timeout_s),
            headers={"User-Agent": user_agent})

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> SafeHttp:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def fetch(self, url: str, *, method: str = "GET", headers: dict[str, str] | None = None,
                    params: dict[str, Any] | None = None, json: Any = None, data: dict[str, str] | None = None,
                    max_bytes: int | None = None) -> FetchResult:
        """The body of a 2xx answer, all checks applied; raises a FetchError subclass otherwise."""
        try:
            async with asyncio.timeout(self.policy.total_timeout_s):
                return await self._follow(url, method, dict(headers or {}), params, json, data,
                                          max_bytes or self.policy.max_bytes)
        except TimeoutError as exc:
            raise FetchTimeout(f"gave up after {self.policy.total_timeout_s:g} s in all", url) from exc

    async def _follow(self, url, method, headers, params, json, data, max_bytes) -> FetchResult:
        current = _checked_url(url)
        for _hop in range(self.policy.max_redirects + 1):
            request = self._client.build_request(method, current, headers=headers, params=params, json=json,
                                                 data=data)
            status, response_headers, body = await self._send(request, max_bytes)
            if status in _REDIRECTS and "location" in response_headers:
                target = _checked_url(str(request.url.join(response_headers["location"])))
                if (target.scheme, target.host, target.port) != (request.url.scheme, request.url.host,
                                                                 request.url.port):
                    # credentials meant for one origin never travel to another
                    headers = {k: v for k, v in headers.items() if k.lower() not in ("authorization", "cookie")}
                if status == 303 or (status in (301, 302) and method == "POST"):
                    method, json, data = "GET", None, None  # what browsers and RFC 9110 do
                current, params = target, None  # the Location already carries its query
                continue
            if not 200 <= status < 300:
                raise HTTPStatusError(status, str(request.url), body)
            return FetchResult(str(request.url), status, response_headers, body)
        raise TooManyRedirects(f"more than {self.policy.max_redirects} redirects", url)

    async def _send(self, request: httpx.Request, max_bytes: int) -> tuple[int, httpx.Headers, bytes]:
        url = str(request.url)
        try:
            response = await self._client.send(request, stream=True)
        except FetchError as exc:  # raised by the guarded backend, which only knew host and port
            exc.url = url
            raise
        except httpx.TimeoutException as exc:
            raise FetchTimeout(f"{type(exc).__name__}", url) from exc
        except (httpx.TransportError, ssl.SSLError) as exc:
            raise ConnectFailed(f"{type(exc).__name__}: {exc}", url) from exc
        ok = 200 <= response.status_code < 300
        limit = max_bytes if ok else _ERROR_BODY_BYTES  # a redirect or error body is not kept whole
        try:
            declared = response.headers.get("content-length", "")
            if ok and declared.isdigit() and int(declared) > limit:
                raise TooLarge(f"declares {int(declared)} bytes, the cap is {limit}", url)
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():  # decoded bytes: the cap also bounds gzip bombs
                size += len(chunk)
                if size > limit:
                    if ok:
                        raise TooLarge(f"body exceeds the cap of {limit} bytes", url)
                    chunks.append(chunk[:limit - (size - len(chunk))])
                    break
                chunks.append(chunk)
            return response.status_code, response.headers, b"".join(chunks)
        except httpx.TimeoutException as exc:
            raise FetchTimeout(f"{type(exc).__name__} while reading the body", url) from exc
        except (httpx.TransportError, httpx.DecodingError) as exc:
            raise ConnectFailed(f"{type(exc).__name__} while reading the body: {exc}", url) from exc
        finally:
            await response.aclose()


def _checked_url(url: str | httpx.URL) -> httpx.URL:
    text = str(url)
    try:
        parsed = httpx.URL(text)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise UnsafeURL(f"malformed URL: {exc}", text) from exc
    if parsed.scheme not in ("http", "https"):
        raise UnsafeURL(f"scheme {parsed.scheme or '(none)'!r} is not fetched, only http and https", text)
    if not parsed.host:
        raise UnsafeURL("URL has no host", text)
    return parsed
