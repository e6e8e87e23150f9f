// SPDX-License-Identifier: GPL-2.0

//! NVMe/TCP PDU formats (`include/linux/nvme-tcp.h`) and validation of received headers.
//!
//! Every PDU starts with the 8-byte [`CommonHeader`]. [`Layout::validate`] checks it against the
//! connection state as soon as it has arrived, which says how many header bytes follow and how
//! much data. Each PDU type has a typed header implementing [`PduHeader`]; [`HostPdu::decode`]
//! checks the header digest and parses whichever header a host may send.
//!
//! All multi-byte fields are little-endian on the wire.

use super::{
    digest::{
        self,
        Crc32c, //
    },
    icreq::Negotiated,
    Error,
    Fes, //
};

/// Length of the common header.
pub const COMMON_HLEN: usize = 8;
/// Header length of ICReq and ICResp.
pub const IC_HLEN: usize = 128;
/// Header length of H2CTermReq and C2HTermReq.
pub const TERM_HLEN: usize = 24;
/// Header length of a command capsule: the common header and a 64-byte SQE.
pub const CMD_HLEN: usize = COMMON_HLEN + SQE_LEN;
/// Header length of a response capsule: the common header and a 16-byte CQE.
pub const RSP_HLEN: usize = COMMON_HLEN + CQE_LEN;
/// Header length of H2CData and C2HData.
pub const DATA_HLEN: usize = 24;
/// Header length of R2T.
pub const R2T_HLEN: usize = 24;
/// Length of a submission queue entry.
pub const SQE_LEN: usize = 64;
/// Length of a completion queue entry.
pub const CQE_LEN: usize = 16;
/// The longest header plus header digest a host can send (an ICReq, which never has a digest).
pub const MAX_HEADER_LEN: usize = IC_HLEN;
/// The most bytes of an offending header that a termination request echoes back.
pub const MAX_TERM_ECHO: usize = 128;
/// The largest termination request PDU (`NVME_TCP_MAX_C2HTERM_PLEN`).
pub const MAX_TERM_PLEN: usize = TERM_HLEN + MAX_TERM_ECHO;
/// The most data one H2CData PDU may carry, advertised in the ICResp: 4 MiB, as in the C target.
///
/// It also bounds every SGL length, so it is the largest transfer of one command.
pub const MAXH2CDATA: u32 = 0x40_0000;

/// Flag: a header digest follows the header.
pub const FLAG_HDGST: u8 = 1 << 0;
/// Flag: a data digest follows the data.
pub const FLAG_DDGST: u8 = 1 << 1;
/// Flag: the last data PDU of a transfer.
pub const FLAG_DATA_LAST: u8 = 1 << 2;
/// Flag: a C2HData PDU also completes the command successfully; no response capsule follows.
pub const FLAG_DATA_SUCCESS: u8 = 1 << 3;

/// Byte offset of the PDU type, reported as FEI.
pub const OFF_TYPE: u8 = 0;
/// Byte offset of the flags, reported as FEI.
pub const OFF_FLAGS: u8 = 1;
/// Byte offset of the header length, reported as FEI.
pub const OFF_HLEN: u8 = 2;
/// Byte offset of the PDU data offset, reported as FEI.
pub const OFF_PDO: u8 = 3;
/// Byte offset of the PDU length, reported as FEI.
pub const OFF_PLEN: u8 = 4;
/// Byte offset of the ICReq PDU format version, reported as FEI.
pub const OFF_PFV: u8 = 8;
/// Byte offset of the ICReq host PDU data alignment, reported as FEI.
pub const OFF_HPDA: u8 = 10;
/// Byte offset of the command identifier in a data PDU, reported as FEI.
pub const OFF_CCCID: u8 = 8;
/// Byte offset of the transfer tag in a data PDU, reported as FEI.
pub const OFF_TTAG: u8 = 10;
/// Byte offset of the data length in a data PDU, reported as FEI.
pub const OFF_DATAL: u8 = 16;

/// The PDU types (`enum nvme_tcp_pdu_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PduType {
    /// Initialize Connection Request.
    IcReq = 0x0,
    /// Initialize Connection Response.
    IcResp = 0x1,
    /// Host to Controller Terminate Connection Request.
    H2cTermReq = 0x2,
    /// Controller to Host Terminate Connection Request.
    C2hTermReq = 0x3,
    /// Command capsule.
    CapsuleCmd = 0x4,
    /// Response capsule.
    CapsuleResp = 0x5,
    /// Host to Controller data.
    H2cData = 0x6,
    /// Controller to Host data.
    C2hData = 0x7,
    /// Ready to Transfer.
    R2t = 0x9,
}

impl PduType {
    /// Decodes a PDU type byte.
    pub const fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0x0 => Self::IcReq,
            0x1 => Self::IcResp,
            0x2 => Self::H2cTermReq,
            0x3 => Self::C2hTermReq,
            0x4 => Self::CapsuleCmd,
            0x5 => Self::CapsuleResp,
            0x6 => Self::H2cData,
            0x7 => Self::C2hData,
            0x9 => Self::R2t,
            _ => return None,
        })
    }

    /// The header length (HLEN) every PDU of this type must have.
    pub const fn hlen(self) -> usize {
        match self {
            Self::IcReq | Self::IcResp => IC_HLEN,
            Self::H2cTermReq | Self::C2hTermReq => TERM_HLEN,
            Self::CapsuleCmd => CMD_HLEN,
            Self::CapsuleResp => RSP_HLEN,
            Self::H2cData | Self::C2hData => DATA_HLEN,
            Self::R2t => R2T_HLEN,
        }
    }
}

