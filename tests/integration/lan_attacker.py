"""A hostile host on the hwcast LAN, for tests/integration/test_lan.py.

Runs inside a network namespace (`ip netns exec H python3 lan_attacker.py`).

  capture  joins the group and records real datagrams (hex, one per line,
           first line the capture end time) for later replay and forging.
  attack   sends, from --bind-addr, datagrams that every relay must refuse:
             forged     a fresh batch for the real collector (value 99,
                        sequence far ahead) with the trusted key id and a
                        random signature                  -> bad_signature
             untrusted  the same batch properly signed by a key nobody
                        trusts (random signature without python3-nacl)
                                                          -> unknown_key
             replay     captured datagrams, resent once they are older
                        than the relays' freshness max_age -> stale
             tampered   a captured datagram with its temperature bytes
                        changed, signature kept; with --tamper-sequence N
                        it claims batch N of the template's collector and
                        epoch (one every relay is known to hold)
                                                          -> duplicate
             truncated  captured datagrams cut short        -> malformed
             oversized  a 1600-byte payload                 -> too_large
             flood      --flood copies of the forged datagram at ~3000/s
                                                          -> rate_limited
           and prints a JSON object {kind: datagrams sent}.
"""

import argparse
import hashlib
import json
import os
import socket
import struct
import sys
import time

import mesh_wire


def capture(args):
    listener = mesh_wire.receiver(args.group, args.port, args.iface_addr)
    got = []
    deadline = time.monotonic() + args.timeout
    while len(got) < args.count and time.monotonic() < deadline:
        try:
            data, _ = listener.recvfrom(65535)
        except socket.timeout:
            continue
        try:
            type_, *_ = mesh_wire.parse(data)
        except ValueError:
            continue
        if type_ == mesh_wire.TYPE_BATCH:
            got.append(data)
    with open(args.out + ".tmp", "w") as f:
        f.write(f"{time.time()}\n")
        for d in got:
            f.write(d.hex() + "\n")
    os.replace(args.out + ".tmp", args.out)
    print(json.dumps({"captured": len(got)}))
    return 0 if got else 1


def load_capture(path):
    with open(path) as f:
        lines = f.read().split()
    return float(lines[0]), [bytes.fromhex(l) for l in lines[1:]]


