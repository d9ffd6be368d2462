"""The ingest API over real HTTPS on loopback: what it refuses, and what it stores once."""

from __future__ import annotations

import http.client
import json
import ssl
import time
from pathlib import Path
from typing import Any

import pytest
import zstandard

from appliance.center.batch import BATCH_PATH, ENROL_PATH, Source, encode_batch, encode_header
from appliance.store import EventQuery, open_store
from tests.helpers.center import Center, center_config, make_cert, running_center, sensor_config

FP = "ab" * 16


def _now(offset_s: float = 0) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000+0000", time.gmtime(time.time() + offset_s))


def _eve(i: int, *, ts: str | None = None) -> bytes:
    return json.dumps({
        "timestamp": ts or _now(), "event_type": "dns", "src_ip": "192.0.2.1",
        "dest_ip": "198.51.100.2", "flow_id": i, "dns": {"rrname": f"h{i}.example.com"},
    }).encode()  # fmt: skip


def _batch(n: int, *, start: int = 0, ts: str | None = None) -> bytes:
    items = [(1, 1000 + 100 * i, _eve(i) if ts is None else _eve(i, ts=ts))
             for i in range(start, start + n)]  # fmt: skip
    return encode_batch([Source(1, FP, "/var/log/suricata/eve.json")], items, {"dead_letter.x": 1})


