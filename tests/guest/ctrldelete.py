# SPDX-License-Identifier: GPL-2.0
"""The hostile-host case ctrl-delete (see hostile.py): the core deletes a controller while
its commands are completing, and the host must still get their data and responses before
the connection closes.

The core deletes a controller for a fatal error (here: an AUTH_Send that fails
authentication, whose command completes right after nvmet_ctrl_fatal_error), a keep-alive
timeout, or a subsystem or port that goes away. A transport that shuts the connections down
at once loses the last response, and the host waits for its command timeout."""
import os
import struct
import time

from hostkit import (
    MIB, SECTOR, LBA_BASE, OP_READ, Broken, Timeout, Stream, Sysctl, Port, c2h_fields, close_all,
    describe, rsp_fields, send, write_by_r2t,
)
from tcphost import (
    C2H_SUCCESS, PDU_C2H_DATA, PDU_RSP, capsule_pdu, connect, controller, hdr, incapsule_sqe,
    queue, stats, transport_sqe,
)

DEL_PORT, DEL_PORTID = 4432, 32
FCTYPE_AUTH_SEND, DHCHAP_PROTOCOL = 0x05, 0xE9


def aer(cid):
    """An Asynchronous Event Request: the core holds it until an event or the queue's end, so
    a drain must not wait for it (a kernel host keeps one outstanding)."""
    return capsule_pdu(struct.pack("<BBHI", 0x0C, 0x40, cid, 0) + bytes(56))


def fatal_auth_send(cid):
    """An AUTH_Send whose message type is neither common nor DH-HMAC-CHAP: the core fails
    the controller (nvmet_ctrl_fatal_error, which has the transport delete it) and only then
    completes the command, with status 0."""
    payload = bytes([0x02]) + bytes(15)
    # resv3, spsp0, spsp1, secp, tl (struct nvmf_auth_send_command).
    tail = struct.pack("<BBBBI", 0, 1, 1, DHCHAP_PROTOCOL, len(payload))
    sqe = incapsule_sqe(0x7F, cid, len(payload), fctype=FCTYPE_AUTH_SEND, tail=tail)
    return hdr(0x4, 0, 72, 72, 72 + len(payload)) + sqe + payload


def expect_response(st, cid, deadline):
    """The response capsule for `cid`, first on the stream; a text if something else came."""
    p = st.pdu(deadline)
    if p is None:
        return f"{st.end} before the response"
    if p[0] != PDU_RSP or rsp_fields(p) != (cid, 0):
        return f"{describe(p)} instead of the response to cid {cid}"
    return None


def ctrl_delete(ctx):
    s0 = stats() if ctx.strict else None
    lost = []
    for run in range(5):
        admin = None
        try:
            admin, _ = controller(ctx.host, ctx.port, ctx.subnqn)
            st = Stream(admin)
            send(admin, aer(10) + fatal_auth_send(9))
            deadline = time.monotonic() + ctx.wait
            why = expect_response(st, 9, deadline)
            if why is None and not st.drain(deadline):
                why = f"still open {ctx.wait} s after the response"
            if why:
                lost.append(f"run {run + 1}: {why}")
        except Timeout:
            lost.append(f"run {run + 1}: neither the response nor the close within {ctx.wait} s")
        except (ConnectionError, OSError, Broken) as e:
            lost.append(f"run {run + 1}: {type(e).__name__}: {e}")
        finally:
            close_all(admin)
    text = f"AUTH_Send failing its controller: {5 - len(lost)} of 5 responses before the close" + \
        "".join(f"; {t}" for t in lost)
    read_ok, read_text = ctrl_delete_read(ctx)
    text += f"; {read_text}"
    if not ctx.strict:
        return "seen", text
    s1 = stats()
    # A module without these counters reads as no drain.
    drains = s1.get("ctrl_drains", 0) - s0.get("ctrl_drains", 0)
    timeouts = s1.get("drain_timeouts", 0) - s0.get("drain_timeouts", 0)
    text += f"; ctrl_drains +{drains}, drain_timeouts +{timeouts}"
    return ctx.verdict(not lost and read_ok and drains >= 7 and timeouts == 0, text)


def ctrl_delete_read(ctx):
    """A read going out (its data held back by a small send buffer and a slow reader) while
    the core deletes the controller: returns (passed, text)."""
    nbytes, lba = 512 << 10, LBA_BASE + 26 * MIB // SECTOR
    pattern = os.urandom(nbytes)
    with Sysctl("net.ipv4.tcp_wmem", "4096 16384 16384"), Port(DEL_PORTID, ctx.host, DEL_PORT, ctx.nqn):
        admin = io = None
        try:
            admin, cntlid = controller(ctx.host, DEL_PORT, ctx.subnqn)
            io = queue(ctx.host, DEL_PORT, timeout=ctx.wait, rcvbuf=16384, sndbuf=256 << 10)
            status, _ = connect(io, ctx.subnqn, 1, 31, cntlid)
            if status:
                return False, f"I/O Connect status {status:#x}"
            st = Stream(io)
            status = write_by_r2t(st, 2, lba, pattern, wait=ctx.wait + 10)
            if status:
                return False, f"writing the pattern got status {status:#x}"
            send(io, capsule_pdu(transport_sqe(OP_READ, 3, lba, nbytes)))
            if not st.fill(64 << 10, time.monotonic() + ctx.wait):
                return False, f"{st.end} before 64 KiB of the read"
            send(admin, aer(10) + fatal_auth_send(9))
            try:
                why = expect_response(Stream(admin), 9, time.monotonic() + ctx.wait)
            except (Broken, Timeout) as e:
                why = f"{type(e).__name__}: {e}"
            # The read is checked whatever became of the AUTH_Send.
            passed, text = read_to_close(ctx, st, 3, pattern)
            if why:
                return False, f"the read's controller: AUTH_Send: {why}; {text}"
            return passed, text
        except (ConnectionError, OSError, Broken, Timeout) as e:
            return False, f"the read's controller: {type(e).__name__}: {e}"
        finally:
            close_all(io, admin)


def read_to_close(ctx, st, cid, pattern):
    """Reads the rest of the read `cid` of `pattern`, its response and the close."""
    covered, rsp, status = 0, None, 0
    deadline = time.monotonic() + ctx.wait
    try:
        while True:
            p = st.pdu(deadline)
            if p is None:
                break
            if rsp is not None:
                return False, f"{describe(p)} after the read's response"
            if p[0] == PDU_C2H_DATA:
                cccid, datao, chunk = c2h_fields(p)
                if cccid != cid or chunk != pattern[datao:datao + len(chunk)]:
                    return False, f"{describe(p)}: not the read's data"
                covered += len(chunk)
                if p[1] & C2H_SUCCESS:
                    rsp = "SUCCESS flag"
            elif p[0] == PDU_RSP:
                rsp = f"response status {rsp_fields(p)[1]:#x}"
                status = rsp_fields(p)[1]
            else:
                return False, f"unexpected {describe(p)}"
    except Timeout:
        return False, f"the read: {covered} of {len(pattern)} bytes, still open {ctx.wait} s later"
    except Broken as e:
        return False, f"the read: {e} after {covered} of {len(pattern)} bytes"
    text = f"the read in flight: {covered} of {len(pattern)} bytes, {rsp or 'no response'}, then {st.end}"
    return covered == len(pattern) and rsp is not None and status == 0, text
