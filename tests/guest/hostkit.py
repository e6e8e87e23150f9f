# SPDX-License-Identifier: GPL-2.0
"""What the hostile-host cases (hostile.py) stand on: a strictly framed reader of a target's
PDUs with bounded waits, the kernel log, sysctls and configfs ports that restore themselves,
and the per-run context (which target, its stats, a controller with an I/O queue)."""
import os
import signal
import socket
import struct
import sys
import time
import traceback

from tcphost import (
    PDU_C2H_DATA, PDU_C2H_TERM, PDU_ICRESP, PDU_R2T, PDU_RSP, capsule_pdu, connect, controller,
    h2c_data_pdu, queue, stats, transport_sqe,
)

MIB = 1 << 20
SECTOR = 512
LBA_BASE = 200 * MIB // SECTOR
CFS = "/sys/kernel/config/nvmet"
OP_WRITE, OP_READ = 0x01, 0x02
# Status codes after tcphost's >> 1 (no phase bit).
SC_TRANSIENT_TR_ERR = 0x22
SC_SGL_INVALID_DATA_DNR = 0x400F
FES_INVALID_FIELD, FES_SEQUENCE = 0x1, 0x2
# The header length of each PDU type a target may send (no header digests here).
TARGET_HLEN = {PDU_ICRESP: 128, PDU_C2H_TERM: 24, PDU_RSP: 24, PDU_C2H_DATA: 24, PDU_R2T: 24}


class Broken(Exception):
    """The target's byte stream is not a well-formed PDU sequence (or ended inside a PDU)."""


class Timeout(Exception):
    """A deadline passed with the stream still open."""


class Watchdog(BaseException):
    """The whole run took far too long."""


class Stream:
    """Strictly framed reading of a target's PDUs; every wait is bounded by a deadline."""

    def __init__(self, sock, hd=False):
        self.sock = sock
        # Header digests negotiated: every PDU's header is followed by 4 digest bytes.
        self.hd = 4 if hd else 0
        self.buf = bytearray()
        self.pos = 0
        self.end = None  # "EOF" or "reset" once the stream ended

    def avail(self):
        return len(self.buf) - self.pos

    def more(self, deadline):
        """Receives once; False at the end of the stream."""
        if self.end:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            raise Timeout()
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(1 << 20)
        except socket.timeout:
            raise Timeout() from None
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
            self.end = "reset"
            return False
        if not chunk:
            self.end = "EOF"
            return False
        if self.pos >= 8 * MIB:
            del self.buf[:self.pos]
            self.pos = 0
        self.buf += chunk
        return True

    def fill(self, n, deadline):
        while self.avail() < n:
            if not self.more(deadline):
                return False
        return True

    def pdu(self, deadline):
        """The next whole PDU (bytes); None if the stream ended on a PDU boundary."""
        if not self.fill(8, deadline):
            if self.avail():
                raise Broken(f"{self.end} inside a common header ({bytes(self.buf[self.pos:]).hex()})")
            return None
        ptype, _flags, hlen, pdo, plen = struct.unpack_from("<BBBBI", self.buf, self.pos)
        ch = bytes(self.buf[self.pos:self.pos + 8]).hex()
        hd = self.hd if ptype != PDU_ICRESP else 0
        if ptype not in TARGET_HLEN or hlen != TARGET_HLEN[ptype] or plen < hlen + hd or plen > 64 * MIB \
                or (ptype == PDU_C2H_DATA and pdo < hlen + hd) \
                or (ptype not in (PDU_C2H_DATA, PDU_C2H_TERM) and plen != hlen + hd):
            raise Broken(f"misframed: common header {ch}")
        if not self.fill(plen, deadline):
            raise Broken(f"{self.end} after {self.avail()} bytes of a {plen}-byte PDU (header {ch})")
        p = bytes(self.buf[self.pos:self.pos + plen])
        self.pos += plen
        return p

    def drain(self, deadline):
        """Receives until the stream ends; False if the deadline came first."""
        try:
            while self.more(deadline):
                pass
        except Timeout:
            return False
        return True


def r2t_fields(p):
    """(cccid, ttag, r2to, r2tl)"""
    return struct.unpack_from("<HHII", p, 8)


def rsp_fields(p):
    """(cid, status without the phase bit)"""
    cid, status = struct.unpack_from("<HH", p, 20)
    return cid, status >> 1


def c2h_fields(p):
    """(cccid, datao, data) of a C2HData PDU without data digest."""
    cccid, datao, datal = struct.unpack_from("<HxxII", p, 8)
    if p[3] + datal != len(p):
        raise Broken(f"C2HData datal {datal} with pdo {p[3]} in a {len(p)}-byte PDU")
    return cccid, datao, p[p[3]:]


