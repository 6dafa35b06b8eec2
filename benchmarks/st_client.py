"""A small Streamlit client that speaks the browser's websocket protocol (no browser).

It opens `/_stcore/stream` as Streamlit's frontend does, sends `BackMsg`s and reads the
`ForwardMsg`s back (protobuf, `streamlit.proto`), so one asyncio process can play many
patients against a real `streamlit run app.py`:

- `start()` sends the first `rerun_script` with the page's query string (and the page
  name from the address, "" for the default page), as the frontend does on load; the
  server answers with `new_session`, `navigation` (with `st.navigation`: the page's
  script hash, which every later rerun must name, or the server takes the rerun for a
  page change and drops the widget values it does not carry), deltas and
  `script_finished`. `page_info_changed` (st.query_params set by the app) updates the
  query string later reruns send, as the address bar does.
- Elements are kept by id; a components-v2 element (`BidiComponent`) is found by its
  component name (`component("coach_pose_camera")`, matched on the name's suffix since
  Streamlit may namespace it), with its element id, JSON `data` and the fragment it was
  drawn in.
- `send_trigger(element, event, value)` does what a component's `setTriggerValue` does in
  the frontend: one widget state on the component's trigger aggregator widget
  (`$$STREAMLIT_INTERNAL_KEY_<element id>__events`) whose `json_trigger_value` is the
  JSON list `[{"event": event, "value": value}]`, sent in a `rerun_script` for the
  element's fragment only (`fragment_id`). Triggers are sent once and never repeated in
  later reruns (the frontend deletes them after the flush).
- The ForwardMsg cache: like the frontend, cacheable messages are kept by hash and their
  hashes are declared in `cached_message_hashes`, so the server may send `ref_hash`
  messages instead, which are resolved from the local cache (with the reference's own
  metadata). Entries age out after the server's `max_cached_message_age` runs, as in the
  frontend. `cache=False` declares no cache: the server then never sends references.
- `auto_rerun` (fragments with `run_every`) is honoured with `is_auto_rerun` reruns.
- Errors: exception elements, compile errors and `page_not_found` are collected in
  `errors`; a closed websocket ends the session (`closed` is set and every waiter raises
  `SessionClosed`).

Only the widgets it is told about are sent: the server keeps the previous values of
widgets missing from a rerun, which is all these load tests need.

`JsonPoster` is the other half of a browser: `fetch(url, {method: 'POST'})` of JSON
over one kept-alive HTTP/1.1 connection (the app's landmark route).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import websockets
from streamlit.components.v2.bidi_component.constants import EVENT_DELIM
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from streamlit.runtime.state.session_state import STREAMLIT_INTERNAL_KEY_PREFIX

STREAM_PATH = "_stcore/stream"
TRIGGER_AGGREGATOR_EVENT = "events"
"""Suffix of a bidi component's single trigger widget (Streamlit's `_make_trigger_id`)."""
DEFAULT_MAX_CACHED_MESSAGE_AGE = 2


class StreamlitClientError(RuntimeError):
    """The server said something this client cannot go on from."""


class SessionClosed(StreamlitClientError):
    """The websocket closed (the server stopped, or dropped this session)."""


def trigger_aggregator_id(element_id: str) -> str:
    """The trigger widget's id for a bidi component element (as the frontend builds it)."""
    if EVENT_DELIM in element_id:
        raise ValueError(f"a component id must not contain {EVENT_DELIM!r}: {element_id!r}")
    return f"{STREAMLIT_INTERNAL_KEY_PREFIX}_{element_id}{EVENT_DELIM}{TRIGGER_AGGREGATOR_EVENT}"


def trigger_state(element_id: str, events: Iterable[tuple[str, Any]]) -> WidgetState:
    """The widget state the frontend sends after `setTriggerValue(name, value)` calls made
    in one macrotask (they are batched into one JSON list)."""
    payload = [{"event": name, "value": value} for name, value in events]
    state = WidgetState(id=trigger_aggregator_id(element_id))
    state.json_trigger_value = json.dumps(payload, separators=(",", ":"))
    return state