/// The first `N` bytes of `buf`.
fn head<const N: usize>(buf: &[u8]) -> Result<&[u8; N], Error> {
    buf.get(..N)
        .and_then(|b| b.try_into().ok())
        .ok_or(Error::BufferSize)
}

/// The first `N` bytes of `buf`, writable.
fn head_mut<const N: usize>(buf: &mut [u8]) -> Result<&mut [u8; N], Error> {
    buf.get_mut(..N)
        .and_then(|b| b.try_into().ok())
        .ok_or(Error::BufferSize)
}

// The helpers below take constant offsets inside the fixed-size header, so their bounds checks
// never fail; they still avoid indexing that could panic.

/// Reads a little-endian `u16` at `at`.
fn le16<const N: usize>(b: &[u8; N], at: usize) -> u16 {
    let mut v = [0u8; 2];
    if let Some(s) = b.get(at..at.saturating_add(2)) {
        v.copy_from_slice(s);
    }
    u16::from_le_bytes(v)
}

/// Reads a little-endian `u32` at `at`.
fn le32<const N: usize>(b: &[u8; N], at: usize) -> u32 {
    let mut v = [0u8; 4];
    if let Some(s) = b.get(at..at.saturating_add(4)) {
        v.copy_from_slice(s);
    }
    u32::from_le_bytes(v)
}

/// Writes `v` at `at`.
fn put<const N: usize>(b: &mut [u8; N], at: usize, v: &[u8]) {
    if let Some(d) = b.get_mut(at..at.saturating_add(v.len())) {
        d.copy_from_slice(v);
    }
}

/// The common header that starts every PDU (`struct nvme_tcp_hdr`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommonHeader {
    /// PDU type, see [`PduType`].
    pub pdu_type: u8,
    /// Type-specific flags, see the `FLAG_*` constants.
    pub flags: u8,
    /// Header length (HLEN), without the header digest.
    pub hlen: u8,
    /// PDU data offset (PDO): where the data starts, or 0 without data.
    pub pdo: u8,
    /// Total PDU length (PLEN) including header, digests and data.
    pub plen: u32,
}

impl CommonHeader {
    /// A header of type `ty` with its HLEN.
    pub fn new(ty: PduType, flags: u8, pdo: u8, plen: u32) -> Self {
        Self {
            pdu_type: ty as u8,
            flags,
            // Every header length is at most 128.
            hlen: ty.hlen() as u8,
            pdo,
            plen,
        }
    }

    /// Reads the common header from the first 8 bytes of `buf`.
    pub fn parse(buf: &[u8]) -> Result<Self, Error> {
        let b = head::<COMMON_HLEN>(buf)?;
        Ok(Self {
            pdu_type: b[0],
            flags: b[1],
            hlen: b[2],
            pdo: b[3],
            plen: le32(b, 4),
        })
    }

    /// The wire form of the header.
    pub fn to_bytes(&self) -> [u8; COMMON_HLEN] {
        let Self {
            pdu_type,
            flags,
            hlen,
            pdo,
            plen,
        } = *self;
        let [p0, p1, p2, p3] = plen.to_le_bytes();
        [pdu_type, flags, hlen, pdo, p0, p1, p2, p3]
    }

    /// Checks type and HLEN against `ty`.
    fn expect(&self, ty: PduType) -> Result<(), Error> {
        if self.pdu_type != ty as u8 {
            Err(Error::InvalidHeaderField(OFF_TYPE))
        } else if usize::from(self.hlen) != ty.hlen() {
            Err(Error::InvalidHeaderField(OFF_HLEN))
        } else {
            Ok(())
        }
    }
}

/// A typed PDU header: the common header and the type-specific fields.
pub trait PduHeader: Sized {
    /// The header length of this type, without digest.
    const HLEN: usize;

    /// The common header.
    fn common(&self) -> CommonHeader;

    /// Parses the header at the start of `buf`, checking type and HLEN.
    ///
    /// Fields that depend on the connection (flags, PDO, PLEN) are checked by
    /// [`Layout::validate`] instead.
    fn parse(buf: &[u8]) -> Result<Self, Error>;

    /// Writes the header into `buf[..HLEN]`, reserved bytes zeroed, and returns `HLEN`.
    fn encode(&self, buf: &mut [u8]) -> Result<usize, Error>;

    /// Writes the header followed by its digest if the header has [`FLAG_HDGST`].
    ///
    /// Returns the number of bytes written.
    fn encode_with_digest<C: Crc32c>(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let len = self.encode(buf)?;
        if self.common().flags & FLAG_HDGST != 0 {
            digest::put_header_digest::<C>(buf, len)
        } else {
            Ok(len)
        }
    }
}

/// Parses the common header of a typed header and checks its type and length.
fn typed<const N: usize>(buf: &[u8], ty: PduType) -> Result<(CommonHeader, &[u8; N]), Error> {
    let ch = CommonHeader::parse(buf)?;
    ch.expect(ty)?;
    Ok((ch, head::<N>(buf)?))
}

/// Zeroes `buf[..N]` and writes the common header into it.
fn start<const N: usize>(buf: &mut [u8], ch: CommonHeader) -> Result<&mut [u8; N], Error> {
    let b = head_mut::<N>(buf)?;
    b.fill(0);
    put(b, 0, &ch.to_bytes());
    Ok(b)
}

