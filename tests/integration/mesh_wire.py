"""The LAN multicast wire format, for tests that listen to or forge it.

Mirrors services/relay/datagram.h: an 18-byte big-endian header
  magic "HWCM" | version 1 | type (1 BATCH, 2 REANNOUNCE_REQUEST) | hops |
  flags 0 | sender id (8) | payload length (2)
followed by one serialized hwcast.v1.SignedBatch. No hwcast imports, so the
LAN attacker script can use it inside a network namespace.
"""

import os
import socket
import struct

MAGIC = b"HWCM"
VERSION = 1
TYPE_BATCH = 1
TYPE_REANNOUNCE_REQUEST = 2
HEADER = struct.Struct(">4sBBBBQH")
HEADER_BYTES = HEADER.size  # 18
MAX_DATAGRAM_BYTES = 1400


def encode(payload=b"", type_=TYPE_BATCH, hops=0, sender_id=None, flags=0,
           version=VERSION, magic=MAGIC, length=None):
    """A datagram; every field can be set wrong on purpose."""
    if sender_id is None:
        sender_id = int.from_bytes(os.urandom(8), "big")
    if length is None:
        length = len(payload)
    return HEADER.pack(magic, version, type_, hops, flags, sender_id,
                       length) + payload


def parse(data):
    """(type, hops, flags, sender_id, payload); ValueError if malformed."""
    if len(data) < HEADER_BYTES:
        raise ValueError(f"{len(data)} bytes, shorter than the header")
    magic, version, type_, hops, flags, sender_id, length = HEADER.unpack_from(data)
    if magic != MAGIC or version != VERSION:
        raise ValueError(f"bad magic/version {magic!r}/{version}")
    payload = data[HEADER_BYTES:]
    if len(payload) != length:
        raise ValueError(f"length field {length}, payload {len(payload)}")
    return type_, hops, flags, sender_id, payload


def with_sender(data, sender_id):
    """The same datagram with another sender id in its header."""
    return data[:8] + struct.pack(">Q", sender_id) + data[16:]


def receiver(group, port, interface_addr, timeout=0.2):
    """A socket joined to group:port on the interface with `interface_addr`,
    sharing the port with the relays (SO_REUSEADDR)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((group, port))
    mreq = socket.inet_aton(group) + socket.inet_aton(interface_addr)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    s.settimeout(timeout)
    return s


def sender(interface_addr, bind_addr=None, loop=True, ttl=1):
    """A socket that sends to groups out of the interface with
    `interface_addr`, from `bind_addr` (default: that address), with
    multicast loopback so relays on this host hear it too."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                 socket.inet_aton(interface_addr))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1 if loop else 0)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 21)
    s.bind((bind_addr or interface_addr, 0))
    return s