def describe(p):
    t = p[0]
    if t == PDU_R2T:
        return "R2T cccid %d ttag %d r2to %d r2tl %d" % r2t_fields(p)
    if t == PDU_RSP:
        return "response cid %d status %#x" % rsp_fields(p)
    if t == PDU_C2H_TERM:
        return "C2HTermReq FES %#x" % struct.unpack_from("<H", p, 8)
    if t == PDU_C2H_DATA:
        cccid, datao, datal = struct.unpack_from("<HxxII", p, 8)
        return f"C2HData cccid {cccid} datao {datao} datal {datal} flags {p[1]:#x}"
    return f"PDU {p[:8].hex()}"


def write_by_r2t(st, cid, lba, data, chunk=MIB, wait=10):
    """A write whose data goes by H2CData after the R2T; returns the status."""
    deadline = time.monotonic() + wait
    send(st.sock, capsule_pdu(transport_sqe(OP_WRITE, cid, lba, len(data))))
    p = st.pdu(deadline)
    if p is None or p[0] != PDU_R2T:
        raise Broken(f"expected an R2T, got {describe(p) if p else st.end}")
    cccid, ttag, r2to, r2tl = r2t_fields(p)
    if (cccid, r2to, r2tl) != (cid, 0, len(data)):
        raise Broken(f"unexpected {describe(p)}")
    for off in range(0, len(data), chunk):
        send(st.sock, h2c_data_pdu(cid, ttag, off, data[off:off + chunk], last=off + chunk >= len(data)))
    p = st.pdu(deadline)
    if p is None or p[0] != PDU_RSP or rsp_fields(p)[0] != cid:
        raise Broken(f"expected the write's response, got {describe(p) if p else st.end}")
    return rsp_fields(p)[1]


def send(sock, data, timeout=10):
    sock.settimeout(timeout)
    sock.sendall(data)


def close_all(*socks):
    for s in socks:
        if s is not None:
            s.close()


def kmsg_mark(text):
    try:
        with open("/dev/kmsg", "w") as f:
            f.write(f"hostile: {text}\n")
    except OSError:
        pass


class Kmsg:
    """Kernel log records that appear from now on."""

    def __init__(self):
        self.fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
        os.lseek(self.fd, 0, os.SEEK_END)

    def new_lines(self):
        out = []
        while True:
            try:
                rec = os.read(self.fd, 16384)
            except BlockingIOError:
                break
            except BrokenPipeError:  # records overwritten before we read them
                continue
            if not rec:
                break
            out.append(rec.decode(errors="replace").split(";", 1)[-1].split("\n", 1)[0])
        return out

    def close(self):
        os.close(self.fd)


class Sysctl:
    """Sets a sysctl for a `with` block, then restores it."""

    def __init__(self, name, value):
        self.path = "/proc/sys/" + name.replace(".", "/")
        self.value = value
        self.old = None

    def __enter__(self):
        with open(self.path) as f:
            self.old = f.read().strip()
        with open(self.path, "w") as f:
            f.write(self.value)
        return self

    def __exit__(self, *exc):
        with open(self.path, "w") as f:
            f.write(self.old)


class Port:
    """A TCP port in configfs for a `with` block (linked to the subsystem if `link`), removed
    after it."""

    def __init__(self, portid, traddr, trsvcid, subnqn, link=True):
        self.dir = f"{CFS}/ports/{portid}"
        self.attrs = (("addr_trtype", "tcp"), ("addr_adrfam", "ipv4"), ("addr_traddr", traddr), ("addr_trsvcid", str(trsvcid)))
        self.subsys = f"{CFS}/subsystems/{subnqn}"
        self.link_path = f"{self.dir}/subsystems/{subnqn}"
        self.linked = link

    def link(self):
        os.symlink(self.subsys, self.link_path)

    def unlink(self):
        os.unlink(self.link_path)

    def remove(self):
        if os.path.islink(self.link_path):
            os.unlink(self.link_path)
        if os.path.isdir(self.dir):
            os.rmdir(self.dir)

    def __enter__(self):
        os.mkdir(self.dir)
        try:
            for name, value in self.attrs:
                with open(f"{self.dir}/{name}", "w") as f:
                    f.write(value)
            if self.linked:
                self.link()
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, *exc):
        self.remove()