/// Initialize Connection Request (`struct nvme_tcp_icreq_pdu`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcReq {
    /// Common header.
    pub ch: CommonHeader,
    /// PDU format version; only 0 exists.
    pub pfv: u16,
    /// Host PDU data alignment, in dwords, 0's based.
    pub hpda: u8,
    /// Requested digests: bit 0 header digest, bit 1 data digest.
    pub digest: u8,
    /// Maximum outstanding R2Ts per command, 0's based; ignored by this target.
    pub maxr2t: u32,
}

impl PduHeader for IcReq {
    const HLEN: usize = IC_HLEN;

    fn common(&self) -> CommonHeader {
        self.ch
    }

    fn parse(buf: &[u8]) -> Result<Self, Error> {
        let (ch, b) = typed::<IC_HLEN>(buf, PduType::IcReq)?;
        Ok(Self {
            ch,
            pfv: le16(b, 8),
            hpda: b[10],
            digest: b[11],
            maxr2t: le32(b, 12),
        })
    }

    fn encode(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let b = start::<IC_HLEN>(buf, self.ch)?;
        put(b, 8, &self.pfv.to_le_bytes());
        b[10] = self.hpda;
        b[11] = self.digest;
        put(b, 12, &self.maxr2t.to_le_bytes());
        Ok(IC_HLEN)
    }
}

/// Initialize Connection Response (`struct nvme_tcp_icresp_pdu`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcResp {
    /// Common header.
    pub ch: CommonHeader,
    /// PDU format version.
    pub pfv: u16,
    /// Controller PDU data alignment, in dwords, 0's based.
    pub cpda: u8,
    /// Enabled digests: bit 0 header digest, bit 1 data digest.
    pub digest: u8,
    /// MAXH2CDATA: the most data one H2CData PDU may carry.
    pub maxdata: u32,
}

impl PduHeader for IcResp {
    const HLEN: usize = IC_HLEN;

    fn common(&self) -> CommonHeader {
        self.ch
    }

    fn parse(buf: &[u8]) -> Result<Self, Error> {
        let (ch, b) = typed::<IC_HLEN>(buf, PduType::IcResp)?;
        Ok(Self {
            ch,
            pfv: le16(b, 8),
            cpda: b[10],
            digest: b[11],
            maxdata: le32(b, 12),
        })
    }

    fn encode(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let b = start::<IC_HLEN>(buf, self.ch)?;
        put(b, 8, &self.pfv.to_le_bytes());
        b[10] = self.cpda;
        b[11] = self.digest;
        put(b, 12, &self.maxdata.to_le_bytes());
        Ok(IC_HLEN)
    }
}

/// H2CTermReq or C2HTermReq header (`struct nvme_tcp_term_pdu`).
///
/// The PDU data that follows is a copy of the offending PDU header. Termination requests never
/// carry digests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TermReq {
    /// Common header; the type says the direction.
    pub ch: CommonHeader,
    /// Fatal error status, see [`Fes`].
    pub fes: u16,
    /// Fatal error information, such as the offset of an invalid field.
    pub fei: u32,
}

impl TermReq {
    /// A C2HTermReq header followed by `echo_len` bytes of the offending header.
    pub fn c2h(fes: Fes, fei: u32, echo_len: usize) -> Result<Self, Error> {
        if echo_len > MAX_TERM_ECHO {
            return Err(Error::BufferSize);
        }
        let plen = u32::try_from(TERM_HLEN + echo_len).map_err(|_| Error::BufferSize)?;
        Ok(Self {
            ch: CommonHeader::new(PduType::C2hTermReq, 0, 0, plen),
            fes: fes as u16,
            fei,
        })
    }
}

impl PduHeader for TermReq {
    const HLEN: usize = TERM_HLEN;

    fn common(&self) -> CommonHeader {
        self.ch
    }

    fn parse(buf: &[u8]) -> Result<Self, Error> {
        let ch = CommonHeader::parse(buf)?;
        let ty = match PduType::from_u8(ch.pdu_type) {
            Some(ty @ (PduType::H2cTermReq | PduType::C2hTermReq)) => ty,
            _ => return Err(Error::InvalidHeaderField(OFF_TYPE)),
        };
        let (ch, b) = typed::<TERM_HLEN>(buf, ty)?;
        Ok(Self {
            ch,
            fes: le16(b, 8),
            fei: le32(b, 10),
        })
    }

    fn encode(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let b = start::<TERM_HLEN>(buf, self.ch)?;
        put(b, 8, &self.fes.to_le_bytes());
        put(b, 10, &self.fei.to_le_bytes());
        Ok(TERM_HLEN)
    }
}

/// Writes a complete C2HTermReq PDU into `out`, echoing up to 128 bytes of `bad_header`.
///
/// `bad_header` is the header of the PDU in error, as far as it was received. Returns the PDU
/// length, at most [`MAX_TERM_PLEN`].
pub fn encode_c2h_term_req(
    fes: Fes,
    fei: u32,
    bad_header: &[u8],
    out: &mut [u8],
) -> Result<usize, Error> {
    let echo = bad_header.get(..MAX_TERM_ECHO).unwrap_or(bad_header);
    let hdr = TermReq::c2h(fes, fei, echo.len())?;
    let plen = TERM_HLEN + echo.len();
    let (h, data) = out
        .get_mut(..plen)
        .ok_or(Error::BufferSize)?
        .split_at_mut(TERM_HLEN);
    hdr.encode(h)?;
    data.copy_from_slice(echo);
    Ok(plen)
}

