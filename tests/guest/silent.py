#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A host that goes silent with commands outstanding, for the keep-alive case of
tests/guest/underload.sh.

Opens a controller whose admin Connect asks for a keep-alive timeout of KATO_MS (SQE dword
12), enables it, opens I/O queue 1 (with a small receive buffer), then sends WRITES writes
with a transport SGL (the target answers with R2Ts; the data is never sent) and READS reads
(their C2HData is never read), and from then on sends nothing. nvmet's core must find the
keep-alive timeout expired (its timer is traffic based: between KATO and 2 x KATO after the
last command) and tear the controller down: the admin queue must see EOF or a reset, and so
must the I/O queue. Prints one line saying what happened and when; exits 1 if a queue was
still open after 2 x KATO + SLACK seconds, 2 if the controller could not be set up.

Usage: silent.py HOST PORT SUBNQN [KATO_MS [SLACK [LBA]]]
"""
import select
import socket
import struct
import sys
import time

from tcphost import command, connect_data, enable, incapsule_sqe, queue, transport_sqe, capsule_pdu

HOSTNQN = b"nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-0000000000c5"


def connect_kato(s, subnqn, qid, sqsize, cntlid, kato_ms):
    """Fabrics Connect with KATO (ms) in bytes 48..51: (status, cntlid)."""
    tail = struct.pack("<HHHBxI", 0, qid, sqsize, 0, kato_ms)
    sqe = incapsule_sqe(0x7F, 1, 1024, fctype=1, tail=tail)
    status, result = command(s, sqe, connect_data(subnqn, cntlid, HOSTNQN))
    return status, result & 0xFFFF


def ended(s, deadline):
    """Reads (and drops) whatever comes until the stream ends: "EOF", "reset" or None."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        s.settimeout(left)
        try:
            if not s.recv(1 << 20):
                return "EOF"
        except socket.timeout:
            return None
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
            return "reset"


def main():
    a = sys.argv[1:]
    if len(a) < 3:
        sys.exit(__doc__)
    host, port, subnqn = a[0], int(a[1]), a[2].encode()
    kato_ms = int(a[3]) if len(a) > 3 else 3000
    slack = float(a[4]) if len(a) > 4 else 10
    lba = int(a[5]) if len(a) > 5 else 480 * 2048
    writes, reads, wbytes, rbytes = 8, 8, 65536, 131072
    try:
        admin = queue(host, port)
        status, cntlid = connect_kato(admin, subnqn, 0, 31, 0xFFFF, kato_ms)
        if status:
            raise ConnectionError(f"admin Connect status {status:#x}")
        status = enable(admin)
        if status:
            raise ConnectionError(f"Property Set CC status {status:#x}")
        io = queue(host, port, rcvbuf=4096)
        status, _ = connect_kato(io, subnqn, 1, 31, cntlid, 0)
        if status:
            raise ConnectionError(f"I/O queue Connect status {status:#x}")
        pdus = b""
        for i in range(writes):
            pdus += capsule_pdu(transport_sqe(0x01, 10 + i, lba + i * (wbytes // 512), wbytes))
        for i in range(reads):
            pdus += capsule_pdu(transport_sqe(0x02, 30 + i, lba + i * (rbytes // 512), rbytes))
        io.settimeout(10)
        io.sendall(pdus)
    except (OSError, ConnectionError) as e:
        print(f"could not set up the controller: {type(e).__name__}: {e}")
        sys.exit(2)
    silent = time.monotonic()
    deadline = silent + 2 * kato_ms / 1000 + slack
    what = f"{writes} R2T writes of {wbytes >> 10} KiB and {reads} reads of {rbytes >> 10} KiB outstanding"
    # Nothing is read from the I/O queue until the admin queue ends, so the reads' data stays
    # queued in the target; the admin queue has nothing pending and only ends at teardown.
    readable, _, _ = select.select([admin], [], [], max(0.0, deadline - time.monotonic()))
    admin_end = ended(admin, deadline) if readable else None
    t_admin = time.monotonic() - silent
    if admin_end is None:
        print(f"KATO {kato_ms} ms: the admin queue was still open {t_admin:.1f} s after the host went silent ({what})")
        sys.exit(1)
    io_end = ended(io, deadline)
    t_io = time.monotonic() - silent
    if io_end is None:
        print(f"KATO {kato_ms} ms: admin queue {admin_end} after {t_admin:.1f} s, but the I/O queue still open after {t_io:.1f} s ({what})")
        sys.exit(1)
    print(f"KATO {kato_ms} ms, {what}: admin queue {admin_end} {t_admin:.1f} s after the host went silent, I/O queue {io_end} at {t_io:.1f} s")
    admin.close()
    io.close()


if __name__ == "__main__":
    main()