def attack(args):
    sys.path.insert(0, args.stubs)
    from hwcast.v1 import reading_pb2 as pb  # pylint: disable=import-outside-toplevel

    _, captured = load_capture(args.captured)
    if not captured:
        print("nothing captured", file=sys.stderr)
        return 1
    # The newest captured batch holding a temperature reading: the template.
    templates = []
    for d in captured:
        sb = pb.SignedBatch.FromString(mesh_wire.parse(d)[4])
        batch = pb.ReadingBatch.FromString(sb.batch)
        if any(r.HasField("temperature") for r in batch.readings):
            templates.append((batch.batch_sequence, d, sb, batch))
    templates.sort(key=lambda t: t[0])
    _, t_datagram, t_signed, t_batch = templates[-1]

    sender_id = int.from_bytes(os.urandom(8), "big")
    out = mesh_wire.sender(args.iface_addr, bind_addr=args.bind_addr)
    dest = (args.group, args.port)
    sent = {}

    def send(kind, datagrams):
        for d in datagrams:
            out.sendto(d, dest)
        sent[kind] = sent.get(kind, 0) + len(datagrams)
        time.sleep(0.05)

    def fresh_batch(offset):
        b = pb.ReadingBatch()
        b.CopyFrom(t_batch)
        b.batch_sequence += 1000 + offset
        now = time.time_ns()
        b.sent_time.FromNanoseconds(now)
        for r in b.readings:
            r.sequence += 1000 + offset
            r.observed_time.FromNanoseconds(now)
            if r.HasField("temperature"):
                r.temperature.celsius = 99.0
        return b.SerializeToString()

    def dgram(signed_batch):
        return mesh_wire.encode(signed_batch.SerializeToString(),
                                sender_id=sender_id)

    kinds = args.attacks.split(",")
    forged = [dgram(pb.SignedBatch(batch=fresh_batch(i), signature=os.urandom(64),
                                   key_id=t_signed.key_id))
              for i in range(args.repeat)]
    if "forged" in kinds:
        send("forged", forged)
    if "untrusted" in kinds:
        datagrams = []
        try:
            import nacl.signing  # pylint: disable=import-outside-toplevel
            sk = nacl.signing.SigningKey.generate()
            pub = bytes(sk.verify_key)
            sign = lambda m: sk.sign(m).signature
        except ImportError:
            pub = os.urandom(32)
            sign = lambda m: os.urandom(64)
        key_id = hashlib.blake2b(pub, digest_size=32).digest()[:8]
        for i in range(args.repeat):
            b = fresh_batch(100 + i)
            datagrams.append(dgram(pb.SignedBatch(batch=b, signature=sign(b),
                                                  key_id=key_id)))
        send("untrusted", datagrams)
    if "replay" in kinds:
        send("replay", [mesh_wire.with_sender(d, sender_id) for d in captured])
    if "tampered" in kinds:
        temp = next(r.temperature.celsius for r in t_batch.readings
                    if r.HasField("temperature"))
        old = struct.pack("<d", temp)
        if old not in t_signed.batch:
            print(f"template has no {temp} double", file=sys.stderr)
            return 1
        tampered = pb.SignedBatch()
        tampered.CopyFrom(t_signed)
        tampered.batch = t_signed.batch.replace(old, struct.pack("<d", 99.0), 1)
        if args.tamper_sequence:
            claimed = pb.ReadingBatch.FromString(tampered.batch)
            claimed.batch_sequence = args.tamper_sequence
            tampered.batch = claimed.SerializeToString()
        send("tampered", [dgram(tampered)] * args.repeat)
    if "truncated" in kinds:
        send("truncated", [mesh_wire.with_sender(t_datagram, sender_id)[:n]
                           for n in (10, len(t_datagram) // 2,
                                     len(t_datagram) - 1)][:max(args.repeat, 1)])
    if "oversized" in kinds:
        send("oversized", [mesh_wire.encode(os.urandom(1600), sender_id=sender_id)]
             * args.repeat)
    if "flood" in kinds:
        # Paced (~3000/s) so that the receivers' socket buffers keep up and
        # the relays, not the kernel, drop what exceeds the rate.
        n = 0
        while n < args.flood:
            for _ in range(min(30, args.flood - n)):
                out.sendto(forged[0], dest)
                n += 1
            time.sleep(0.01)
        sent["flood"] = n
    print(json.dumps(sent))
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("capture", "attack"):
        s = sub.add_parser(name)
        s.add_argument("--group", required=True)
        s.add_argument("--port", type=int, required=True)
        s.add_argument("--iface-addr", required=True,
                       help="address of the interface to join/send on")
    c = sub.choices["capture"]
    c.add_argument("--count", type=int, default=5)
    c.add_argument("--timeout", type=float, default=15)
    c.add_argument("--out", required=True)
    a = sub.choices["attack"]
    a.add_argument("--bind-addr", help="source address (default iface-addr)")
    a.add_argument("--captured", required=True)
    a.add_argument("--stubs", required=True, help="dir with hwcast/v1/*_pb2.py")
    a.add_argument("--attacks",
                   default="forged,untrusted,replay,tampered,truncated,oversized,flood")
    a.add_argument("--repeat", type=int, default=3)
    a.add_argument("--tamper-sequence", type=int, default=0,
                   help="the batch sequence tampered copies claim (default:"
                        " the template's own)")
    a.add_argument("--flood", type=int, default=2400)
    args = p.parse_args()
    return capture(args) if args.cmd == "capture" else attack(args)


if __name__ == "__main__":
    sys.exit(main())