/// Command capsule header (`struct nvme_tcp_cmd_pdu`); in-capsule data may follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapsuleCmd {
    /// Common header.
    pub ch: CommonHeader,
    /// The submission queue entry.
    pub sqe: [u8; SQE_LEN],
}

impl PduHeader for CapsuleCmd {
    const HLEN: usize = CMD_HLEN;

    fn common(&self) -> CommonHeader {
        self.ch
    }

    fn parse(buf: &[u8]) -> Result<Self, Error> {
        let (ch, b) = typed::<CMD_HLEN>(buf, PduType::CapsuleCmd)?;
        let mut sqe = [0u8; SQE_LEN];
        if let Some(s) = b.get(COMMON_HLEN..) {
            sqe.copy_from_slice(s);
        }
        Ok(Self { ch, sqe })
    }

    fn encode(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let b = start::<CMD_HLEN>(buf, self.ch)?;
        put(b, COMMON_HLEN, &self.sqe);
        Ok(CMD_HLEN)
    }
}

/// Response capsule header (`struct nvme_tcp_rsp_pdu`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapsuleResp {
    /// Common header.
    pub ch: CommonHeader,
    /// The completion queue entry.
    pub cqe: [u8; CQE_LEN],
}

impl CapsuleResp {
    /// A response capsule carrying `cqe`, with a header digest if negotiated.
    pub fn new(cqe: [u8; CQE_LEN], neg: Negotiated) -> Self {
        Self {
            ch: header_only(PduType::CapsuleResp, neg),
            cqe,
        }
    }
}

impl PduHeader for CapsuleResp {
    const HLEN: usize = RSP_HLEN;

    fn common(&self) -> CommonHeader {
        self.ch
    }

    fn parse(buf: &[u8]) -> Result<Self, Error> {
        let (ch, b) = typed::<RSP_HLEN>(buf, PduType::CapsuleResp)?;
        let mut cqe = [0u8; CQE_LEN];
        if let Some(s) = b.get(COMMON_HLEN..) {
            cqe.copy_from_slice(s);
        }
        Ok(Self { ch, cqe })
    }

    fn encode(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let b = start::<RSP_HLEN>(buf, self.ch)?;
        put(b, COMMON_HLEN, &self.cqe);
        Ok(RSP_HLEN)
    }
}

/// The common header of a PDU without data sent by the target.
fn header_only(ty: PduType, neg: Negotiated) -> CommonHeader {
    let flags = if neg.hdgst { FLAG_HDGST } else { 0 };
    // At most 72 + 4: cannot overflow.
    let plen = ty.hlen() as u32 + neg.hdgst_len();
    CommonHeader::new(ty, flags, 0, plen)
}

/// H2CData or C2HData header (`struct nvme_tcp_data_pdu`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataPdu {
    /// Common header; the type says the direction.
    pub ch: CommonHeader,
    /// Command identifier of the command the data belongs to.
    pub command_id: u16,
    /// Transfer tag from the R2T (H2CData only).
    pub ttag: u16,
    /// Offset of this PDU's data within the command's data.
    pub data_offset: u32,
    /// Length of this PDU's data.
    pub data_length: u32,
}

impl DataPdu {
    /// A C2HData header for `data_length` bytes at `data_offset`, with digests as negotiated.
    ///
    /// `success` sets [`FLAG_DATA_SUCCESS`], which the spec allows only on the last PDU.
    pub fn c2h(
        command_id: u16,
        data_offset: u32,
        data_length: u32,
        last: bool,
        success: bool,
        neg: Negotiated,
    ) -> Result<Self, Error> {
        if data_length > MAXH2CDATA {
            return Err(Error::DataLimitExceeded);
        }
        if success && !last {
            return Err(Error::InvalidHeaderField(OFF_FLAGS));
        }
        let mut flags = 0;
        if neg.hdgst {
            flags |= FLAG_HDGST;
        }
        if neg.ddgst && data_length > 0 {
            flags |= FLAG_DDGST;
        }
        if last {
            flags |= FLAG_DATA_LAST;
        }
        if success {
            flags |= FLAG_DATA_SUCCESS;
        }
        // Header and digests are at most 32 bytes and the data at most 4 MiB: no overflow.
        let hdr_len = DATA_HLEN as u32 + neg.hdgst_len();
        let ddgst = if data_length > 0 { neg.ddgst_len() } else { 0 };
        let pdo = if data_length > 0 { hdr_len as u8 } else { 0 };
        Ok(Self {
            ch: CommonHeader::new(PduType::C2hData, flags, pdo, hdr_len + data_length + ddgst),
            command_id,
            ttag: 0,
            data_offset,
            data_length,
        })
    }
}

impl PduHeader for DataPdu {
    const HLEN: usize = DATA_HLEN;

    fn common(&self) -> CommonHeader {
        self.ch
    }

    fn parse(buf: &[u8]) -> Result<Self, Error> {
        let ch = CommonHeader::parse(buf)?;
        let ty = match PduType::from_u8(ch.pdu_type) {
            Some(ty @ (PduType::H2cData | PduType::C2hData)) => ty,
            _ => return Err(Error::InvalidHeaderField(OFF_TYPE)),
        };
        let (ch, b) = typed::<DATA_HLEN>(buf, ty)?;
        Ok(Self {
            ch,
            command_id: le16(b, 8),
            ttag: le16(b, 10),
            data_offset: le32(b, 12),
            data_length: le32(b, 16),
        })
    }