@dataclass
class BidiElement:
    """The newest version of one components-v2 element the server drew."""

    id: str
    component_name: str
    data: Any
    """Its JSON `data` (None when it has none; bytes/arrow data are not decoded)."""
    fragment_id: str
    delta_path: tuple[int, ...]
    run_id: str
    received_s: float
    """`time.monotonic()` when this version arrived."""
    version: int
    """How many versions of this element arrived in this session (1 for the first)."""


@dataclass
class _CacheEntry:
    raw: bytes
    fragment_id: str
    age: int = 0


@dataclass
class ClientStats:
    messages_in: Counter[str] = field(default_factory=Counter)
    bytes_in: Counter[str] = field(default_factory=Counter)
    messages_out: int = 0
    bytes_out: int = 0
    ref_hits: int = 0
    runs_finished: int = 0
    fragment_runs_finished: int = 0


def _bidi_data(proto: Any) -> Any:
    kind = proto.WhichOneof("data")
    if kind == "json":
        return json.loads(proto.json) if proto.json else None
    if kind == "mixed":
        return json.loads(proto.mixed.json) if proto.mixed.json else None
    return None


class JsonPoster:
    """POSTs JSON to one server over a kept-alive HTTP/1.1 connection, one request at a
    time, as a browser tab's `fetch` does; a connection the server closed is reopened."""

    def __init__(self, base_url: str, timeout_s: float = 30.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"expected an http:// address, not {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.timeout_s = timeout_s
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()
        self.bytes_out = 0
        self.bytes_in = 0

    async def post(self, path: str, body: bytes) -> tuple[int, Any]:
        """(status, the JSON answer or None)."""
        async with self._lock:
            for attempt in (1, 2):
                fresh = self._writer is None
                try:
                    return await asyncio.wait_for(self._exchange(path, body), self.timeout_s)
                except (ConnectionError, asyncio.IncompleteReadError, OSError):
                    await self.close()
                    if fresh or attempt == 2:
                        raise
            raise AssertionError("unreachable")

    async def _exchange(self, path: str, body: bytes) -> tuple[int, Any]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        self._writer.write(head + body)
        await self._writer.drain()
        self.bytes_out += len(head) + len(body)
        status_line = await self._reader.readuntil(b"\r\n")
        status = int(status_line.split()[1])
        length, close = 0, False
        while (line := await self._reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
            elif name.strip().lower() == "connection" and "close" in value.lower():
                close = True
        raw = await self._reader.readexactly(length) if length else b""
        self.bytes_in += len(status_line) + len(raw)
        if close:
            await self.close()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, None

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


class StreamlitClient:
    """One browser tab's session with a Streamlit server, over its websocket."""

    def __init__(
        self,
        base_url: str,
        query_string: str = "",
        *,
        page_name: str = "",
        cache: bool = True,
        open_timeout_s: float = 20.0,
        on_component: Callable[[BidiElement], None] | None = None,
        timezone: str = "UTC",
        locale: str = "en-US",
        cookies: dict[str, str] | None = None,
    ) -> None:
        """`cookies`: sent with the websocket handshake, as a browser sends the page's
        cookies (the app's sign-in cookie keeps a person signed in)."""
        parts = urlsplit(base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        base_path = parts.path.rstrip("/")
        self.page_url = urlunsplit(
            (parts.scheme, parts.netloc, f"{base_path}/{page_name}", query_string, "")
        )
        self.ws_url = urlunsplit((scheme, parts.netloc, f"{base_path}/{STREAM_PATH}", "", ""))
        self.query_string = query_string.lstrip("?")
        self.page_name = page_name
        self.cache_enabled = cache
        self.open_timeout_s = open_timeout_s
        self.on_component = on_component
        self.timezone, self.locale = timezone, locale
        self.cookies = dict(cookies or {})

        self.page_script_hash = ""
        self.main_script_hash = ""
        self.session_id = ""
        self.script_run_id = ""
        self.script_running = False
        self.last_finish: int | None = None
        self.elements: dict[str, BidiElement] = {}
        self.errors: list[str] = []
        self.texts: dict[tuple[int, ...], tuple[str, str, float]] = {}
        """Text elements by their place on the page: (kind, text, received), with kind
        "markdown", or "metric" and text "label: value" (what a person reads)."""
        self.stats = ClientStats()
        self.closed = asyncio.Event()
        self.close_reason = ""
        self.last_message_s = math.nan
        """`time.monotonic()` of the newest ForwardMsg (a server-side dropped session keeps
        its websocket open and simply stops answering: this shows it)."""

        self._ws: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Condition()
        self._cache: dict[str, _CacheEntry] = {}
        self._max_age = DEFAULT_MAX_CACHED_MESSAGE_AGE
        self._auto: dict[str, asyncio.Task[None]] = {}
        self._run_fragments: tuple[str, ...] = ()
        self._versions: Counter[str] = Counter()

    # -- connection ---------------------------------------------------------------------

    async def __aenter__(self) -> StreamlitClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        self._ws = await websockets.connect(
            self.ws_url,
            subprotocols=["streamlit"],  # type: ignore[list-item]
            max_size=None,
            open_timeout=self.open_timeout_s,
            compression=None,
            # Browsers never ping (they only answer the server's pings, as this does).
            ping_interval=None,
            additional_headers=(
                {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
                if self.cookies
                else None
            ),
        )
        self._reader = asyncio.create_task(self._read(), name=f"st-client {self.ws_url}")

    async def close(self) -> None:
        for task in self._auto.values():
            task.cancel()
        self._auto.clear()
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.close(), 5.0)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
            self._reader = None
        self._set_closed(self.close_reason or "closed by the client")

    def _set_closed(self, reason: str) -> None:
        if not self.closed.is_set():
            self.close_reason = reason
            self.closed.set()

    # -- sending ------------------------------------------------------------------------

    def _context_info(self, msg: BackMsg) -> None:
        ci = msg.rerun_script.context_info
        ci.timezone = self.timezone
        ci.timezone_offset = 0
        ci.locale = self.locale
        ci.url = self.page_url
        ci.is_embedded = False
        ci.color_scheme = "light"

    async def rerun(
        self,
        widget_states: Iterable[WidgetState] = (),
        *,
        fragment_id: str = "",
        is_auto_rerun: bool = False,
    ) -> float:
        """Send a `rerun_script` (the whole page, or one fragment); returns when it was sent
        (`time.monotonic()`)."""
        if self.closed.is_set():
            raise SessionClosed(self.close_reason)
        msg = BackMsg()
        rr = msg.rerun_script
        rr.query_string = self.query_string
        rr.page_script_hash = self.page_script_hash
        rr.page_name = self.page_name if not self.page_script_hash else ""
        rr.fragment_id = fragment_id
        rr.is_auto_rerun = is_auto_rerun
        rr.widget_states.widgets.extend(widget_states)
        if self.cache_enabled:
            rr.cached_message_hashes.extend(self._cache)
        self._context_info(msg)
        data = msg.SerializeToString()
        sent = time.monotonic()
        try:
            await self._ws.send(data)
        except websockets.ConnectionClosed as exc:
            self._set_closed(f"websocket closed: {exc}")
            raise SessionClosed(self.close_reason) from exc
        self.stats.messages_out += 1
        self.stats.bytes_out += len(data)
        return sent

    async def send_trigger(
        self, element: BidiElement, event: str, value: Any, *, fragment: bool = True
    ) -> float:
        """What `setTriggerValue(event, value)` in the component does: rerun the element's
        fragment (or the page, `fragment=False`) with that one trigger."""
        return await self.send_triggers(element, [(event, value)], fragment=fragment)

    async def send_triggers(
        self, element: BidiElement, events: Iterable[tuple[str, Any]], *, fragment: bool = True
    ) -> float:
        fid = element.fragment_id if fragment else ""
        return await self.rerun([trigger_state(element.id, events)], fragment_id=fid)

    async def heartbeat(self) -> None:
        msg = BackMsg(app_heartbeat=True)
        await self._ws.send(msg.SerializeToString())

    async def start(self, timeout_s: float = 60.0) -> None:
        """Load the page: the first rerun, then wait for its `script_finished`."""
        await self.rerun()
        await self.wait_for(lambda: self.stats.runs_finished > 0, timeout_s, "the first run")

    # -- waiting ------------------------------------------------------------------------

    async def wait_for(
        self, predicate: Callable[[], Any], timeout_s: float, what: str = "a condition"
    ) -> Any:
        """Wait until `predicate()` is truthy (checked after each message); returns it."""
        deadline = time.monotonic() + timeout_s
        async with self._changed:
            while True:
                value = predicate()
                if value:
                    return value
                if self.closed.is_set():
                    raise SessionClosed(f"{self.close_reason} (waiting for {what})")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {what} within {timeout_s:.0f} s")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), left)

    def component(self, name_suffix: str) -> BidiElement | None:
        """The newest element of the component whose (maybe namespaced) name ends so."""
        found = [e for e in self.elements.values() if e.component_name.endswith(name_suffix)]
        return max(found, key=lambda e: e.received_s) if found else None

    async def wait_component(
        self,
        name_suffix: str,
        timeout_s: float,
        predicate: Callable[[BidiElement], bool] = lambda e: True,
    ) -> BidiElement:
        def ready() -> BidiElement | None:
            e = self.component(name_suffix)
            return e if e is not None and predicate(e) else None

        result: BidiElement = await self.wait_for(ready, timeout_s, f"{name_suffix} element")
        return result

    # -- receiving ----------------------------------------------------------------------

    async def _read(self) -> None:
        try:
            async for raw in self._ws:
                if isinstance(raw, str):
                    raise StreamlitClientError("the server sent a text frame")
                msg = ForwardMsg.FromString(raw)
                self.last_message_s = time.monotonic()
                kind = msg.WhichOneof("type") or "none"
                self.stats.messages_in[kind] += 1
                self.stats.bytes_in[kind] += len(raw)
                self._handle(msg, raw)
                async with self._changed:
                    self._changed.notify_all()
            self._set_closed(f"websocket closed by the server ({self._ws.close_code})")
        except websockets.ConnectionClosed as exc:
            self._set_closed(f"websocket closed: {exc}")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug or a protocol change: end this session loudly
            self.errors.append(f"client error: {type(exc).__name__}: {exc}")
            self._set_closed(f"client error: {exc}")
        finally:
            with contextlib.suppress(RuntimeError):
                async with self._changed:
                    self._changed.notify_all()

    def _handle(self, msg: ForwardMsg, raw: bytes) -> None:
        kind = msg.WhichOneof("type")
        if kind == "ref_hash":
            entry = self._cache.get(msg.ref_hash)
            if entry is None:
                self.errors.append(f"ref_hash {msg.ref_hash} is not in this client's cache")
                return
            self.stats.ref_hits += 1
            entry.age = 0
            cached = ForwardMsg.FromString(entry.raw)
            cached.metadata.CopyFrom(msg.metadata)
            msg, kind = cached, cached.WhichOneof("type")
        elif self.cache_enabled and msg.metadata.cacheable and msg.hash:
            fid = msg.delta.fragment_id if kind == "delta" else ""
            self._cache[msg.hash] = _CacheEntry(raw, fid)

        if kind == "new_session":
            self._new_session(msg)
        elif kind == "delta":
            self._delta(msg)
        elif kind == "script_finished":
            self._finished(msg.script_finished)
        elif kind == "session_status_changed":
            self.script_running = msg.session_status_changed.script_is_running
        elif kind == "session_event":
            ev = msg.session_event
            if ev.HasField("script_compilation_exception"):
                e = ev.script_compilation_exception
                self.errors.append(f"compile error: {e.type}: {e.message}")
        elif kind == "navigation":
            # st.navigation picked the page: later reruns name it (the frontend does the
            # same). With the main script's hash instead, the server sees a page change
            # and drops every widget value the rerun does not carry.
            if msg.navigation.page_script_hash:
                self.page_script_hash = msg.navigation.page_script_hash
        elif kind == "page_info_changed":
            # st.query_params changed: the frontend updates the address bar, and later
            # reruns send that query string.
            self.query_string = msg.page_info_changed.query_string
        elif kind == "page_not_found":
            self.errors.append(f"page not found: {msg.page_not_found.page_name!r}")
        elif kind == "auto_rerun":
            self._auto_rerun(msg.auto_rerun.fragment_id, msg.auto_rerun.interval)
        elif kind == "stop_auto_rerun":
            for fid in msg.stop_auto_rerun.fragment_ids:
                task = self._auto.pop(fid, None)
                if task is not None:
                    task.cancel()

    def _new_session(self, msg: ForwardMsg) -> None:
        ns = msg.new_session
        if ns.page_script_hash:
            self.page_script_hash = ns.page_script_hash
        self.main_script_hash = ns.main_script_hash or self.main_script_hash
        if ns.HasField("initialize") and ns.initialize.session_id:
            self.session_id = ns.initialize.session_id
        if ns.HasField("config") and ns.config.max_cached_message_age:
            self._max_age = ns.config.max_cached_message_age
        self.script_run_id = msg.metadata.run.script_run_id
        self._run_fragments = tuple(msg.metadata.run.fragment_ids)
        self.script_running = True
        if not self._run_fragments:  # a full run: the frontend drops fragment timers
            for task in self._auto.values():
                task.cancel()
            self._auto.clear()

    def _delta(self, msg: ForwardMsg) -> None:
        delta = msg.delta
        if delta.WhichOneof("type") != "new_element":
            return
        el = delta.new_element
        which = el.WhichOneof("type")
        if which == "bidi_component":
            b = el.bidi_component
            self._versions[b.id] += 1
            element = BidiElement(
                id=b.id,
                component_name=b.component_name,
                data=_bidi_data(b),
                fragment_id=delta.fragment_id,
                delta_path=tuple(msg.metadata.delta_path),
                run_id=self.script_run_id,
                received_s=time.monotonic(),
                version=self._versions[b.id],
            )
            self.elements[b.id] = element
            if self.on_component is not None:
                self.on_component(element)
        elif which == "exception" and not el.exception.is_warning:
            e = el.exception
            self.errors.append(f"{e.type}: {e.message}")
        elif which == "metric":
            m = el.metric
            self.texts[tuple(msg.metadata.delta_path)] = (
                "metric",
                f"{m.label}: {m.body}",
                time.monotonic(),
            )
        elif which in ("markdown", "alert"):
            body = el.markdown.body if which == "markdown" else el.alert.body
            self.texts[tuple(msg.metadata.delta_path)] = ("markdown", body, time.monotonic())

    def metric_values(self, label: str) -> list[str]:
        """The values of the metrics with this label now on the page, in page order."""
        prefix = f"{label}: "
        return [
            text[len(prefix) :]
            for _, (kind, text, _) in sorted(self.texts.items())
            if kind == "metric" and text.startswith(prefix)
        ]

    def page_text(self) -> str:
        return "\n".join(text for _, (_, text, _) in sorted(self.texts.items()))

    def _finished(self, status: int) -> None:
        self.last_finish = status
        if status == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
            return
        self.script_running = False
        self.stats.runs_finished += 1
        if status == ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY:
            self.stats.fragment_runs_finished += 1
        # The frontend ages its cache once per finished run (fragment runs age only their
        # fragments' entries) and drops entries older than the server's limit.
        frags = set(self._run_fragments)
        for h, entry in list(self._cache.items()):
            if not frags or entry.fragment_id in frags:
                entry.age += 1
                if entry.age > self._max_age:
                    del self._cache[h]

    def _auto_rerun(self, fragment_id: str, interval_s: float) -> None:
        old = self._auto.pop(fragment_id, None)
        if old is not None:
            old.cancel()

        async def tick() -> None:
            with contextlib.suppress(SessionClosed):
                while not self.closed.is_set():
                    await asyncio.sleep(max(interval_s, 0.05))
                    await self.rerun(fragment_id=fragment_id, is_auto_rerun=True)

        self._auto[fragment_id] = asyncio.create_task(tick())


def status_names() -> dict[int, str]:
    """ScriptFinishedStatus numbers to names (for messages)."""
    return {v: k for k, v in ForwardMsg.ScriptFinishedStatus.items()}