class Ctx:
    def __init__(self, host, port, subnqn, strict):
        self.host, self.port, self.subnqn, self.strict = host, port, subnqn, strict
        self.nqn = subnqn.decode()
        # How long to wait for what a target should do by itself: nvmet_tcp is only reported,
        # so it gets less time.
        self.wait = 10 if strict else 3
        # Connections open before any case (a connected host's): each case closes its own.
        self.conns_base = stats()["connections_active"] if strict else None

    def verdict(self, passed, text):
        """Ours: ok or FAIL; the C target's behaviour is only reported."""
        if not self.strict:
            return "seen", text
        return ("ok" if passed else "FAIL"), text

    def bad(self, text):
        return self.verdict(False, text)

    def stat(self, name):
        return stats()[name]

    def wait_stat(self, name, value, secs=10):
        """Polls a stat until it equals `value`; returns the last value read."""
        end = time.monotonic() + secs
        while True:
            got = self.stat(name)
            if got == value or time.monotonic() > end:
                return got
            time.sleep(0.2)

    def conns_before(self):
        """connections_active before a case, once the previous cases' connections are gone."""
        return self.wait_stat("connections_active", self.conns_base)

    def io_queue(self, sqsize=31, **kw):
        """A controller and its I/O queue 1: (admin, io)."""
        admin, cntlid = controller(self.host, self.port, self.subnqn)
        io = None
        try:
            io = queue(self.host, self.port, ddgst=kw.get("ddgst", False), timeout=self.wait)
            status, _ = connect(io, self.subnqn, 1, sqsize, cntlid, **kw)
            if status:
                raise ConnectionError(f"I/O Connect (sqsize {sqsize}) status {status:#x}")
        except BaseException:
            close_all(io, admin)
            raise
        return admin, io



def _watchdog(_sig, _frame):
    raise Watchdog()


def run_suite(prog, cases, budget):
    """The main program of a case list [(name, fn(ctx) -> (kind, text))]: argv is HOST PORT
    SUBNQN [--strict]. Prints "PROG: ok|FAIL|seen NAME: text [secs]" per case and, with
    --strict, a closing count; with $RELI_ROWS set, prints "reliability-row: NAME<TAB>kind
    <TAB>text" and appends the row to that file (the reliability table). PROG_CASES=name,... in the environment runs only those cases. The
    whole run may take `budget` seconds. Returns the exit status: 1 on a FAIL."""
    args = [a for a in sys.argv[1:] if a != "--strict"]
    if len(args) != 3:
        print(f"usage: {prog}.py HOST PORT SUBNQN [--strict]", file=sys.stderr)
        return 2
    try:
        ctx = Ctx(args[0], int(args[1]), args[2].encode(), "--strict" in sys.argv[1:])
    except OSError as e:
        print(f"{prog}: FAIL: cannot read the stats: {e}")
        return 1
    # Every wait is bounded; this only catches a bug in that.
    signal.signal(signal.SIGALRM, _watchdog)
    signal.alarm(budget)
    passed = failed = 0
    t_all = time.monotonic()
    env = f"{prog.upper()}_CASES"
    only = [n for n in os.environ.get(env, "").split(",") if n]
    unknown = set(only) - {name for name, _ in cases}
    if unknown:
        print(f"{prog}: FAIL: unknown cases in {env}: {', '.join(sorted(unknown))}")
        return 1
    rows = os.environ.get("RELI_ROWS")
    for name, fn in cases:
        if only and name not in only:
            continue
        kmsg_mark(f"{prog} case {name}")
        t0 = time.monotonic()
        aborted = False
        try:
            kind, text = fn(ctx)
        except Watchdog:
            kind, text, aborted = "FAIL", f"the whole run took over {budget} s", True
        except (ConnectionError, OSError, Broken, Timeout) as e:
            kind, text = ctx.bad(f"{type(e).__name__}: {e}")
        except Exception:  # a bug here, not the target's behaviour
            kind, text = "FAIL", f"error in {prog}.py: " + traceback.format_exc().replace("\n", " | ")
        print(f"{prog}: {kind} {name}: {text} [{time.monotonic() - t0:.1f} s]", flush=True)
        if rows:
            # Printed at once too (see lib.sh: row), for the table of a run that hangs later.
            line = f"{name}\t{kind}\t{' '.join(text.split())}"
            print(f"reliability-row: {line}", flush=True)
            with open(rows, "a") as f:
                f.write(line + "\n")
        passed += kind == "ok"
        failed += kind == "FAIL"
        if aborted:
            break
    signal.alarm(0)
    kmsg_mark(f"{prog} done")
    if ctx.strict:
        print(f"{prog}: {passed} passed, {failed} failed [{time.monotonic() - t_all:.1f} s]")
    return 1 if failed else 0
