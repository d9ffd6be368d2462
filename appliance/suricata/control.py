"""Our own small client for Suricata's unix socket (protocol version 0.2).

The protocol: connect to an AF_UNIX stream socket, send ``{"version": "0.2"}``,
read ``{"return": "OK"}``; then send one JSON object per command, ending in a newline,
and read one JSON object per reply, ``{"return": "OK"|"NOK", "message": ...}``.
Suricata 7 ends its replies with a newline too, but the reader does not rely on it:
it accumulates bytes until they hold one complete JSON object.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from appliance.errors import SuricataCommandError, SuricataConnectionError, SuricataError

logger = logging.getLogger(__name__)

PROTOCOL_VERSION = "0.2"
# Suricata reads a command into a 4 KiB buffer and drops the client beyond it.
MAX_COMMAND_BYTES = 4095
MAX_REPLY_BYTES = 64 * 1024 * 1024
RELOAD_TIMEOUT_S = 300.0
_RECV_SIZE = 65536


class SuricataControl:
    """A connection to one Suricata's unix socket; one instance per thread."""

    def __init__(self, path: Path | str, timeout: float = 5.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._buffer = b""
        self._decoder = json.JSONDecoder()

    def __enter__(self) -> SuricataControl:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def is_connected(self) -> bool:
        """Whether the socket is open and past the version handshake."""
        return self._sock is not None

    def connect(self) -> None:
        """Connect and do the version handshake; raise SuricataConnectionError."""
        if self._sock is not None:
            return
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(os.fspath(self.path))
        except OSError as err:
            sock.close()
            raise SuricataConnectionError(
                f"Cannot connect to Suricata's unix socket {self.path}: {err}"
            ) from err
        self._sock = sock
        self._buffer = b""
        try:
            reply = self._exchange({"version": PROTOCOL_VERSION}, self.timeout)
        except SuricataError:
            self.close()
            raise
        if reply.get("return") != "OK":
            self.close()
            raise SuricataConnectionError(
                f"Suricata at {self.path} refused protocol {PROTOCOL_VERSION}: {reply!r}"
            )
        logger.debug("Connected to Suricata socket=%s.", self.path)

    def close(self) -> None:
        """Close the connection; safe to call twice."""
        sock, self._sock = self._sock, None
        self._buffer = b""
        if sock is not None:
            sock.close()

    def command(self, name: str, /, **arguments: Any) -> Any:
        """Run one command and return its ``message``; NOK raises SuricataCommandError.

        Argument names are Suricata's own, so pass hyphenated ones as a mapping:
        ``command("pcap-file", filename=..., **{"output-dir": ...})``.
        """
        return self._call(name, arguments, self.timeout)

    def _call(self, name: str, arguments: dict[str, Any], timeout: float) -> Any:
        self.connect()
        request: dict[str, Any] = {"command": name}
        if arguments:
            request["arguments"] = arguments
        reply = self._exchange(request, timeout)
        status = reply.get("return")
        message = reply.get("message")
        if status == "OK":
            return message
        if status == "NOK":
            raise SuricataCommandError(f"Suricata refused {name!r}: {message}")
        self.close()
        raise SuricataError(f"Suricata sent a reply without OK/NOK to {name!r}: {reply!r}")

    def _exchange(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        data = json.dumps(request, separators=(",", ":")).encode("utf-8")
        if len(data) + 1 > MAX_COMMAND_BYTES:
            raise SuricataCommandError(
                f"Command too long for Suricata ({len(data)} bytes, at most {MAX_COMMAND_BYTES})"
            )
        sock = self._require_socket()
        try:
            sock.settimeout(timeout)
            sock.sendall(data + b"\n")
        except OSError as err:
            self.close()
            raise SuricataConnectionError(f"Lost Suricata's socket {self.path}: {err}") from err
        return self._read_reply(timeout)

    def _require_socket(self) -> socket.socket:
        if self._sock is None:
            raise SuricataConnectionError(f"Not connected to Suricata's socket {self.path}")
        return self._sock

    def _read_reply(self, timeout: float) -> dict[str, Any]:
        """Read until the buffer holds one complete JSON object; keep what follows it."""
        deadline = time.monotonic() + timeout
        while True:
            reply = self._pop_object()
            if reply is not None:
                return reply
            self._buffer += self._recv_some(deadline, timeout)

    def _recv_some(self, deadline: float, timeout: float) -> bytes:
        sock = self._require_socket()
        remaining = deadline - time.monotonic()
        try:
            if remaining <= 0:
                raise TimeoutError
            sock.settimeout(remaining)
            chunk = sock.recv(_RECV_SIZE)
        except TimeoutError as err:
            # A late reply would be taken for the answer to the next command.
            self.close()
            raise SuricataConnectionError(
                f"Suricata did not answer within {timeout:g} s on {self.path}"
            ) from err
        except OSError as err:
            self.close()
            raise SuricataConnectionError(f"Lost Suricata's socket {self.path}: {err}") from err
        if not chunk:
            self.close()
            raise SuricataConnectionError(f"Suricata closed its socket {self.path}")
        if len(self._buffer) + len(chunk) > MAX_REPLY_BYTES:
            self.close()
            raise SuricataError(f"Reply from Suricata exceeds {MAX_REPLY_BYTES} bytes")
        return chunk

    def _pop_object(self) -> dict[str, Any] | None:
        text = self._buffer.lstrip()
        if b"}" not in text:
            return None
        # surrogateescape: a multi-byte character cut between two reads is not an error.
        decoded = text.decode("utf-8", "surrogateescape")
        try:
            obj, end = self._decoder.raw_decode(decoded)
        except json.JSONDecodeError:
            return None  # incomplete: wait for more bytes
        self._buffer = decoded[end:].encode("utf-8", "surrogateescape")
        if not isinstance(obj, dict):
            self.close()
            raise SuricataError(f"Suricata sent a non-object reply: {obj!r}")
        return obj

    # Helpers for the commands spanwatch uses.

    def version(self) -> str:
        """Suricata's version string, e.g. ``7.0.10 RELEASE``."""
        return str(self.command("version"))

    def uptime(self) -> int:
        """Seconds since Suricata started."""
        return int(self.command("uptime"))

    def capture_mode(self) -> str:
        """Capture mode, e.g. ``AF_PACKET_DEV`` or ``UNIX_SOCKET``."""
        return str(self.command("capture-mode"))

    def reload_rules(self, timeout: float = RELOAD_TIMEOUT_S) -> None:
        """Reload the rule files; blocks until Suricata has swapped the detect engine."""
        self._call("reload-rules", {}, timeout)
        logger.info("Suricata reloaded its rules socket=%s.", self.path)

    def ruleset_stats(self) -> list[dict[str, Any]]:
        """Per detect engine: ``rules_loaded``, ``rules_failed``, ``rules_skipped``."""
        return list(self.command("ruleset-stats"))

    def iface_list(self) -> list[str]:
        """Capture interfaces (live modes only)."""
        return [str(name) for name in self.command("iface-list")["ifaces"]]

    def iface_stat(self, name: str) -> dict[str, Any]:
        """Counters of one interface: ``pkts``, ``drop``, ``invalid-checksums``, ..."""
        return dict(self.command("iface-stat", iface=name))

    def shutdown(self) -> None:
        """Ask Suricata to stop; it exits once its threads are done."""
        self.command("shutdown")
        self.close()

    def pcap_file(self, path: Path | str, output_dir: Path | str) -> None:
        """Queue a capture file (unix-socket mode); outputs go to ``output_dir``.

        ``output_dir`` must exist with the subdirectories the outputs write to
        (``render.prepare_log_dir``): Suricata stops the whole engine otherwise.
        """
        arguments = {
            "filename": os.path.abspath(path),
            "output-dir": os.path.abspath(output_dir),
        }
        self._call("pcap-file", arguments, self.timeout)

    def pcap_file_number(self) -> int:
        """Number of capture files waiting in the queue."""
        return int(self.command("pcap-file-number"))

    def pcap_current(self) -> str | None:
        """The capture file being read, or None."""
        current = self.command("pcap-current")
        return None if current in (None, "None") else str(current)

    def pcap_file_list(self) -> list[str]:
        """Capture files waiting in the queue."""
        return [str(name) for name in self.command("pcap-file-list")["files"]]

    def wait_pcap_done(self, timeout: float = 300.0, interval: float = 0.1) -> None:
        """Wait until the queue is empty and no capture file is being read."""
        deadline = time.monotonic() + timeout
        while self.pcap_file_number() > 0 or self.pcap_current() is not None:
            if time.monotonic() > deadline:
                raise SuricataError(f"Suricata still reading captures after {timeout:.0f} s")
            time.sleep(interval)
