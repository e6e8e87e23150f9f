# SPDX-License-Identifier: GPL-2.0
"""A minimal NVMe/TCP host for the guest scenarios: just enough protocol to open queues,
bring a controller up and move a few sectors, with full control over every byte sent.

No digests unless asked; in-capsule data for writes and Fabrics commands; reads come back as
C2HData PDUs (with or without a response capsule, when the target uses the SUCCESS flag).
"""
import socket
import struct

POLY = 0x82F63B78
TABLE = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ POLY if c & 1 else c >> 1
    TABLE.append(c)

HOSTNQN = b"nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-0000000000dd"
DISCOVERY_NQN = b"nqn.2014-08.org.nvmexpress.discovery"

# PDU types and C2HData flags.
PDU_ICRESP, PDU_RSP, PDU_C2H_DATA = 0x1, 0x5, 0x7
PDU_C2H_TERM, PDU_H2C_DATA, PDU_R2T = 0x3, 0x6, 0x9
C2H_SUCCESS = 0x8
DATA_LAST = 0x4
# Connect attribute: SQ flow control disabled.
CONNECT_DISABLE_SQFLOW = 0x4

STATS = "/sys/kernel/debug/nvmet_tcp_rs/stats"


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc = TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def hdr(ptype, flags, hlen, pdo, plen):
    return struct.pack("<BBBBI", ptype, flags, hlen, pdo, plen)


def icreq(digest=0, pfv=0, hpda=0, hlen=128):
    body = struct.pack("<HBBI", pfv, hpda, digest, 0)
    return hdr(0x0, 0, hlen, 0, 128) + body + bytes(128 - 8 - len(body))


def recv_exact(s, n):
    got = b""
    while len(got) < n:
        chunk = s.recv(n - len(got))
        if not chunk:
            raise ConnectionError(f"closed after {len(got)} of {n} bytes")
        got += chunk
    return got


def incapsule_sqe(opcode, cid, length, nsid=0, fctype=None, tail=b""):
    """An SQE with an in-capsule (offset) SGL of `length` bytes; `tail` is bytes 40..63."""
    b4 = struct.pack("<BxxxI", fctype, 0)[:4] if fctype is not None else struct.pack("<I", nsid)
    # Flags 0x40: the data pointer is an SGL (NVME_CMD_SGL_METABUF), as fabrics require.
    sqe = struct.pack("<BBH", opcode, 0x40, cid) + b4 + bytes(16)
    sqe += struct.pack("<QIBBBB", 0, length, 0, 0, 0, 0x01)
    return sqe + tail + bytes(24 - len(tail))


