#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Sends malformed NVMe/TCP PDUs to a target, one connection per case.

With --expect-term (nvmet_tcp_rs) every case must end its connection, with a C2HTermReq
carrying the expected fatal error status (FES) first where the case has one. Without it
(nvmet_tcp, which has no C2HTermReq and ignores some of these) each case only reports what
the target did.

Then the data digest case: a real controller (admin Connect, CC.EN through Property Set, an
I/O queue with data digests) gets a Write whose data digest is wrong. nvmet_tcp_rs must fail
only that command (Transient Transport Error) and then complete a correct Write on the same
connection; nvmet_tcp closes the connection, which is reported.

Usage: badpdu.py HOST PORT SUBNQN [--expect-term]. Prints one line per case; exits 1 on a
failure.
"""
import socket
import struct
import sys

from tcphost import command, connect, controller, crc32c, hdr, icreq, queue, write_sqe


def capsule(sqe, flags=0, plen=None, data=b"", hdgst=False):
    h = hdr(0x4, flags | (1 if hdgst else 0), 72, 0, plen if plen is not None else 72 + (4 if hdgst else 0) + len(data))
    pdu = h + sqe
    if hdgst:
        pdu += struct.pack("<I", crc32c(pdu))
    return pdu + data


def h2c_data(ttag, offset, length, cid=0, data=None):
    data = bytes(length) if data is None else data
    return hdr(0x6, 0x4, 24, 24, 24 + len(data)) + struct.pack("<HHII", cid, ttag, offset, length) + bytes(4) + data


# A Read of 8 sectors with a transport SGL (data comes back as C2HData).
READ_SQE = struct.pack("<BBHI", 0x02, 0x40, 7, 1) + bytes(16) + struct.pack("<QIBBBB", 0, 4096, 0, 0, 0, 0x5A) + bytes(24)

FES_INVALID_FIELD, FES_SEQUENCE, FES_HDGST = 1, 2, 3

CASES = [
    # name, bytes to send, expected FES (None: the target closes without a reply)
    ("capsule-before-icreq", capsule(READ_SQE), FES_SEQUENCE),
    ("icreq-bad-hlen", icreq(hlen=127), FES_INVALID_FIELD),
    ("icreq-bad-pfv", icreq(pfv=1), FES_INVALID_FIELD),
    ("icreq-hpda", icreq(hpda=3), 6),
    ("second-icreq", icreq() + icreq(), FES_SEQUENCE),
    ("c2h-type-from-host", icreq() + hdr(0x7, 0, 24, 0, 24) + bytes(16), FES_INVALID_FIELD),
    ("unknown-type", icreq() + hdr(0x42, 0, 24, 0, 24) + bytes(16), FES_INVALID_FIELD),
    ("capsule-bad-hlen", icreq() + hdr(0x4, 0, 71, 0, 71) + bytes(63), FES_INVALID_FIELD),
    ("capsule-huge-plen", icreq() + hdr(0x4, 0, 72, 72, 0xFFFFFFF0) + READ_SQE, FES_INVALID_FIELD),
    ("h2cdata-unsolicited", icreq() + h2c_data(ttag=0xFFFF, offset=0, length=512), FES_INVALID_FIELD),
    ("h2cdata-bad-ttag", icreq() + h2c_data(ttag=0x1234, offset=0, length=512), FES_INVALID_FIELD),
    ("header-digest-error", icreq(digest=1) + capsule(READ_SQE, hdgst=True)[:-4] + b"\xde\xad\xbe\xef", FES_HDGST),
    ("digest-flag-missing", icreq(digest=1) + capsule(READ_SQE), FES_INVALID_FIELD),
    ("h2c-term-req", icreq() + hdr(0x2, 0, 24, 0, 24) + struct.pack("<HI", 1, 0) + bytes(10), None),
]


def run_case(host, port, name, payload, fes, expect_term):
    wait = 10 if expect_term else 3
    s = socket.create_connection((host, port), timeout=wait)
    got = b""
    try:
        s.sendall(payload)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass
    except socket.timeout:
        if not expect_term:
            return f"seen {name}: still open after {wait} s"
        return f"FAIL {name}: the connection was still open after {wait} s"
    finally:
        s.close()
    # Skip the ICResp (type 1, 128 bytes) if an ICReq was answered.
    if got[:1] == b"\x01" and len(got) >= 128:
        got = got[128:]
    if not expect_term:
        return f"seen {name}: closed" + (f" after {got[:8].hex()}" if got else "")
    if fes is None:
        if got:
            return f"FAIL {name}: expected a plain close, got {got[:8].hex()}"
        return f"ok {name}: closed" + (f" ({len(got)} bytes first)" if got else "")
    if len(got) < 24 or got[0] != 0x3:
        return f"FAIL {name}: expected a C2HTermReq, got {got[:24].hex() or 'nothing'}"
    got_fes, fei = struct.unpack_from("<HI", got, 8)
    if got_fes != fes:
        return f"FAIL {name}: C2HTermReq FES {got_fes:#x}, expected {fes:#x} (FEI {fei})"
    return f"ok {name}: C2HTermReq FES {got_fes:#x} FEI {fei}, then closed"


SC_TRANSIENT_TR_ERR = 0x22


def ddgst_case(host, port, subnqn, strict):
    name = "data-digest-error"
    admin = io = None
    try:
        admin, cntlid = controller(host, port, subnqn)
        io = queue(host, port, ddgst=True)
        status, _ = connect(io, subnqn, 1, 31, cntlid, ddgst=True)
        if status:
            return f"FAIL {name}: I/O Connect status {status:#x}"
        write = write_sqe(2, 0, 512)
        try:
            status, _ = command(io, write, bytes(range(256)) * 2, ddgst=True, corrupt=True)
        except (ConnectionError, OSError) as e:
            if strict:
                return f"FAIL {name}: the connection ended on a data digest error ({e})"
            return f"seen {name}: the connection ended on a data digest error"
        if status != SC_TRANSIENT_TR_ERR:
            return f"FAIL {name}: Write with a bad data digest got status {status:#x}"
        status, _ = command(io, write, bytes(range(256)) * 2, ddgst=True)
        if status:
            return f"FAIL {name}: the next Write on the same connection got status {status:#x}"
        return f"ok {name}: only the command failed (Transient Transport Error); the next Write succeeded"
    except (ConnectionError, OSError) as e:
        return f"FAIL {name}: {e}"
    finally:
        for s in (io, admin):
            if s:
                s.close()


def main():
    host, port, subnqn = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
    expect_term = "--expect-term" in sys.argv[4:]
    failed = 0
    lines = [run_case(host, port, name, payload, fes, expect_term) for name, payload, fes in CASES]
    lines.append(ddgst_case(host, port, subnqn, expect_term))
    for line in lines:
        print(f"badpdu: {line}", flush=True)
        failed += line.startswith("FAIL")
    if expect_term:
        print(f"badpdu: {len(lines) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