    fn encode(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let b = start::<DATA_HLEN>(buf, self.ch)?;
        put(b, 8, &self.command_id.to_le_bytes());
        put(b, 10, &self.ttag.to_le_bytes());
        put(b, 12, &self.data_offset.to_le_bytes());
        put(b, 16, &self.data_length.to_le_bytes());
        Ok(DATA_HLEN)
    }
}

/// Ready to Transfer header (`struct nvme_tcp_r2t_pdu`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct R2t {
    /// Common header.
    pub ch: CommonHeader,
    /// Command identifier of the write command.
    pub command_id: u16,
    /// Transfer tag the host must echo in its H2CData PDUs.
    pub ttag: u16,
    /// Offset of the requested data within the command's data.
    pub r2t_offset: u32,
    /// Length of the requested data.
    pub r2t_length: u32,
}

impl R2t {
    /// An R2T for `r2t_length` bytes at `r2t_offset`, with a header digest if negotiated.
    pub fn new(
        command_id: u16,
        ttag: u16,
        r2t_offset: u32,
        r2t_length: u32,
        neg: Negotiated,
    ) -> Self {
        Self {
            ch: header_only(PduType::R2t, neg),
            command_id,
            ttag,
            r2t_offset,
            r2t_length,
        }
    }
}

impl PduHeader for R2t {
    const HLEN: usize = R2T_HLEN;

    fn common(&self) -> CommonHeader {
        self.ch
    }

    fn parse(buf: &[u8]) -> Result<Self, Error> {
        let (ch, b) = typed::<R2T_HLEN>(buf, PduType::R2t)?;
        Ok(Self {
            ch,
            command_id: le16(b, 8),
            ttag: le16(b, 10),
            r2t_offset: le32(b, 12),
            r2t_length: le32(b, 16),
        })
    }

    fn encode(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let b = start::<R2T_HLEN>(buf, self.ch)?;
        put(b, 8, &self.command_id.to_le_bytes());
        put(b, 10, &self.ttag.to_le_bytes());
        put(b, 12, &self.r2t_offset.to_le_bytes());
        put(b, 16, &self.r2t_length.to_le_bytes());
        Ok(R2T_HLEN)
    }
}

/// What the connection expects next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnState {
    /// Only an ICReq (or an H2CTermReq) may arrive.
    AwaitIcReq,
    /// The ICReq has been answered with these settings.
    Live(Negotiated),
}

/// Where the parts of a received PDU lie, derived from its validated common header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The PDU type; one a host may send.
    pub pdu_type: PduType,
    /// Header length, without digest.
    pub hlen: u8,
    /// Whether a header digest follows the header.
    pub hdgst: bool,
    /// Length of the PDU data, without digest.
    pub data_len: u32,
    /// Whether a data digest follows the data; never set without data.
    pub ddgst: bool,
}

impl Layout {
    /// Validates a received common header in the connection state `conn`.
    ///
    /// Only ICReq, H2CTermReq, CapsuleCmd and H2CData are accepted from a host. HLEN must match
    /// the type. The digest flags must match the negotiated digests: HDGSTF exactly, DDGSTF
    /// exactly when the PDU carries data. With data, PDO must be HLEN plus header digest, since
    /// the target asks for no alignment (CPDA 0); without data, PDO may also be 0. PLEN must
    /// account for the header, digests and at most [`MAXH2CDATA`] bytes of data. Fields are
    /// checked in wire order, so the lowest invalid field is the one reported.
    pub fn validate(ch: &CommonHeader, conn: ConnState) -> Result<Self, Error> {
        let ty = PduType::from_u8(ch.pdu_type).ok_or(Error::InvalidHeaderField(OFF_TYPE))?;
        match (ty, conn) {
            (PduType::H2cTermReq, _) => Self::term_req(ch),
            (PduType::IcReq, ConnState::AwaitIcReq) => Self::icreq(ch),
            (PduType::CapsuleCmd | PduType::H2cData, ConnState::Live(neg)) => {
                Self::with_data(ty, ch, neg)
            }
            (PduType::IcReq | PduType::CapsuleCmd | PduType::H2cData, _) => Err(Error::PduSequence),
            _ => Err(Error::InvalidHeaderField(OFF_TYPE)),
        }
    }

    /// An ICReq: fixed length, no digests, no data. Flags and PDO are reserved and ignored.
    fn icreq(ch: &CommonHeader) -> Result<Self, Error> {
        if usize::from(ch.hlen) != IC_HLEN {
            return Err(Error::InvalidHeaderField(OFF_HLEN));
        }
        if ch.plen != IC_HLEN as u32 {
            return Err(Error::InvalidHeaderField(OFF_PLEN));
        }
        Ok(Self {
            pdu_type: PduType::IcReq,
            hlen: ch.hlen,
            hdgst: false,
            data_len: 0,
            ddgst: false,
        })
    }

    /// An H2CTermReq: no digests; its data is the echoed header, at most 128 bytes.
    ///
    /// A malformed termination request is answered by closing the connection, never by another
    /// termination request.
    fn term_req(ch: &CommonHeader) -> Result<Self, Error> {
        let data_len = ch.plen.wrapping_sub(TERM_HLEN as u32);
        if usize::from(ch.hlen) != TERM_HLEN
            || ch.plen < TERM_HLEN as u32
            || data_len > MAX_TERM_ECHO as u32
        {
            return Err(Error::BadTermReq);
        }
        Ok(Self {
            pdu_type: PduType::H2cTermReq,
            hlen: ch.hlen,
            hdgst: false,
            data_len,
            ddgst: false,
        })
    }

