#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The nvmet core's queue limit over NVMe/TCP, which no real host on a 2-CPU guest reaches
(nvme-tcp caps its I/O queues at the number of CPUs).

One controller opens COUNT I/O queues (default 128, the subsystem's default attr_qid_max)
and keeps them all open. Over each one it writes a sector of its own pattern at
BASE_LBA + qid, then reads every sector back over the same queue and compares. Then a
Connect for queue COUNT + 1 must be refused, and the controller and its queues go away when
the sockets close.

With BACKING (the namespace's block device on the target side), each sector is also read
from there with O_DIRECT, to show that the data landed where it should.

Usage: queues.py HOST PORT SUBNQN [--backing DEV] [COUNT [SQSIZE [BASE_LBA]]]. Exits 1 on a
failure.
"""
import mmap
import os
import struct
import sys
import time

from tcphost import command, connect, controller, queue, read, write_sqe


def pattern(qid):
    return struct.pack("<I", qid) * 128


def read_backing(dev, lba):
    """One sector of `dev` with O_DIRECT (past the page cache), into an aligned buffer."""
    buf = mmap.mmap(-1, 4096)
    fd = os.open(dev, os.O_RDONLY | os.O_DIRECT)
    try:
        start = lba * 512 // 4096 * 4096
        if os.preadv(fd, [buf], start) != 4096:
            raise OSError(f"short read of {dev}")
        return bytes(buf[lba * 512 - start:lba * 512 - start + 512])
    finally:
        os.close(fd)
        buf.close()


def main():
    args = sys.argv[1:]
    backing = None
    if "--backing" in args:
        i = args.index("--backing")
        backing = args[i + 1]
        del args[i:i + 2]
    host, port, subnqn = args[0], int(args[1]), args[2].encode()
    count = int(args[3]) if len(args) > 3 else 128
    sqsize = int(args[4]) if len(args) > 4 else 127
    base = int(args[5]) if len(args) > 5 else 65536
    t0 = time.monotonic()
    admin, cntlid = controller(host, port, subnqn)
    queues = {}
    try:
        for qid in range(1, count + 1):
            s = queues[qid] = queue(host, port)
            status, _ = connect(s, subnqn, qid, sqsize, cntlid)
            if status:
                print(f"queues: FAIL: Connect of I/O queue {qid} (sqsize {sqsize}) got status {status:#x}")
                return 1
        print(f"queues: controller {cntlid} has {count} I/O queues of {sqsize + 1} entries")
        for qid, s in queues.items():
            status, _ = command(s, write_sqe(2, base + qid, 512), pattern(qid))
            if status:
                print(f"queues: FAIL: Write on queue {qid} got status {status:#x}")
                return 1
        for qid, s in queues.items():
            status, data = read(s, 3, base + qid, 512)
            if status or data != pattern(qid):
                print(f"queues: FAIL: Read on queue {qid}: status {status:#x}, data {data[:8].hex()}, expected {pattern(qid)[:8].hex()}")
                return 1
        print(f"queues: a sector written and read back on each of the {count} queues")
        if backing:
            for qid in queues:
                if read_backing(backing, base + qid) != pattern(qid):
                    print(f"queues: FAIL: sector {base + qid} of {backing} does not hold queue {qid}'s write")
                    return 1
            print(f"queues: all {count} sectors found on {backing}")
        extra = queue(host, port)
        try:
            status, _ = connect(extra, subnqn, count + 1, sqsize, cntlid)
        except (ConnectionError, OSError) as e:
            status = f"connection ended ({e})"
        finally:
            extra.close()
        if status == 0:
            print(f"queues: FAIL: I/O queue {count + 1} was accepted")
            return 1
        print(f"queues: I/O queue {count + 1} refused ({status if isinstance(status, str) else f'status {status:#x}'})")
    except (ConnectionError, OSError) as e:
        print(f"queues: FAIL: {e}")
        return 1
    finally:
        for s in queues.values():
            s.close()
        admin.close()
    print(f"queues: ok in {time.monotonic() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
