"""``ripmap serve``: the page and its JSON API over HTTP (Starlette on uvicorn).

Why Starlette with uvicorn rather than the standard library's ``http.server``: both are
already installed with the MCP extra (the MCP SDK serves over them), and they bring
what a hand-rolled server would have to get right itself: HTTP/1.1 keep-alive (the
page makes a request per keystroke of Enter), request parsing hardened by wide use,
a thread pool for the blocking ranking calls while the event loop keeps answering,
and a clean shutdown on Ctrl-C.

The API (all answers JSON; errors are ``{"error": "one line"}`` with status 400 for
bad input, 403 for a refused caller, 404 for no such thing, 413 for too large, 500
for a bug, and never a traceback):

    GET  /api/info                         root, file count, presets, parameters
    GET  /api/status                       {generation}: grows each time changed files are re-indexed
    POST /api/rank    {chat, focus, preset, params, top, path}   list + graph + query (+ explain of path)
    POST /api/explain {chat, focus, preset, params, path}        one file's per-signal breakdown
    POST /api/map     {chat, focus, preset, params, tokens}      the text map and its token count
    GET  /api/search?q=NAME&limit=N        where identifiers are defined and used
    GET  /api/runs                         training runs and the promptgram lineage
    GET  /api/run?folder=F&name=RUN        one run: progress, parameters, episodes

``rank``, ``explain`` and ``map`` also answer GET with the same fields as query
parameters (``chat`` repeated, ``params`` as JSON text), for curl.
"""
from __future__ import annotations

import json
import logging
import socket
import sys
from pathlib import Path
from typing import Any, Awaitable, Callable

from ..errors import RipmapError, UsageError
from ..render.html import SERVED_CSP, asset, served_page
from .guard import HostPolicy, check_bind, cross_site, url_host
from .runs import NoSuchRun
from .service import Inputs, LiveRepo, MapService

log = logging.getLogger("ripmap.serve")

#: request bodies larger than this are refused before they are read whole
MAX_BODY = 1 << 20
#: the page's own files, and their types: nothing else is served from the package
STATIC = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8",
          "vendor/cytoscape.min.js": "text/javascript; charset=utf-8",
          "vendor/cytoscape.LICENSE": "text/plain; charset=utf-8"}
HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
           "X-Frame-Options": "DENY"}


class TooLarge(UsageError):
    """A request body over :data:`MAX_BODY`."""


def _missing_extra() -> RipmapError:
    return RipmapError("ripmap serve needs Starlette and uvicorn: pip install 'ripmap[serve]'")


def create_app(service: MapService, policy: HostPolicy, *, verbose: bool = False):
    """The ASGI app: the page, its assets and the API, behind the Host / Origin guard."""
    try:
        from starlette.applications import Starlette
        from starlette.concurrency import run_in_threadpool
        from starlette.requests import Request
        from starlette.responses import HTMLResponse, JSONResponse, Response
        from starlette.routing import Route
    except ImportError:  # pragma: no cover - only without the extra
        raise _missing_extra() from None

    page = served_page()
    assets = {name: asset(name) for name in STATIC}

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status, headers=HEADERS)

    async def read_inputs(request: Request) -> Inputs:
        if request.method == "GET":
            q = request.query_params
            raw: dict[str, Any] = {k: q.get(k) for k in q.keys()}
            if "chat" in raw:
                raw["chat"] = q.getlist("chat")
            return Inputs.parse(raw)
        size = request.headers.get("content-length")
        if size is not None and size.isdigit() and int(size) > MAX_BODY:
            raise TooLarge(f"the request is {int(size):,} bytes; at most {MAX_BODY:,} are read "
                           f"(a focus text that long cannot be ranked)")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                raise TooLarge(f"the request is larger than {MAX_BODY:,} bytes (a focus text that long cannot be "
                               f"ranked)")
        try:
            data = json.loads(body or b"{}")
        except ValueError as e:
            raise UsageError(f"the request body is not valid JSON ({e})") from None
        return Inputs.parse(data)

    def endpoint(work: Callable[[Request], Awaitable[Any]]) -> Callable[[Request], Awaitable[Response]]:
        """One API route: its answer as JSON, every failure as one line."""
        async def handle(request: Request) -> Response:
            try:
                return JSONResponse(await work(request), headers=HEADERS)
            except TooLarge as e:
                return error(413, str(e))
            except NoSuchRun as e:
                return error(404, str(e))
            except UsageError as e:
                return error(400, str(e))
            except RipmapError as e:
                return error(500, str(e))
            except Exception as e:  # a bug: one line to the page, the traceback to the log
                log.error("%s %s failed: %s: %s", request.method, request.url.path, type(e).__name__, e,
                          exc_info=verbose)
                first = (str(e).strip().splitlines() or [""])[0]
                return error(500, f"internal error: {type(e).__name__}: {first} (please report; the server's log "
                                  f"has details with -v)")
        return handle

    def ranked(method: Callable[[Inputs], dict[str, Any]]):
        async def work(request: Request) -> Any:
            inp = await read_inputs(request)
            return await run_in_threadpool(method, inp)
        return endpoint(work)

    async def info(request: Request) -> Any:
        return await run_in_threadpool(service.info)

    async def search(request: Request) -> Any:
        q = request.query_params.get("q") or request.query_params.get("query") or ""
        limit = request.query_params.get("limit")
        n = None
        if limit:
            if not limit.isdigit() or not 1 <= int(limit) <= 1000:
                raise UsageError(f"limit must be a whole number from 1 to 1000 (got {limit[:20]!r})")
            n = int(limit)
        return await run_in_threadpool(service.search, q, n)

    async def runs(request: Request) -> Any:
        return await run_in_threadpool(service.runs)

    async def status(request: Request) -> Any:
        return service.status()

    async def run(request: Request) -> Any:
        q = request.query_params
        return await run_in_threadpool(service.run, q.get("folder") or "", q.get("name") or "")

    async def index(request: Request) -> Response:
        # the policy again as a header, where frame-ancestors counts (in a <meta> it is ignored)
        csp = SERVED_CSP + "; frame-ancestors 'none'"
        return HTMLResponse(page, headers={**HEADERS, "Content-Security-Policy": csp})

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in assets:
            return Response("not found\n", status_code=404, media_type="text/plain", headers=HEADERS)
        return Response(assets[name], media_type=STATIC[name], headers=HEADERS)

    async def not_found(request: Request) -> Response:
        return error(404, f"no such API endpoint: {request.url.path}")

    both = ["GET", "POST"]
    routes = [
        Route("/", index),
        Route("/static/{name:path}", static),
        Route("/api/info", endpoint(info)),
        Route("/api/status", endpoint(status)),
        Route("/api/rank", ranked(service.rank), methods=both),
        Route("/api/explain", ranked(service.explain), methods=both),
        Route("/api/map", ranked(service.map), methods=both),
        Route("/api/search", endpoint(search)),
        Route("/api/runs", endpoint(runs)),
        Route("/api/run", endpoint(run)),
        Route("/api/{rest:path}", not_found, methods=both),
    ]
    return Guard(Starlette(routes=routes), policy)


