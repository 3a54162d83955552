"""``App``: routes to handlers, with path parameters.

``@app.route("/users/{id}", methods=["GET"])`` (without methods: GET and
HEAD; a route for GET answers HEAD too unless HEAD has a route of its own);
parameters reach the handler as keyword arguments and as
``request.path_params``. A route made with ``stream=True`` is called as soon
as a request's head is in, and reads the body from ``request.stream`` as it
arrives (sluice.http.stream); make such routes before the server starts. Exact paths are one dict lookup; patterns are
tried in the order they were added. 404 and 405 (with Allow) otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from .request import _METHODS, METHOD_CODES

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class App:
    def __init__(self) -> None:
        self.routes: dict[str, dict[str, Callable]] = {}  # exact path -> method -> handler
        self.patterns: list[tuple[re.Pattern, str, dict[str, Callable]]] = []
        self._streamed: set[tuple[str, str]] = set()  # (route path, method) that stream their bodies
        self._by_code: dict[str, list] = {}  # exact path -> handler by C's method code (exact_routes)
        self._own_head: set[str] = set()  # route paths whose HEAD was asked for (not only implied by GET)

    @property
    def streams(self) -> bool:
        """True when a route streams its request bodies."""
        return bool(self._streamed)

    def route(self, path: str, methods: Iterable[str] | None = None, stream: bool = False):
        if not path.startswith("/"):
            raise ValueError(f"route {path!r}: must start with '/'")
        wanted = [m.upper() for m in (methods or ("GET", "HEAD"))]
        # A GET route answers HEAD too (RFC 9110 §9.3.2; C sends the head
        # only), unless HEAD has a handler of its own, before or after.
        implicit_head = "GET" in wanted and "HEAD" not in wanted

        def add(fn: Callable) -> Callable:
            if _PARAM.search(path):
                table = next((t for rx, p, t in self.patterns if p == path), None)
                if table is None:
                    table = {}
                    parts = _PARAM.split(path)  # literal, name, literal, name, ...
                    rx = "".join(
                        re.escape(part) if k % 2 == 0 else f"(?P<{part}>[^/]+)" for k, part in enumerate(parts)
                    )
                    self.patterns.append((re.compile(rx + r"\Z"), path, table))
                codes = None
            else:
                table = self.routes.setdefault(path, {})
                codes = self._by_code.setdefault(path, [None] * len(_METHODS))
            implied = implicit_head and path not in self._own_head
            for m in [*wanted, "HEAD"] if implied else wanted:
                table[m] = fn
                if codes is not None and m in METHOD_CODES:
                    codes[METHOD_CODES[m]] = fn
                if stream:
                    self._streamed.add((path, m))
                else:
                    self._streamed.discard((path, m))
            if "HEAD" in wanted:
                self._own_head.add(path)
            return fn

        return add

    def exact_routes(self) -> dict[str, list]:
        """Path -> handlers by C's method code (request.METHOD_CODES; None
        where there is none) of the routes without parameters: the server
        has C match these paths and calls their handlers itself, as __call__
        would. The lists are live: a route added later to one of these paths
        counts; a new path is routed by __call__, as is a method C has no
        code for."""
        return self._by_code

    def wants_stream(self, request) -> bool:
        """Does the route this request goes to stream its body?"""
        if not self._streamed:
            return False
        path = request.path
        if path not in self.routes:
            path = next((p for rx, p, _ in self.patterns if rx.match(path)), None)
        return (path, request.method) in self._streamed

    def __call__(self, request) -> Any:
        path = request.path
        table = self.routes.get(path)
        params = None
        if table is None:
            for rx, _, t in self.patterns:
                m = rx.match(path)
                if m:
                    table, params = t, m.groupdict()
                    break
            else:
                return 404, [], "not found\n"
        fn = table.get(request.method)
        if fn is None:
            return 405, [("Allow", ", ".join(sorted(table)))], "method not allowed\n"
        if params:
            request.path_params = params
            return fn(request, **params)
        return fn(request)