    /// A CapsuleCmd or H2CData on a live connection.
    fn with_data(ty: PduType, ch: &CommonHeader, neg: Negotiated) -> Result<Self, Error> {
        // At most 72 + 4 bytes.
        let hdr_len = ty.hlen() as u32 + neg.hdgst_len();
        let has_data = ch.plen > hdr_len;
        let ddgst = neg.ddgst && has_data;

        let mut flags = 0;
        if neg.hdgst {
            flags |= FLAG_HDGST;
        }
        if ddgst {
            flags |= FLAG_DDGST;
        }
        if ch.flags & (FLAG_HDGST | FLAG_DDGST) != flags {
            return Err(Error::InvalidHeaderField(OFF_FLAGS));
        }
        if usize::from(ch.hlen) != ty.hlen() {
            return Err(Error::InvalidHeaderField(OFF_HLEN));
        }
        let pdo = u32::from(ch.pdo);
        if pdo != hdr_len && (has_data || pdo != 0) {
            return Err(Error::InvalidHeaderField(OFF_PDO));
        }
        let data_len = ch
            .plen
            .checked_sub(hdr_len)
            .and_then(|n| n.checked_sub(if ddgst { neg.ddgst_len() } else { 0 }))
            .filter(|&n| n > 0 || !has_data)
            .ok_or(Error::InvalidHeaderField(OFF_PLEN))?;
        if data_len > MAXH2CDATA {
            return Err(match ty {
                PduType::H2cData => Error::DataLimitExceeded,
                _ => Error::InvalidHeaderField(OFF_PLEN),
            });
        }
        Ok(Self {
            pdu_type: ty,
            hlen: ch.hlen,
            hdgst: neg.hdgst,
            data_len,
            ddgst,
        })
    }

    /// Bytes from the start of the PDU to the end of the header digest.
    pub fn header_len(&self) -> usize {
        usize::from(self.hlen) + if self.hdgst { digest::DIGEST_LEN } else { 0 }
    }

    /// Header bytes still to read once the common header is in: the rest of the header and the
    /// header digest.
    pub fn header_rest(&self) -> usize {
        self.header_len().saturating_sub(COMMON_HLEN)
    }

    /// Length of the data digest after the data: 4 or 0.
    pub fn ddgst_len(&self) -> usize {
        if self.ddgst {
            digest::DIGEST_LEN
        } else {
            0
        }
    }
}

/// A received header of a PDU type a host may send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostPdu {
    /// Initialize Connection Request.
    IcReq(IcReq),
    /// Host to Controller Terminate Connection Request; the echoed header follows as data.
    TermReq(TermReq),
    /// Command capsule; in-capsule data follows if [`Layout::data_len`] is not 0.
    Cmd(CapsuleCmd),
    /// H2CData; its data follows.
    Data(DataPdu),
}