def read_sqe(cid, lba, nbytes, nsid=1):
    """A Read of `nbytes` at `lba` with a transport data block SGL (data by C2HData)."""
    sqe = struct.pack("<BBHI", 0x02, 0x40, cid, nsid) + bytes(16)
    sqe += struct.pack("<QIBBBB", 0, nbytes, 0, 0, 0, 0x5A)
    return sqe + struct.pack("<QI", lba, nbytes // 512 - 1) + bytes(12)


def response(s):
    """Reads a response capsule; returns (status without the phase bit, result dword)."""
    rsp = recv_exact(s, 24)
    if rsp[0] != PDU_RSP:
        raise ConnectionError(f"expected a response capsule, got {rsp.hex()}")
    result, status = struct.unpack_from("<I", rsp, 8)[0], struct.unpack_from("<H", rsp, 22)[0]
    return status >> 1, result


def command(s, sqe, data=b"", ddgst=False, corrupt=False):
    """Sends a command capsule (data in-capsule) and returns (status, result)."""
    plen = 72 + len(data) + (4 if ddgst and data else 0)
    flags = 0x2 if ddgst and data else 0
    pdu = hdr(0x4, flags, 72, 72 if data else 0, plen) + sqe + data
    if ddgst and data:
        digest = crc32c(data) ^ (0xFFFFFFFF if corrupt else 0)
        pdu += struct.pack("<I", digest)
    s.sendall(pdu)
    return response(s)


def read(s, cid, lba, nbytes):
    """A Read (no digests); returns (status, data)."""
    s.sendall(hdr(0x4, 0, 72, 0, 72) + read_sqe(cid, lba, nbytes))
    data = bytearray(nbytes)
    got = 0
    while True:
        ch = recv_exact(s, 8)
        ptype, flags, _hlen, pdo, plen = struct.unpack("<BBBBI", ch)
        pdu = ch + recv_exact(s, plen - 8)
        if ptype == PDU_RSP:
            return struct.unpack_from("<H", pdu, 22)[0] >> 1, bytes(data[:got])
        if ptype != PDU_C2H_DATA:
            raise ConnectionError(f"expected C2HData or a response, got PDU type {ptype:#x}")
        cccid, datao, datal = struct.unpack_from("<HxxII", pdu, 8)
        if cccid != cid or datao + datal > nbytes:
            raise ConnectionError(f"C2HData for cid {cccid} at {datao}+{datal}")
        data[datao:datao + datal] = pdu[pdo:pdo + datal]
        got = max(got, datao + datal)
        if flags & C2H_SUCCESS:
            return 0, bytes(data[:got])


def queue(host, port, ddgst=False, timeout=10, rcvbuf=None, sndbuf=None):
    """A connection that completed ICReq/ICResp. `rcvbuf`/`sndbuf`: SO_RCVBUF/SO_SNDBUF,
    set before connecting."""
    if rcvbuf is None and sndbuf is None:
        s = socket.create_connection((host, port), timeout=timeout)
    else:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        s = socket.socket(family, kind, proto)
        try:
            for opt, size in ((socket.SO_RCVBUF, rcvbuf), (socket.SO_SNDBUF, sndbuf)):
                if size is not None:
                    s.setsockopt(socket.SOL_SOCKET, opt, size)
            s.settimeout(timeout)
            s.connect(addr)
        except BaseException:
            s.close()
            raise
    try:
        s.sendall(icreq(digest=2 if ddgst else 0))
        if recv_exact(s, 128)[0] != PDU_ICRESP:
            raise ConnectionError("no ICResp")
    except BaseException:
        s.close()
        raise
    return s


def connect_data(subnqn, cntlid, hostnqn=HOSTNQN):
    return bytes(16) + struct.pack("<H", cntlid) + bytes(238) + subnqn.ljust(256, b"\0") + hostnqn.ljust(256, b"\0") + bytes(256)


def connect(s, subnqn, qid, sqsize, cntlid=0xFFFF, ddgst=False, cattr=0):
    """Fabrics Connect for queue `qid` of `sqsize` + 1 entries; returns (status, cntlid).
    `cattr`: the Connect attributes (CONNECT_DISABLE_SQFLOW: no response after a Read's
    C2HData with the SUCCESS flag)."""
    tail = struct.pack("<HHHBxI", 0, qid, sqsize, cattr, 0)
    status, result = command(s, incapsule_sqe(0x7F, 1, 1024, fctype=1, tail=tail), connect_data(subnqn, cntlid), ddgst=ddgst)
    return status, result & 0xFFFF


def enable(admin):
    """Property Set CC: EN, IOSQES 6, IOCQES 4. Returns the status."""
    prop = struct.pack("<BBH", 0x7F, 0x40, 2) + struct.pack("<B", 0) + bytes(35) + struct.pack("<BxxxIQ", 0, 0x14, 0x00460001) + bytes(8)
    return command(admin, prop)[0]


def controller(host, port, subnqn, sqsize=31):
    """An admin queue with an enabled controller; returns (socket, cntlid)."""
    admin = queue(host, port)
    try:
        status, cntlid = connect(admin, subnqn, 0, sqsize)
        if status:
            raise ConnectionError(f"admin Connect status {status:#x}")
        status = enable(admin)
        if status:
            raise ConnectionError(f"Property Set CC status {status:#x}")
    except BaseException:
        admin.close()
        raise
    return admin, cntlid


def write_sqe(cid, lba, nbytes, nsid=1):
    """A Write of `nbytes` at `lba`, data in-capsule."""
    return incapsule_sqe(0x01, cid, nbytes, nsid=nsid, tail=struct.pack("<QI", lba, nbytes // 512 - 1))


def transport_sqe(opcode, cid, lba, nbytes, nsid=1, nlb=None):
    """A Read (0x02) or Write (0x01) of `nbytes` at `lba` with a transport data block SGL:
    the data goes by C2HData, or by H2CData after an R2T. `nlb` (0's based) defaults to
    what `nbytes` spans."""
    nlb = nbytes // 512 - 1 if nlb is None else nlb
    sqe = struct.pack("<BBHI", opcode, 0x40, cid, nsid) + bytes(16)
    sqe += struct.pack("<QIBBBB", 0, nbytes, 0, 0, 0, 0x5A)
    return sqe + struct.pack("<QI", lba, nlb) + bytes(12)


def capsule_pdu(sqe):
    """A command capsule PDU without data or digests."""
    return hdr(0x4, 0, 72, 0, 72) + sqe


def h2c_data_pdu(cid, ttag, offset, data, last=True):
    """An H2CData PDU (no digests) carrying `data` at `offset` of command `cid`."""
    return hdr(PDU_H2C_DATA, DATA_LAST if last else 0, 24, 24, 24 + len(data)) + struct.pack("<HHII", cid, ttag, offset, len(data)) + bytes(4) + data


def stats(path=STATS):
    """nvmet_tcp_rs's debugfs counters as a dict."""
    with open(path) as f:
        return {name: int(value) for name, value in (line.split() for line in f if line.strip())}