class Guard:
    """ASGI middleware: refuse requests whose Host is not this server (DNS rebinding) and
    API requests a browser marks as coming from another site."""

    def __init__(self, app: Any, policy: HostPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host")
        why = None
        if not self.policy.allows(host):
            why = (f"refused: the Host header {host!r} does not name this server (a guard against DNS "
                   f"rebinding); open http://{sorted(self.policy.names)[0]}:{self.policy.port}/ instead")
        elif scope.get("path", "").startswith("/api/"):
            bad = cross_site(headers.get("origin"), headers.get("sec-fetch-site"), self.policy)
            if bad:
                why = f"refused: a request from another site ({bad}) may not use this API"
        if why is None:
            await self.app(scope, receive, send)
            return
        body = json.dumps({"error": why}).encode()
        await send({"type": "http.response.start", "status": 403,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on (host, port), or one line saying why not (port 0: any free port)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise UsageError(f"--host {host}: not an address of this machine ({e.strerror})") from None
    family, _, _, _, addr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(128)
    except OSError as e:
        sock.close()
        if e.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
            raise UsageError(f"port {port} on {host} is already in use: pick another with --port "
                             f"(--port 0 takes any free port)") from None
        raise UsageError(f"cannot listen on {host}:{port} ({e.strerror or e})") from None
    sock.set_inheritable(True)
    return sock


def serve(root: Path, *, host: str = "127.0.0.1", port: int = 8765, allow_remote: bool = False,
          allow_hosts: tuple[str, ...] = (), cache_dir: str | None = None, use_git: bool = True,
          verbose: bool = False, say: Callable[[str], None] | None = None) -> int:
    """Index ``root``, then serve the page until interrupted."""
    try:
        import uvicorn
    except ImportError:  # pragma: no cover - only without the extra
        raise _missing_extra() from None
    from ..api import RepoMap

    say = say or (lambda m: print(f"ripmap: {m}", file=sys.stderr, flush=True))
    warning = check_bind(host, allow_remote)
    sock = bind(host, port)
    if warning:
        say(f"warning: {warning}")
    actual = sock.getsockname()[1]
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format="ripmap: %(message)s")
    def make(where: Path) -> RepoMap:
        return RepoMap(where, use_cache=True, cache_dir=cache_dir, use_git=use_git, progress=False,
                       warn=lambda m: log.warning("%s", m))

    live = LiveRepo(root, make, log=log)
    service = MapService(live)
    try:
        say(f"indexing {service.root} ...")
        live.start()
        policy = HostPolicy.for_bind(host, actual, allow_hosts)
        app = create_app(service, policy, verbose=verbose)
        shown = "127.0.0.1" if url_host(host) in ("0.0.0.0", "[::]") else url_host(host)
        say(f"serving {service.root} on http://{shown}:{actual}/ (Ctrl-C stops)")
        config = uvicorn.Config(app, log_level="info" if verbose else "warning", access_log=verbose,
                                lifespan="off", server_header=False, timeout_graceful_shutdown=2)
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        live.close()
    return 0