impl HostPdu {
    /// Decodes the complete header in `hdr` (at least [`Layout::header_len`] bytes) of a PDU
    /// whose common header gave `layout`.
    ///
    /// Verifies the header digest first, as the C target does, then parses the typed header. For
    /// H2CData the DATAL field must match the data length that PLEN implies.
    pub fn decode<C: Crc32c>(hdr: &[u8], layout: &Layout) -> Result<Self, Error> {
        if layout.hdgst {
            digest::verify_header_digest::<C>(hdr, usize::from(layout.hlen))?;
        }
        Ok(match layout.pdu_type {
            PduType::IcReq => Self::IcReq(IcReq::parse(hdr)?),
            PduType::H2cTermReq => Self::TermReq(TermReq::parse(hdr)?),
            PduType::CapsuleCmd => Self::Cmd(CapsuleCmd::parse(hdr)?),
            PduType::H2cData => {
                let data = DataPdu::parse(hdr)?;
                if data.ch.pdu_type != PduType::H2cData as u8 {
                    return Err(Error::InvalidHeaderField(OFF_TYPE));
                }
                if data.data_length != layout.data_len {
                    return Err(Error::InvalidHeaderField(OFF_DATAL));
                }
                Self::Data(data)
            }
            _ => return Err(Error::InvalidHeaderField(OFF_TYPE)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::digest::SoftCrc32c;

    const NONE: Negotiated = Negotiated {
        hdgst: false,
        ddgst: false,
    };
    const BOTH: Negotiated = Negotiated {
        hdgst: true,
        ddgst: true,
    };

    fn ch(ty: PduType, flags: u8, pdo: u8, plen: u32) -> CommonHeader {
        CommonHeader::new(ty, flags, pdo, plen)
    }

    #[test]
    fn type_codes_and_lengths_match_the_c_header() {
        let expect = [
            (0x0, 128),
            (0x1, 128),
            (0x2, 24),
            (0x3, 24),
            (0x4, 72),
            (0x5, 24),
            (0x6, 24),
            (0x7, 24),
            (0x9, 24),
        ];
        for (code, hlen) in expect {
            let ty = PduType::from_u8(code).unwrap();
            assert_eq!(ty as u8, code);
            assert_eq!(ty.hlen(), hlen);
        }
        assert_eq!(PduType::from_u8(0x8), None);
        assert_eq!(PduType::from_u8(0xa), None);
    }

    #[test]
    fn common_header_wire_form() {
        let h = ch(PduType::CapsuleCmd, 3, 76, 0x0102_0304);
        assert_eq!(h.to_bytes(), [4, 3, 72, 76, 4, 3, 2, 1]);
        assert_eq!(CommonHeader::parse(&h.to_bytes()), Ok(h));
        assert_eq!(CommonHeader::parse(&[0; 7]), Err(Error::BufferSize));
    }

    #[test]
    fn only_host_types_are_accepted() {
        let live = ConnState::Live(NONE);
        for ty in [
            PduType::IcResp,
            PduType::C2hTermReq,
            PduType::CapsuleResp,
            PduType::C2hData,
            PduType::R2t,
        ] {
            let h = ch(ty, 0, 0, ty.hlen() as u32);
            assert_eq!(
                Layout::validate(&h, live),
                Err(Error::InvalidHeaderField(OFF_TYPE))
            );
        }
        let mut h = ch(PduType::R2t, 0, 0, 24);
        h.pdu_type = 0x8;
        assert_eq!(
            Layout::validate(&h, live),
            Err(Error::InvalidHeaderField(OFF_TYPE))
        );
    }

    #[test]
    fn icreq_only_first_and_only_once() {
        let ic = ch(PduType::IcReq, 0, 0, 128);
        let cmd = ch(PduType::CapsuleCmd, 0, 0, 72);
        let live = ConnState::Live(NONE);
        assert!(Layout::validate(&ic, ConnState::AwaitIcReq).is_ok());
        assert_eq!(Layout::validate(&ic, live), Err(Error::PduSequence));
        assert_eq!(
            Layout::validate(&cmd, ConnState::AwaitIcReq),
            Err(Error::PduSequence)
        );
        let mut bad = ic;
        bad.plen = 129;
        assert_eq!(
            Layout::validate(&bad, ConnState::AwaitIcReq),
            Err(Error::InvalidHeaderField(OFF_PLEN))
        );
        bad.hlen = 127;
        assert_eq!(
            Layout::validate(&bad, ConnState::AwaitIcReq),
            Err(Error::InvalidHeaderField(OFF_HLEN))
        );
    }

    #[test]
    fn term_req_bounds() {
        let ok =
            |plen| Layout::validate(&ch(PduType::H2cTermReq, 0, 0, plen), ConnState::AwaitIcReq);
        assert_eq!(ok(24).unwrap().data_len, 0);
        assert_eq!(ok(152).unwrap().data_len, 128);
        assert_eq!(ok(153), Err(Error::BadTermReq));
        assert_eq!(ok(23), Err(Error::BadTermReq));
        let mut h = ch(PduType::H2cTermReq, 0, 0, 24);
        h.hlen = 25;
        assert_eq!(
            Layout::validate(&h, ConnState::Live(BOTH)),
            Err(Error::BadTermReq)
        );
    }

    #[test]
    fn capsule_layouts() {
        let live = ConnState::Live(BOTH);
        // No data: flags HDGST only, PDO 0 or 76.
        let l = Layout::validate(&ch(PduType::CapsuleCmd, FLAG_HDGST, 0, 76), live).unwrap();
        assert_eq!(
            (l.header_len(), l.header_rest(), l.data_len, l.ddgst_len()),
            (76, 68, 0, 0)
        );
        assert!(Layout::validate(&ch(PduType::CapsuleCmd, FLAG_HDGST, 76, 76), live).is_ok());
        // 512 bytes of data with both digests.
        let l = Layout::validate(&ch(PduType::CapsuleCmd, 3, 76, 76 + 512 + 4), live).unwrap();
        assert_eq!((l.data_len, l.ddgst_len()), (512, 4));
        // Without digests.
        let l = Layout::validate(
            &ch(PduType::CapsuleCmd, 0, 72, 72 + 9),
            ConnState::Live(NONE),
        )
        .unwrap();
        assert_eq!((l.header_len(), l.data_len, l.ddgst), (72, 9, false));
    }

    #[test]
    fn digest_flags_must_match_negotiation() {
        let flags = |n, f, pdo, plen| {
            Layout::validate(&ch(PduType::CapsuleCmd, f, pdo, plen), ConnState::Live(n))
        };
        let e = Err(Error::InvalidHeaderField(OFF_FLAGS));
        assert_eq!(flags(BOTH, FLAG_DDGST, 76, 86), e);
        assert_eq!(flags(BOTH, FLAG_HDGST, 76, 86), e);
        assert_eq!(flags(BOTH, 3, 0, 76), e);
        assert_eq!(flags(NONE, FLAG_HDGST, 0, 72), e);
        assert_eq!(flags(NONE, FLAG_DDGST, 72, 80), e);
        // Other flag bits are ignored, as by the C target.
        assert!(flags(NONE, 0xf0, 0, 72).is_ok());
    }

    #[test]
    fn pdo_and_plen_rules() {
        let v = |f, pdo, plen| {
            Layout::validate(&ch(PduType::H2cData, f, pdo, plen), ConnState::Live(BOTH))
        };
        assert_eq!(v(3, 29, 33), Err(Error::InvalidHeaderField(OFF_PDO)));
        assert_eq!(v(3, 0, 33), Err(Error::InvalidHeaderField(OFF_PDO)));
        assert_eq!(v(1, 28, 27), Err(Error::InvalidHeaderField(OFF_PLEN)));
        // One byte after the header: too short for data plus data digest.
        assert_eq!(v(3, 28, 32), Err(Error::InvalidHeaderField(OFF_PLEN)));
        assert_eq!(v(3, 28, 33).unwrap().data_len, 1);
        let max = 28 + MAXH2CDATA + 4;
        assert_eq!(v(3, 28, max).unwrap().data_len, MAXH2CDATA);
        assert_eq!(v(3, 28, max + 1), Err(Error::DataLimitExceeded));
        assert_eq!(v(3, 28, u32::MAX), Err(Error::DataLimitExceeded));
        let cmd = ch(PduType::CapsuleCmd, 3, 76, 76 + MAXH2CDATA + 5);
        assert_eq!(
            Layout::validate(&cmd, ConnState::Live(BOTH)),
            Err(Error::InvalidHeaderField(OFF_PLEN))
        );
    }

    #[test]
    fn lowest_invalid_field_is_reported() {
        let mut h = ch(PduType::CapsuleCmd, FLAG_HDGST, 5, 3);
        h.hlen = 0;
        assert_eq!(
            Layout::validate(&h, ConnState::Live(NONE)),
            Err(Error::InvalidHeaderField(OFF_FLAGS))
        );
        h.flags = 0;
        assert_eq!(
            Layout::validate(&h, ConnState::Live(NONE)),
            Err(Error::InvalidHeaderField(OFF_HLEN))
        );
        h.hlen = 72;
        assert_eq!(
            Layout::validate(&h, ConnState::Live(NONE)),
            Err(Error::InvalidHeaderField(OFF_PDO))
        );
        h.pdo = 0;
        assert_eq!(
            Layout::validate(&h, ConnState::Live(NONE)),
            Err(Error::InvalidHeaderField(OFF_PLEN))
        );
    }

    #[test]
    fn decode_checks_digest_and_datal() {
        let mut buf = [0u8; 28];
        let pdu = DataPdu {
            ch: ch(PduType::H2cData, 3, 28, 28 + 100 + 4),
            command_id: 7,
            ttag: 3,
            data_offset: 0,
            data_length: 100,
        };
        assert_eq!(pdu.encode_with_digest::<SoftCrc32c>(&mut buf), Ok(28));
        let layout = Layout::validate(&pdu.ch, ConnState::Live(BOTH)).unwrap();
        assert_eq!(
            HostPdu::decode::<SoftCrc32c>(&buf, &layout),
            Ok(HostPdu::Data(pdu))
        );
        buf[12] ^= 1;
        assert_eq!(
            HostPdu::decode::<SoftCrc32c>(&buf, &layout),
            Err(Error::HeaderDigest)
        );
        let bad = DataPdu {
            data_length: 99,
            ..pdu
        };
        bad.encode_with_digest::<SoftCrc32c>(&mut buf).unwrap();
        assert_eq!(
            HostPdu::decode::<SoftCrc32c>(&buf, &layout),
            Err(Error::InvalidHeaderField(OFF_DATAL))
        );
        assert_eq!(
            HostPdu::decode::<SoftCrc32c>(&buf[..27], &layout),
            Err(Error::BufferSize)
        );
    }

    #[test]
    fn target_headers_match_the_c_target() {
        let r2t = R2t::new(5, 2, 4096, 8192, BOTH);
        assert_eq!(r2t.ch, ch(PduType::R2t, FLAG_HDGST, 0, 28));
        let rsp = CapsuleResp::new([0; 16], NONE);
        assert_eq!(rsp.ch, ch(PduType::CapsuleResp, 0, 0, 24));
        let c2h = DataPdu::c2h(9, 0, 4096, true, true, BOTH).unwrap();
        assert_eq!(c2h.ch, ch(PduType::C2hData, 0xf, 28, 28 + 4096 + 4));
        let c2h = DataPdu::c2h(9, 0, 512, true, false, NONE).unwrap();
        assert_eq!(c2h.ch, ch(PduType::C2hData, FLAG_DATA_LAST, 24, 24 + 512));
        assert_eq!(
            DataPdu::c2h(9, 0, MAXH2CDATA + 1, true, false, NONE),
            Err(Error::DataLimitExceeded)
        );
        assert!(DataPdu::c2h(9, 0, 1, false, true, NONE).is_err());
    }

    #[test]
    fn c2h_term_req_echoes_at_most_128_bytes() {
        let bad = [0xabu8; 200];
        let mut out = [0u8; MAX_TERM_PLEN];
        let n = encode_c2h_term_req(Fes::InvalidHeaderField, 3, &bad, &mut out).unwrap();
        assert_eq!(n, 152);
        let t = TermReq::parse(&out).unwrap();
        assert_eq!((t.ch.pdu_type, t.ch.plen, t.fes, t.fei), (3, 152, 1, 3));
        assert_eq!(&out[24..152], &bad[..128]);
        let n = encode_c2h_term_req(Fes::PduSequence, 0, &bad[..8], &mut out).unwrap();
        let t = TermReq::parse(&out).unwrap();
        assert_eq!((n, t.ch.plen, t.fes, t.fei), (32, 32, 2, 0));
        assert_eq!(&out[24..32], &bad[..8]);
        assert_eq!(
            encode_c2h_term_req(Fes::PduSequence, 0, &bad, &mut out[..151]),
            Err(Error::BufferSize)
        );
    }
}
