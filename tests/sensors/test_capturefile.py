"""Capture-file checks against Wireshark's own tools, on real and deliberately broken files."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from appliance.errors import CaptureError
from sensors.capturefile import CaptureInfo, inspect_capture
from tests.helpers.cli import REPO

SMALL_PCAP = "pcaps/exploit/markofu_blaster.pcap"  # 18 packets, 1480 bytes
UNORDERED_PCAP = "pcaps/portscan/zeek_vnc-scanner.pcap"  # packets not in time order
SMALL_PCAPNG = "pcaps/portscan/chrissanders_activeosfingerprinting.pcapng"  # 48 packets
PCAPNGS = [
    "pcaps/credential-access/pcapattack_DCSync_krbtgt_dcerpc_smb.pcapng",
    "pcaps/exploit/pcapattack_CVE-2020-0796_SMBGhost_PrivEsc_Loopback_traffic.pcapng",
    "pcaps/portscan/chrissanders_synscan.pcapng",
    "pcaps/c2-malware/zeek_merlinc2_Zeek_example.pcapng",
    "pcaps/tls-anomalies/ndpi_tls_malicious_sha1.pcapng",
    SMALL_PCAPNG,
]
PCAPNG_LE_BOM = 0x1A2B3C4D


def _capinfos(*paths: Path) -> dict[Path, tuple[int, float | None, float | None]]:
    """Packets, first and last packet time of each file, by Wireshark's capinfos."""
    done = subprocess.run(["capinfos", "-T", "-r", "-c", "-S", "-a", "-e", *map(str, paths)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = {}
    for line in done.stdout.splitlines():
        name, count, first, last = line.rsplit("\t", 3)
        times = [None if t == "n/a" else float(t) for t in (first, last)]
        out[Path(name)] = (int(count), times[0], times[1])
    return out


def _tshark_caplens(path: Path) -> list[int]:
    done = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "frame.cap_len"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [int(v) for v in done.stdout.split()]


def _error(path: Path) -> str:
    with pytest.raises(CaptureError) as info:
        inspect_capture(path)
    return str(info.value)


# -- rewriting real captures into other variants of the format ------------------------------


def _pcap_records(data: bytes) -> list[tuple[int, int, int, int, bytes]]:
    """(sec, frac, caplen, origlen, payload) of a little-endian pcap."""
    out, pos = [], 24
    while pos < len(data):
        sec, frac, caplen, origlen = struct.unpack_from("<IIII", data, pos)
        out.append((sec, frac, caplen, origlen, data[pos + 16 : pos + 16 + caplen]))
        pos += 16 + caplen
    return out


def _rewrite_pcap(data: bytes, endian: str, *, nanoseconds: bool = False) -> bytes:
    """A little-endian microsecond pcap as ``endian`` ("<" or ">"), optionally in ns."""
    _, major, minor, zone, sigfigs, snaplen, linktype = struct.unpack_from("<IHHiIII", data)
    magic = 0xA1B23C4D if nanoseconds else 0xA1B2C3D4
    out = [struct.pack(endian + "IHHiIII", magic, major, minor, zone, sigfigs, snaplen, linktype)]
    for sec, frac, caplen, origlen, payload in _pcap_records(data):
        frac = frac * 1000 if nanoseconds else frac
        out.append(struct.pack(endian + "IIII", sec, frac, caplen, origlen) + payload)
    return b"".join(out)


def _block(endian: str, block_type: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    length = 12 + len(body)
    return struct.pack(endian + "II", block_type, length) + body + struct.pack(endian + "I", length)


def _pcapng_section(endian: str, frames: list[bytes], *, simple: bool = False) -> bytes:
    """A pcapng section: header, one Ethernet interface, one packet block per frame."""
    shb = _block(endian, 0x0A0D0D0A, struct.pack(endian + "IHHq", PCAPNG_LE_BOM, 1, 0, -1))
    idb = _block(endian, 1, struct.pack(endian + "HHI", 1, 0, 65535))
    blocks = []
    for i, frame in enumerate(frames):
        if simple:
            blocks.append(_block(endian, 3, struct.pack(endian + "I", len(frame)) + frame))
        else:
            head = struct.pack(endian + "IIIII", 0, 0, 1_000_000 + i, len(frame), len(frame))
            blocks.append(_block(endian, 6, head + frame))
    return shb + idb + b"".join(blocks)


@pytest.fixture(scope="module")
def frames(testdata: Path) -> list[bytes]:
    """Real Ethernet frames to wrap in synthetic files."""
    return [payload for *_, payload in _pcap_records((testdata / SMALL_PCAP).read_bytes())]


# -- counts and times agree with Wireshark --------------------------------------------------


def test_every_corpus_capture_has_the_packet_count_capinfos_reports(testdata: Path) -> None:
    paths = sorted(p for p in (testdata / "pcaps").rglob("*") if p.suffix in (".pcap", ".pcapng"))
    paths += sorted((testdata / "suricata-verify").rglob("*.pcap"))
    assert len(paths) > 100
    reference = _capinfos(*paths)
    mismatched = {}
    for path in paths:
        info = inspect_capture(path)
        if info.packets != reference[path][0]:
            mismatched[str(path)] = (info.packets, reference[path][0])
    assert mismatched == {}


@pytest.mark.parametrize("name", PCAPNGS)
def test_pcapng_packet_count_and_time_span_equal_capinfos(testdata: Path, name: str) -> None:
    path = testdata / name
    info = inspect_capture(path)
    assert (info.format, info.path, info.size) == ("pcapng", path, path.stat().st_size)
    packets, first, last = _capinfos(path)[path]
    assert info.packets == packets
    assert info.first_ts == pytest.approx(first, abs=1e-6)
    assert info.last_ts == pytest.approx(last, abs=1e-6)


@pytest.mark.parametrize("endian", ["<", ">"])
def test_pcapng_times_follow_each_interfaces_resolution(
    tmp_path: Path, frames: list[bytes], endian: str
) -> None:
    # if_tsresol (option 9): interface 0 counts nanoseconds, interface 1 2^-10 s units.
    shb = _block(endian, 0x0A0D0D0A, struct.pack(endian + "IHHq", PCAPNG_LE_BOM, 1, 0, -1))
    nano = struct.pack(endian + "HHB", 9, 1, 9) + b"\0" * 3 + struct.pack(endian + "HH", 0, 0)
    binary = struct.pack(endian + "HHB", 9, 1, 0x80 | 10) + b"\0" * 3
    idbs = [_block(endian, 1, struct.pack(endian + "HHI", 1, 0, 65535) + opts)
            for opts in (nano, binary)]  # fmt: skip

    def packet(iface: int, units: int) -> bytes:
        head = struct.pack(endian + "IIIII", iface, units >> 32, units & 0xFFFFFFFF,
                           len(frames[0]), len(frames[0]))  # fmt: skip
        return _block(endian, 6, head + frames[0])

    path = tmp_path / "resolutions.pcapng"
    path.write_bytes(shb + b"".join(idbs) + packet(0, 1_700_000_000_250_000_000)
                     + packet(1, 1_600_000_000 * 1024 + 512))  # fmt: skip
    info = inspect_capture(path)
    assert info.first_ts == pytest.approx(1_600_000_000.5)
    assert info.last_ts == pytest.approx(1_700_000_000.25)
    packets, first, last = _capinfos(path)[path]
    assert (info.packets, info.first_ts, info.last_ts) == (packets, pytest.approx(first),
                                                          pytest.approx(last))  # fmt: skip


@pytest.mark.parametrize("name", [SMALL_PCAP, UNORDERED_PCAP, "pcaps/portscan/zeek_nmap-vsn.pcap"])
def test_pcap_count_and_time_span_equal_capinfos(testdata: Path, name: str) -> None:
    path = testdata / name
    info = inspect_capture(path)
    packets, first, last = _capinfos(path)[path]
    assert (info.format, info.packets) == ("pcap", packets)
    assert info.first_ts == pytest.approx(first, abs=1e-6)
    assert info.last_ts == pytest.approx(last, abs=1e-6)


def test_format_comes_from_the_content_not_the_name(testdata: Path) -> None:
    # nDPI's tcp_scan.pcapng is a classic pcap despite its name.
    info = inspect_capture(testdata / "pcaps/portscan/ndpi_tcp_scan.pcapng")
    assert (info.format, info.packets) == ("pcap", 30)


@pytest.mark.parametrize(("endian", "nanoseconds"),
                         [(">", False), (">", True), ("<", True), ("<", False)])  # fmt: skip
def test_pcap_byte_orders_and_nanosecond_magic(
    testdata: Path, tmp_path: Path, endian: str, nanoseconds: bool
) -> None:
    original = testdata / "pcaps/portscan/zeek_nmap-vsn.pcap"
    path = tmp_path / "variant.pcap"
    path.write_bytes(_rewrite_pcap(original.read_bytes(), endian, nanoseconds=nanoseconds))
    magic = 0xA1B23C4D if nanoseconds else 0xA1B2C3D4
    assert path.read_bytes()[:4] == struct.pack(endian + "I", magic)
    info = inspect_capture(path)
    packets, first, last = _capinfos(path)[path]
    assert (info.packets, packets) == (547, 547)
    assert info.first_ts == pytest.approx(first, abs=1e-6)
    assert info.last_ts == pytest.approx(last, abs=1e-6)
    assert info.first_ts == pytest.approx(1317146840.497541, abs=1e-6)


def test_nanosecond_pcap_written_by_editcap(testdata: Path, tmp_path: Path) -> None:
    path = tmp_path / "ns.pcap"
    subprocess.run(["editcap", "-F", "nsecpcap", str(testdata / SMALL_PCAP), str(path)],
                   check=True, capture_output=True, timeout=60)  # fmt: skip
    info = inspect_capture(path)
    packets, first, last = _capinfos(path)[path]
    assert info.packets == packets == 18
    assert (info.first_ts, info.last_ts) == (pytest.approx(first), pytest.approx(last))


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("simple", [False, True])
def test_pcapng_in_either_byte_order_and_block_kind(
    tmp_path: Path, frames: list[bytes], endian: str, simple: bool
) -> None:
    path = tmp_path / "synthetic.pcapng"
    path.write_bytes(_pcapng_section(endian, frames[:7], simple=simple))
    info = inspect_capture(path)
    assert info.packets == 7 == _capinfos(path)[path][0]
    # Simple packet blocks carry no time; enhanced ones do (microseconds by default).
    assert (info.first_ts, info.last_ts) == ((None, None) if simple else
                                             (pytest.approx(1.0), pytest.approx(1.000006)))


def test_pcapng_with_sections_of_both_byte_orders(tmp_path: Path, frames: list[bytes]) -> None:
    path = tmp_path / "sections.pcapng"
    path.write_bytes(_pcapng_section("<", frames[:5]) + _pcapng_section(">", frames[5:12]))
    info = inspect_capture(path)
    assert info.packets == 12 == _capinfos(path)[path][0]


# -- truncation at every byte ---------------------------------------------------------------


def _cut(tmp_path: Path, data: bytes, length: int, suffix: str) -> Path:
    path = tmp_path / f"cut-{length}{suffix}"
    path.write_bytes(data[:length])
    return path


def test_pcap_cut_anywhere_is_refused_or_whole(testdata: Path, tmp_path: Path) -> None:
    source = testdata / SMALL_PCAP
    data = source.read_bytes()
    starts = [24]  # where each record begins, from tshark's captured lengths
    for caplen in _tshark_caplens(source):
        starts.append(starts[-1] + 16 + caplen)
    assert starts[-1] == len(data)
    for length in range(len(data) + 1):
        path = _cut(tmp_path, data, length, ".pcap")
        whole = sum(1 for s in starts[1:] if s <= length)
        if length == 0:
            expected = f"{path}: the file is empty"
        elif length < 4:
            expected = f"{path}: not a pcap or pcapng capture (unknown file signature)"
        elif length < 24:
            expected = f"{path}: truncated pcap file header ({length} bytes)"
        elif length == 24:
            expected = f"{path}: the capture holds no packets"
        elif length in starts:
            assert inspect_capture(path).packets == whole, length
            path.unlink()
            continue
        else:
            expected = (
                f"{path}: the capture is truncated after packet {whole} (at byte "
                f"{starts[whole]}); repair it (e.g. `editcap in out`, `pcapfix`) or cut it at "
                "the last whole packet"
            )
        assert _error(path) == expected, f"cut at {length} bytes"
        path.unlink()


def _pcapng_blocks(data: bytes) -> list[tuple[int, int, int]]:
    """(offset, type, length) of each block of a little-endian pcapng file."""
    out, pos = [], 0
    while pos < len(data):
        block_type, length = struct.unpack_from("<II", data, pos)
        out.append((pos, block_type, length))
        pos += length
    return out


def test_pcapng_cut_anywhere_is_refused_or_whole(testdata: Path, tmp_path: Path) -> None:
    data = (testdata / SMALL_PCAPNG).read_bytes()
    blocks = _pcapng_blocks(data)
    assert sum(1 for _, t, _ in blocks if t == 6) == 48
    for length in range(len(data) + 1):
        path = _cut(tmp_path, data, length, ".pcapng")
        done = [b for b in blocks if b[0] + b[2] <= length]
        packets = sum(1 for _, t, _ in done if t in (2, 3, 6))
        at_boundary = length == sum(b[2] for b in done)
        if length == 0:
            expected = f"{path}: the file is empty"
        elif length < 4:
            expected = f"{path}: not a pcap or pcapng capture (unknown file signature)"
        elif length < 12:
            expected = f"{path}: truncated pcapng section header"
        elif at_boundary and packets:
            assert inspect_capture(path).packets == packets, length
            path.unlink()
            continue
        elif at_boundary:
            expected = f"{path}: the capture holds no packets"
        else:
            start = sum(b[2] for b in done)
            expected = (
                f"{path}: the capture is truncated after packet {packets} (at byte {start}); "
                "repair it (e.g. `editcap in out`, `pcapfix`) or cut it at the last whole packet"
            )
        assert _error(path) == expected, f"cut at {length} bytes"
        path.unlink()


# -- files that are not captures ------------------------------------------------------------


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.pcap"
    path.touch()
    assert _error(path) == f"{path}: the file is empty"


def test_pcap_with_only_a_file_header(testdata: Path, tmp_path: Path) -> None:
    path = tmp_path / "header.pcap"
    path.write_bytes((testdata / SMALL_PCAP).read_bytes()[:24])
    assert _error(path) == f"{path}: the capture holds no packets"


def test_pcapng_with_only_section_and_interface(tmp_path: Path) -> None:
    path = tmp_path / "header.pcapng"
    path.write_bytes(_pcapng_section("<", []))
    assert _capinfos(path)[path][0] == 0
    assert _error(path) == f"{path}: the capture holds no packets"


@pytest.mark.parametrize(
    "content",
    [b"timestamp,src,dst\n2024-05-01,192.0.2.1,198.51.100.1\n",
     b'{"timestamp":"2024-05-01T12:00:00.000000+0000","event_type":"flow"}\n'],
    ids=["csv", "eve-json"],
)  # fmt: skip
def test_a_file_that_is_not_a_capture(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "traffic.pcap"
    path.write_bytes(content)
    assert _error(path) == f"{path}: not a pcap or pcapng capture (unknown file signature)"


@pytest.mark.parametrize(
    ("pack", "says"),
    [(lambda data, out: out.write_bytes(gzip.compress(data)), "gzip-compressed, not a capture; "
      "decompress it (gunzip) first"),
     (lambda data, out: out.write_bytes(lzma.compress(data)), "xz-compressed, not a capture"),
     (lambda data, out: out.write_bytes(bz2.compress(data)), "bzip2-compressed, not a capture"),
     (lambda data, out: zipfile.ZipFile(out, "w").writestr("traffic.pcap", data), "a zip archive, "
      "not a capture; extract it (unzip; malware traffic samples often come in zips "
      "protected by a password such as 'infected') first")],
    ids=["gzip", "xz", "bzip2", "zip"],
)  # fmt: skip
def test_a_packed_capture_is_named_with_how_to_unpack_it(
    testdata: Path, tmp_path: Path, pack: Any, says: str
) -> None:
    path = tmp_path / "traffic.pcap.packed"
    pack((testdata / SMALL_PCAP).read_bytes(), path)
    assert _error(path).startswith(f"{path}: {says}")


def test_corrupt_pcap_record_length(testdata: Path, tmp_path: Path) -> None:
    data = bytearray((testdata / SMALL_PCAP).read_bytes())
    first_len = struct.unpack_from("<I", data, 24 + 8)[0]
    second = 24 + 16 + first_len
    struct.pack_into("<I", data, second + 8, 0x7FFFFFFF)
    path = tmp_path / "corrupt.pcap"
    path.write_bytes(bytes(data))
    assert _error(path) == (
        f"{path}: corrupt record header after packet 1 (offset {second}, length {0x7FFFFFFF})"
    )


def test_corrupt_pcapng_block_length(tmp_path: Path, frames: list[bytes]) -> None:
    data = bytearray(_pcapng_section("<", frames[:3]))
    blocks = _pcapng_blocks(bytes(data))
    offset = blocks[3][0]  # the second packet block
    struct.pack_into("<I", data, offset + 4, 13)
    path = tmp_path / "corrupt.pcapng"
    path.write_bytes(bytes(data))
    assert _error(path) == (
        f"{path}: corrupt pcapng block after packet 1 (offset {offset}, length 13)"
    )


def test_pcapng_with_a_bad_byte_order_magic(tmp_path: Path, frames: list[bytes]) -> None:
    data = bytearray(_pcapng_section("<", frames[:2]))
    data[8:12] = b"ABCD"
    path = tmp_path / "bom.pcapng"
    path.write_bytes(bytes(data))
    assert _error(path) == f"{path}: corrupt pcapng section header (byte-order magic)"


def test_directory(tmp_path: Path) -> None:
    folder = tmp_path / "captures.pcap"
    folder.mkdir()
    assert _error(folder) == f"{folder}: not a regular file"


def test_named_pipe_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "live.pcap"
    os.mkfifo(fifo)
    assert _error(fifo) == f"{fifo}: not a regular file"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.pcap"
    assert _error(path) == f"{path}: no such file"


_PROBE = """
import sys
from pathlib import Path
from appliance.errors import CaptureError
from sensors.capturefile import inspect_capture
try:
    inspect_capture(Path(sys.argv[1]))
except CaptureError as err:
    print(err)
"""


def test_permission_denied(testdata: Path, tmp_path: Path) -> None:
    path = tmp_path / "secret.pcap"
    shutil.copyfile(testdata / SMALL_PCAP, path)
    path.chmod(0)
    argv = [sys.executable, "-c", _PROBE, str(path)]
    if os.geteuid() == 0:
        # root reads a mode-000 file; without these two capabilities it cannot.
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root and setpriv (util-linux) is not installed")
        argv = [setpriv, "--bounding-set=-dac_override,-dac_read_search", *argv]
    probe = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=60,
                           env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == f"{path}: permission denied"


def test_result_is_a_frozen_record(testdata: Path) -> None:
    info = inspect_capture(testdata / SMALL_PCAP)
    assert isinstance(info, CaptureInfo)
    with pytest.raises(AttributeError):
        info.packets = 1  # type: ignore[misc]
