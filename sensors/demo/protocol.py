"""Encoders for the binary protocols of the demo: SSH, SMB2, NTP and DHCP."""

from __future__ import annotations

import random
import struct

from sensors.demo import wire

NTP_EPOCH_OFFSET = 2_208_988_800
FILETIME_EPOCH_OFFSET = 11_644_473_600

SSH_KEX = (
    "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,"
    "diffie-hellman-group-exchange-sha256,ext-info-c"
)
SSH_HOSTKEY = "ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-512,rsa-sha2-256"
SSH_CIPHER = "chacha20-poly1305@openssh.com,aes128-ctr,aes256-ctr,aes128-gcm@openssh.com"
SSH_MAC = "umac-64-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha2-256"
SSH_COMPRESSION = "none,zlib@openssh.com"

# SPNEGO NegTokenInit offering NTLMSSP, as Samba and Windows put in the negotiate response.
SPNEGO_INIT = bytes.fromhex("601c06062b0601050502a0123010a00e300c060a2b06010401823702020a")


def ssh_banner(software: str) -> bytes:
    """Return an SSH identification line."""
    return f"SSH-2.0-{software}\r\n".encode("ascii")


def _ssh_string(data: bytes) -> bytes:
    return struct.pack("!I", len(data)) + data


def ssh_packet(payload: bytes, rng: random.Random) -> bytes:
    """Return an unencrypted SSH binary packet padded to eight bytes."""
    padding = 8 - (5 + len(payload)) % 8
    if padding < 4:
        padding += 8
    return (
        struct.pack("!IB", 1 + len(payload) + padding, padding) + payload + rng.randbytes(padding)
    )


def ssh_kexinit(rng: random.Random) -> bytes:
    """Return an SSH_MSG_KEXINIT packet with OpenSSH's algorithm lists."""
    lists = (
        SSH_KEX,
        SSH_HOSTKEY,
        SSH_CIPHER,
        SSH_CIPHER,
        SSH_MAC,
        SSH_MAC,
        SSH_COMPRESSION,
        SSH_COMPRESSION,
        "",
        "",
    )
    payload = b"\x14" + rng.randbytes(16)
    payload += b"".join(_ssh_string(item.encode("ascii")) for item in lists)
    return ssh_packet(payload + b"\x00" + b"\x00\x00\x00\x00", rng)


def ssh_key_exchange(rng: random.Random, *, from_client: bool) -> bytes:
    """Return the ECDH init (client) or the ECDH reply and NEWKEYS (server)."""
    if from_client:
        return ssh_packet(b"\x1e" + _ssh_string(rng.randbytes(32)), rng)
    host_key = _ssh_string(b"ssh-ed25519") + _ssh_string(rng.randbytes(32))
    signature = _ssh_string(b"ssh-ed25519") + _ssh_string(rng.randbytes(64))
    reply = b"\x1f" + _ssh_string(host_key) + _ssh_string(rng.randbytes(32))
    reply += _ssh_string(signature)
    return ssh_packet(reply, rng) + ssh_packet(b"\x15", rng)


def ssh_newkeys(rng: random.Random) -> bytes:
    """Return SSH_MSG_NEWKEYS; everything after it is encrypted."""
    return ssh_packet(b"\x15", rng)


def _netbios(message: bytes) -> bytes:
    return b"\x00" + len(message).to_bytes(3, "big") + message


def _smb2_header(*, is_response: bool, credits: int) -> bytes:
    flags = 0x00000001 if is_response else 0
    return struct.pack(
        "<4sHHIHHIIQIIQ16s",
        b"\xfeSMB",
        64,
        0,
        0,
        0,
        credits,
        flags,
        0,
        0,
        0xFEFF,
        0,
        0,
        b"\x00" * 16,
    )


def smb2_negotiate_request(client_guid: bytes) -> bytes:
    """Return an SMB2 NEGOTIATE request offering dialects 2.0.2 to 3.0.2."""
    dialects = (0x0202, 0x0210, 0x0300, 0x0302)
    body = struct.pack("<HHHHI16sQ", 36, len(dialects), 1, 0, 0x7F, client_guid, 0)
    body += struct.pack(f"<{len(dialects)}H", *dialects)
    return _netbios(_smb2_header(is_response=False, credits=31) + body)


def smb2_negotiate_response(server_guid: bytes, now_s: float) -> bytes:
    """Return an SMB2 NEGOTIATE response choosing dialect 3.0.2."""
    filetime = int((now_s + FILETIME_EPOCH_OFFSET) * 10_000_000)
    body = struct.pack(
        "<HHHH16sIIIIQQHHI",
        65,
        1,
        0x0302,
        0,
        server_guid,
        0x2F,
        8_388_608,
        8_388_608,
        8_388_608,
        filetime,
        0,
        128,
        len(SPNEGO_INIT),
        0,
    )
    return _netbios(_smb2_header(is_response=True, credits=1) + body + SPNEGO_INIT)


def _ntp_timestamp(seconds: float) -> bytes:
    whole = int(seconds)
    fraction = int((seconds - whole) * 2**32) & 0xFFFFFFFF
    return struct.pack("!II", (whole + NTP_EPOCH_OFFSET) & 0xFFFFFFFF, fraction)


def ntp_request(now_s: float) -> bytes:
    """Return an NTPv4 client request transmitted at now_s."""
    head = struct.pack("!BBbbII4s", 0x23, 0, 6, -20, 0, 0, b"\x00" * 4)
    return head + b"\x00" * 24 + _ntp_timestamp(now_s)


def ntp_response(request_sent_s: float, now_s: float, *, stratum: int, ref_id: bytes) -> bytes:
    """Return an NTPv4 server response to a request sent at request_sent_s."""
    head = struct.pack("!BBbbII4s", 0x24, stratum, 6, -23, 0x00000A3D, 0x00000F5C, ref_id)
    return (
        head
        + _ntp_timestamp(now_s - 64)
        + _ntp_timestamp(request_sent_s)
        + _ntp_timestamp(now_s - 0.0001)
        + _ntp_timestamp(now_s)
    )


def dhcp_message(
    op: int,
    xid: int,
    mac: str,
    *,
    yiaddr: str = "0.0.0.0",
    siaddr: str = "0.0.0.0",
    options: list[tuple[int, bytes]],
) -> bytes:
    """Return a BOOTP message with DHCP options (option 53 first, then the rest)."""
    chaddr = wire.mac_bytes(mac) + b"\x00" * 10
    fixed = struct.pack("!BBBBIHH", op, 1, 6, 0, xid, 0, 0)
    fixed += wire.ip_bytes("0.0.0.0") + wire.ip_bytes(yiaddr) + wire.ip_bytes(siaddr)
    fixed += wire.ip_bytes("0.0.0.0") + chaddr + b"\x00" * 192 + b"\x63\x82\x53\x63"
    encoded = b"".join(bytes([code, len(value)]) + value for code, value in options)
    return fixed + encoded + b"\xff"