@pytest.fixture(scope="module")
def center(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("center")
    cert, key = make_cert(root / "tls", "127.0.0.1")
    cfg = center_config(root / "data", cert, key, max_batch_bytes=64 * 1024,
                        max_batch_expanded_bytes=256 * 1024, max_past_days=30)  # fmt: skip
    with running_center(cfg) as running:
        running.cert = cert  # type: ignore[attr-defined]
        yield running


@pytest.fixture(scope="module")
def tokens(center: Center, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("sensors")
    out = {}
    for name, approve in (("site-a", True), ("site-b", True), ("waiting", False), ("gone", True)):
        out[name] = center.enrol(sensor_config(root / name, name, center.url, root / "x"),
                                 approve=approve)  # fmt: skip
    center.registry.revoke("gone", actor="test-admin")
    return out


def _post(center: Center, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    context = ssl.create_default_context(cafile=str(center.cert))  # type: ignore[attr-defined]
    conn = http.client.HTTPSConnection("127.0.0.1", center.server.port, context=context, timeout=30)
    try:
        conn.request("POST", path, body=body, headers=headers)
        answer = conn.getresponse()
        return answer.status, json.loads(answer.read() or b"{}")
    finally:
        conn.close()


def _send(
    center: Center, token: str, body: bytes, *, name: str = "", **extra: str
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}", "Content-Encoding": "zstd",
               "X-Spanwatch-Health": encode_header({"spanwatch_version": "0.1.0"}), **extra}
    if name:
        headers["X-Spanwatch-Sensor"] = name
    return _post(center, BATCH_PATH, body, headers)


def _stored(center: Center) -> int:
    store = open_store(center.cfg.store_path, readonly=True)
    try:
        return store.count_events(EventQuery())
    finally:
        store.close()


def _refused(center: Center, sensor: str, reason: str) -> int:
    return center.registry.rejections().get((sensor, reason), 0)


def test_a_batch_is_stored_and_its_replay_is_stored_once(
    center: Center, tokens: dict[str, str]
) -> None:
    before = _stored(center)
    body = _batch(50)
    assert _send(center, tokens["site-a"], body, name="site-a") == (200, {
        "stored": 50, "duplicates": 0, "rejected": {}, "center_version": "0.1.0"})
    status, answer = _send(center, tokens["site-a"], body, name="site-a")
    assert (status, answer["stored"], answer["duplicates"]) == (200, 0, 50)
    assert _stored(center) == before + 50
    # The same source at another sensor is another source at the center.
    assert _send(center, tokens["site-b"], body)[1]["stored"] == 50
    assert _stored(center) == before + 100


@pytest.mark.parametrize(("who", "status", "reason"), [
    ("nobody", 401, "unknown-token"), ("waiting", 403, "pending"), ("gone", 403, "revoked"),
])  # fmt: skip
def test_unknown_pending_and_revoked_tokens_are_refused_and_counted(
    center: Center, tokens: dict[str, str], who: str, status: int, reason: str
) -> None:
    before = _stored(center)
    token = tokens.get(who, "A" * 43)
    sensor = "" if who == "nobody" else who
    counted = _refused(center, sensor, reason)
    got, answer = _send(center, token, _batch(5, start=900))
    assert (got, answer["error"]) == (status, reason)
    assert _refused(center, sensor, reason) == counted + 1
    assert _stored(center) == before


def test_a_token_used_under_another_name_is_refused(
    center: Center, tokens: dict[str, str]
) -> None:
    got, answer = _send(center, tokens["site-a"], _batch(1, start=950), name="site-b")
    assert (got, answer["error"]) == (403, "wrong-name")


@pytest.mark.parametrize("body", [
    b"not zstd at all",
    zstandard.ZstdCompressor().compress(b"{not json\n"),
    zstandard.ZstdCompressor().compress(b'{"v": 1, "sources": {}, "records": 1}\n1 2 {}\n'),
    zstandard.ZstdCompressor().compress(
        b'{"v": 1, "sources": {"1": {"fp": "' + FP.encode() + b'"}}, "records": 2}\n'
        b'1 10 {"timestamp": "2026-11-24T08:00:00Z", "event_type": "dns"}\n'),
    zstandard.ZstdCompressor().compress(
        b'{"v": 1, "sources": {"1": {"fp": "' + FP.encode() + b'"}}, "records": 2}\n'
        b'1 10 {"timestamp": "2026-11-24T08:00:00Z", "event_type": "dns"}\n1 20 [1, 2]\n'),
], ids=["not-zstd", "bad-header", "unknown-source", "count-mismatch", "not-eve"])  # fmt: skip
def test_a_malformed_batch_is_refused_whole(
    center: Center, tokens: dict[str, str], body: bytes
) -> None:
    before, counted = _stored(center), _refused(center, "site-a", "malformed")
    got, answer = _send(center, tokens["site-a"], body)
    assert (got, answer["error"]) == (400, "malformed")
    assert _stored(center) == before
    assert _refused(center, "site-a", "malformed") == counted + 1


def test_oversized_batches_are_refused_before_and_after_decompression(
    center: Center, tokens: dict[str, str]
) -> None:
    before = _stored(center)
    big = b"\0" * (64 * 1024 + 1)
    assert _send(center, tokens["site-a"], big)[0] == 413
    # Compresses well, expands past the limit.
    bomb = zstandard.ZstdCompressor().compress(b" " * (300 * 1024))
    assert len(bomb) < 64 * 1024
    got, answer = _send(center, tokens["site-a"], bomb)
    assert (got, answer["error"]) == (413, "oversized")
    assert _stored(center) == before
    # Nothing else disturbed: the next good batch goes in.
    assert _send(center, tokens["site-a"], _batch(3, start=990))[1]["stored"] == 3


def test_records_beyond_the_clock_skew_are_refused_and_the_rest_stored(
    center: Center, tokens: dict[str, str]
) -> None:
    future = _now(3600)
    items = [(1, 500_000, _eve(1, ts=future)), (1, 500_100, _eve(2, ts="2020-01-01T00:00:00Z")),
             (1, 500_200, _eve(3))]  # fmt: skip
    body = encode_batch([Source(1, FP, "eve.json")], items)
    counted = _refused(center, "site-b", "skew")
    status, answer = _send(center, tokens["site-b"], body)
    assert (status, answer["stored"], answer["rejected"]) == (200, 1, {"skew": 2})
    assert _refused(center, "site-b", "skew") == counted + 2


def test_enrolment_over_the_api_waits_for_approval_and_keeps_the_name(center: Center) -> None:
    def enrol(name: str, token: str) -> tuple[int, Any]:
        body = json.dumps({"name": name, "token": token}).encode()
        return _post(center, ENROL_PATH, body, {"Content-Type": "application/json"})

    token = "t" * 43
    assert enrol("site-new", token) == (200, {"status": "pending", "center_version": "0.1.0"})
    assert enrol("site-new", token)[1]["status"] == "pending"
    assert _send(center, token, _batch(1))[0] == 403
    center.registry.approve("site-new", actor="test-admin")
    assert enrol("site-new", token)[1]["status"] == "approved"
    # Someone else cannot take the name over with another token.
    assert enrol("site-new", "u" * 43)[0] == 409
    assert enrol("../etc", "v" * 43)[0] == 400
    assert _send(center, token, _batch(2, start=2000))[1]["stored"] == 2


def test_other_paths_and_methods_are_not_found(center: Center) -> None:
    assert _post(center, "/api/ingest/v1/other", b"{}", {})[0] == 404


def test_the_core_lists_the_ingest_api_only_on_a_center(tmp_path: Path) -> None:
    from appliance.center import ingest_components
    from appliance.config import AppConfig
    from appliance.service import Service

    plain = Service(AppConfig.model_validate({"data_dir": str(tmp_path)}))
    assert ingest_components(plain) == []
    cert, key = make_cert(tmp_path / "tls", "127.0.0.1")
    center = Service(center_config(tmp_path / "c", cert, key))
    assert [c.name for c in ingest_components(center)] == ["ingest"]


def test_a_pinned_client_certificate_is_required_beside_the_token(
    center: Center, tmp_path: Path
) -> None:
    from appliance.center.tls import self_signed, write_pair

    mine, other = (tmp_path / "mine.crt", tmp_path / "mine.key"), (tmp_path / "o.crt",
                                                                   tmp_path / "o.key")  # fmt: skip
    write_pair(*mine, *self_signed("site-pinned", ()))
    write_pair(*other, *self_signed("site-pinned", ()))
    token = "p" * 43
    body = json.dumps({"name": "site-pinned", "token": token,
                       "client_cert": mine[0].read_text()}).encode()  # fmt: skip
    assert _post(center, ENROL_PATH, body, {})[1]["status"] == "pending"
    bad = json.dumps({"name": "site-bad", "token": "q" * 43, "client_cert": "nope"}).encode()
    assert _post(center, ENROL_PATH, bad, {})[0] == 400
    center.registry.approve("site-pinned", actor="test-admin")

    def send(cert: tuple[Path, Path] | None) -> tuple[int, Any]:
        context = ssl.create_default_context(cafile=str(center.cert))  # type: ignore[attr-defined]
        if cert is not None:
            context.load_cert_chain(*cert)
        conn = http.client.HTTPSConnection("127.0.0.1", center.server.port, context=context)
        try:
            conn.request("POST", BATCH_PATH, body=_batch(2, start=3000), headers={
                "Authorization": f"Bearer {token}", "Content-Encoding": "zstd"})
            answer = conn.getresponse()
            return answer.status, json.loads(answer.read() or b"{}")
        finally:
            conn.close()

    status, answer = send(None)
    assert (status, answer["error"]) == (403, "certificate")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        send(other)  # not pinned: the handshake itself fails
    assert send(mine) == (200, {"stored": 2, "duplicates": 0, "rejected": {},
                                "center_version": "0.1.0"})  # fmt: skip
