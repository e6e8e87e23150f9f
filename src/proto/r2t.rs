// SPDX-License-Identifier: GPL-2.0

//! Per-command data accounting: the SGL descriptor, in-capsule data, R2T and H2CData.
//!
//! [`plan_data`] decides from the SQE where a command's data comes from or goes to, with the
//! checks of the C target's `nvmet_tcp_map_data()`. Its errors are NVMe status codes: they fail
//! the command, not the connection. For a write whose data is not in the capsule, an
//! [`H2cTransfer`] builds the single R2T for the remaining data and checks every H2CData PDU
//! against it, so data only ever lands inside the command's buffer and in order.

use super::{
    icreq::Negotiated,
    pdu::{
        DataPdu,
        R2t,
        FLAG_DATA_LAST,
        MAXH2CDATA,
        OFF_CCCID,
        OFF_DATAL,
        OFF_TTAG,
        SQE_LEN, //
    },
    Error,
};

/// Generic status: Invalid Field in Command.
pub const NVME_SC_INVALID_FIELD: u16 = 0x2;
/// Generic status: Internal Error.
pub const NVME_SC_INTERNAL: u16 = 0x6;
/// Generic status: Command Sequence Error; the C target's status for a data digest error.
pub const NVME_SC_CMD_SEQ_ERROR: u16 = 0xc;
/// Generic status: Data SGL Length Invalid.
pub const NVME_SC_SGL_INVALID_DATA: u16 = 0xf;
/// Generic status: SGL Descriptor Type Invalid.
pub const NVME_SC_SGL_INVALID_TYPE: u16 = 0x11;
/// Generic status: SGL Offset Invalid.
pub const NVME_SC_SGL_INVALID_OFFSET: u16 = 0x16;
/// Generic status: Transient Transport Error, for a data digest error that fails one command.
pub const NVME_SC_TRANSIENT_TR_ERR: u16 = 0x22;
/// Status flag: Do Not Retry.
pub const NVME_STATUS_DNR: u16 = 0x4000;

/// SGL descriptor type: data block.
pub const NVME_SGL_FMT_DATA_DESC: u8 = 0x0;
/// SGL descriptor type: transport SGL data block.
pub const NVME_TRANSPORT_SGL_DATA_DESC: u8 = 0x5;
/// SGL descriptor subtype: offset, for in-capsule data.
pub const NVME_SGL_FMT_OFFSET: u8 = 0x1;
/// SGL descriptor subtype: transport specific, used by NVMe/TCP hosts.
pub const NVME_SGL_FMT_TRANSPORT_A: u8 = 0xa;
/// The SGL type byte of in-capsule data: a data block with an offset.
pub const SGL_TYPE_INCAPSULE: u8 = (NVME_SGL_FMT_DATA_DESC << 4) | NVME_SGL_FMT_OFFSET;
/// The SGL type byte hosts use for data moved by R2T/H2CData or C2HData.
pub const SGL_TYPE_TRANSPORT: u8 = (NVME_TRANSPORT_SGL_DATA_DESC << 4) | NVME_SGL_FMT_TRANSPORT_A;

/// Opcode of fabrics commands (`nvme_fabrics_command`).
pub const NVME_FABRICS_COMMAND: u8 = 0x7f;

/// The transfer tag of R2Ts for the Connect command, sent before the queue has commands.
pub const CONNECT_TTAG: u16 = 0xffff;

/// The command identifier of an SQE.
pub fn command_id(sqe: &[u8; SQE_LEN]) -> u16 {
    u16::from_le_bytes([sqe[2], sqe[3]])
}

/// Whether the SQE transfers data from the host (`nvme_is_write()`).
pub fn is_write(sqe: &[u8; SQE_LEN]) -> bool {
    if sqe[0] == NVME_FABRICS_COMMAND {
        // The fabrics command type.
        sqe[4] & 1 != 0
    } else {
        sqe[0] & 1 != 0
    }
}

/// The SGL descriptor in the data pointer of an SQE (`struct nvme_sgl_desc`, bytes 24 to 39).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SglDesc {
    /// Address, or for in-capsule data the offset into the capsule data.
    pub addr: u64,
    /// Length of the data.
    pub length: u32,
    /// Descriptor type in the upper nibble, subtype in the lower.
    pub sgl_type: u8,
}

impl SglDesc {
    /// Reads the descriptor from an SQE.
    pub fn from_sqe(sqe: &[u8; SQE_LEN]) -> Self {
        let mut addr = [0u8; 8];
        addr.copy_from_slice(&sqe[24..32]);
        Self {
            addr: u64::from_le_bytes(addr),
            length: u32::from_le_bytes([sqe[32], sqe[33], sqe[34], sqe[35]]),
            sgl_type: sqe[39],
        }
    }
}

/// Where a command's data comes from or goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataPlan {
    /// The command transfers no data.
    None,
    /// Write data of this length is in the capsule.
    InCapsule(u32),
    /// Write data of this length follows as H2CData after an R2T.
    FromHost(u32),
    /// Read data of this length goes to the host as C2HData.
    ToHost(u32),
}

impl DataPlan {
    /// The transfer length of the command.
    pub const fn len(self) -> u32 {
        match self {
            Self::None => 0,
            Self::InCapsule(n) | Self::FromHost(n) | Self::ToHost(n) => n,
        }
    }

    /// Whether the command transfers no data.
    pub const fn is_empty(self) -> bool {
        self.len() == 0
    }
}

/// Decides the data plan of a command whose capsule carried `incapsule_len` bytes of data.
///
/// This makes the checks of the C target's `nvmet_tcp_map_data()`: every SGL length is bounded
/// by [`MAXH2CDATA`]; in-capsule data is only for writes and at most `inline_data_size` bytes.
/// Beyond the C target, the in-capsule data must be exactly what the SGL describes, and the
/// descriptor must be one of the two types NVMe/TCP uses. The PDU framing comes from PLEN, so the
/// receive path skips in-capsule data of a failed command and stays in step with the host.
///
/// On error, returns the NVMe status to complete the command with.
pub fn plan_data(
    sqe: &[u8; SQE_LEN],
    incapsule_len: u32,
    inline_data_size: u32,
) -> Result<DataPlan, u16> {
    let sgl = SglDesc::from_sqe(sqe);
    let len = sgl.length;
    if len == 0 {
        return if incapsule_len == 0 {
            Ok(DataPlan::None)
        } else {
            Err(NVME_SC_SGL_INVALID_DATA | NVME_STATUS_DNR)
        };
    }
    if len > MAXH2CDATA {
        return Err(NVME_SC_SGL_INVALID_DATA | NVME_STATUS_DNR);
    }
    let write = is_write(sqe);
    if sgl.sgl_type == SGL_TYPE_INCAPSULE {
        if !write {
            return Err(NVME_SC_INVALID_FIELD | NVME_STATUS_DNR);
        }
        if len > inline_data_size {
            return Err(NVME_SC_SGL_INVALID_OFFSET | NVME_STATUS_DNR);
        }
        if len != incapsule_len {
            return Err(NVME_SC_SGL_INVALID_DATA | NVME_STATUS_DNR);
        }
        return Ok(DataPlan::InCapsule(len));
    }
    if sgl.sgl_type >> 4 != NVME_TRANSPORT_SGL_DATA_DESC {
        return Err(NVME_SC_SGL_INVALID_TYPE | NVME_STATUS_DNR);
    }
    if incapsule_len != 0 {
        return Err(NVME_SC_SGL_INVALID_DATA | NVME_STATUS_DNR);
    }
    Ok(if write {
        DataPlan::FromHost(len)
    } else {
        DataPlan::ToHost(len)
    })
}

/// The command an H2CData transfer tag refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TtagTarget {
    /// The Connect command of a queue that has no command slots yet.
    Connect,
    /// The command in this slot; the target uses slot indices as transfer tags.
    Slot(u16),
}

/// Looks up the transfer tag of an H2CData on a queue with `nr_cmds` command slots.
pub fn lookup_ttag(ttag: u16, nr_cmds: u16) -> Result<TtagTarget, Error> {
    match (nr_cmds, ttag) {
        (0, CONNECT_TTAG) => Ok(TtagTarget::Connect),
        (n, t) if t < n => Ok(TtagTarget::Slot(t)),
        _ => Err(Error::InvalidHeaderField(OFF_TTAG)),
    }
}

/// Where an accepted H2CData PDU's data goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// Offset within the command's data.
    pub offset: u32,
    /// Length of the PDU's data.
    pub len: u32,
    /// Whether this PDU completes the command's data.
    pub complete: bool,
}

/// Progress of a write command's data from the host (`rbytes_done` in the C target).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct H2cTransfer {
    /// Command identifier the host must echo in H2CData.
    command_id: u16,
    /// Total data length of the command.
    transfer_len: u32,
    /// Data received so far; it always arrives in order.
    received: u32,
    /// Whether an R2T was sent, so that H2CData is solicited.
    r2t_sent: bool,
}

impl H2cTransfer {
    /// A write of `transfer_len` bytes, none received yet.
    pub const fn new(command_id: u16, transfer_len: u32) -> Self {
        Self {
            command_id,
            transfer_len,
            received: 0,
            r2t_sent: false,
        }
    }

    /// A write whose `len` bytes arrive with the command capsule. No H2CData is accepted.
    pub const fn in_capsule(command_id: u16, len: u32) -> Self {
        Self {
            command_id,
            transfer_len: len,
            received: len,
            r2t_sent: false,
        }
    }

    /// Total data length of the command.
    pub const fn transfer_len(&self) -> u32 {
        self.transfer_len
    }

    /// Data accepted so far.
    pub const fn received(&self) -> u32 {
        self.received
    }

    /// Whether all data has been accepted. The command may execute once the last PDU's data
    /// (and data digest) has been received.
    pub const fn is_complete(&self) -> bool {
        self.received == self.transfer_len
    }

    /// The R2T for all remaining data, as the C target sends: one per command.
    ///
    /// `ttag` is the command's slot, or [`CONNECT_TTAG`]. Returns `None` when nothing remains.
    pub fn r2t(&mut self, ttag: u16, neg: Negotiated) -> Option<R2t> {
        let remaining = self.transfer_len.checked_sub(self.received)?;
        if remaining == 0 {
            return None;
        }
        self.r2t_sent = true;
        Some(R2t::new(
            self.command_id,
            ttag,
            self.received,
            remaining,
            neg,
        ))
    }

    /// Checks an H2CData header for this command and accounts for its data.
    ///
    /// The data must have been solicited by an R2T, be non-empty and no longer than
    /// [`MAXH2CDATA`], start exactly where the previous PDU ended and stay within the transfer.
    /// DATA_LAST must not be set before the end. A missing DATA_LAST on the final PDU is
    /// tolerated, as the C target does.
    ///
    /// The PDU's DATAL must already have been checked against its PLEN, which
    /// [`super::pdu::HostPdu::decode`] does.
    pub fn accept(&mut self, pdu: &DataPdu) -> Result<Accepted, Error> {
        if !self.r2t_sent {
            return Err(Error::InvalidHeaderField(OFF_TTAG));
        }
        if pdu.command_id != self.command_id {
            return Err(Error::InvalidHeaderField(OFF_CCCID));
        }
        let len = pdu.data_length;
        if len == 0 {
            return Err(Error::InvalidHeaderField(OFF_DATAL));
        }
        if len > MAXH2CDATA {
            return Err(Error::DataLimitExceeded);
        }
        let end = pdu
            .data_offset
            .checked_add(len)
            .filter(|&end| end <= self.transfer_len)
            .ok_or(Error::DataOutOfRange)?;
        if pdu.data_offset != self.received {
            return Err(Error::PduSequence);
        }
        let complete = end == self.transfer_len;
        if pdu.ch.flags & FLAG_DATA_LAST != 0 && !complete {
            return Err(Error::PduSequence);
        }
        self.received = end;
        Ok(Accepted {
            offset: pdu.data_offset,
            len,
            complete,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::pdu::{
        CommonHeader,
        PduType, //
    };

    const NONE: Negotiated = Negotiated {
        hdgst: false,
        ddgst: false,
    };

    fn sqe(opcode: u8, len: u32, sgl_type: u8) -> [u8; SQE_LEN] {
        let mut s = [0u8; SQE_LEN];
        s[0] = opcode;
        s[2..4].copy_from_slice(&0x1234u16.to_le_bytes());
        s[24..32].copy_from_slice(&0x1122_3344_5566_7788u64.to_le_bytes());
        s[32..36].copy_from_slice(&len.to_le_bytes());
        s[39] = sgl_type;
        s
    }

    fn h2c(offset: u32, len: u32, flags: u8) -> DataPdu {
        DataPdu {
            ch: CommonHeader::new(PduType::H2cData, flags, 24, 24 + len),
            command_id: 0x1234,
            ttag: 3,
            data_offset: offset,
            data_length: len,
        }
    }

    #[test]
    fn sqe_fields() {
        let s = sqe(0x01, 4096, SGL_TYPE_TRANSPORT);
        assert_eq!(command_id(&s), 0x1234);
        assert_eq!(
            SglDesc::from_sqe(&s),
            SglDesc {
                addr: 0x1122_3344_5566_7788,
                length: 4096,
                sgl_type: 0x5a,
            }
        );
        assert!(is_write(&s));
        assert!(!is_write(&sqe(0x02, 0, 0)));
        let mut connect = sqe(NVME_FABRICS_COMMAND, 1024, SGL_TYPE_INCAPSULE);
        assert!(!is_write(&connect));
        connect[4] = 0x01;
        assert!(is_write(&connect));
    }

    #[test]
    fn plans_match_map_data() {
        let dnr = |sc| Err(sc | NVME_STATUS_DNR);
        let w = 0x01;
        let r = 0x02;
        assert_eq!(plan_data(&sqe(r, 0, 0), 0, 0), Ok(DataPlan::None));
        assert_eq!(
            plan_data(&sqe(w, 8192, 0x5a), 0, 4096),
            Ok(DataPlan::FromHost(8192))
        );
        assert_eq!(
            plan_data(&sqe(r, 8192, 0x50), 0, 4096),
            Ok(DataPlan::ToHost(8192))
        );
        assert_eq!(
            plan_data(&sqe(w, 4096, 0x01), 4096, 4096),
            Ok(DataPlan::InCapsule(4096))
        );
        assert_eq!(
            plan_data(&sqe(r, 512, 0x01), 512, 4096),
            dnr(NVME_SC_INVALID_FIELD)
        );
        assert_eq!(
            plan_data(&sqe(w, 4097, 0x01), 4097, 4096),
            dnr(NVME_SC_SGL_INVALID_OFFSET)
        );
        assert_eq!(
            plan_data(&sqe(w, MAXH2CDATA + 1, 0x5a), 0, 0),
            dnr(NVME_SC_SGL_INVALID_DATA)
        );
        assert_eq!(
            plan_data(&sqe(w, MAXH2CDATA, 0x5a), 0, 0),
            Ok(DataPlan::FromHost(MAXH2CDATA))
        );
        // In-capsule data that the SGL does not describe.
        assert_eq!(
            plan_data(&sqe(w, 512, 0x01), 511, 4096),
            dnr(NVME_SC_SGL_INVALID_DATA)
        );
        assert_eq!(
            plan_data(&sqe(w, 512, 0x5a), 512, 4096),
            dnr(NVME_SC_SGL_INVALID_DATA)
        );
        assert_eq!(
            plan_data(&sqe(w, 0, 0x01), 16, 4096),
            dnr(NVME_SC_SGL_INVALID_DATA)
        );
        // Keyed and segment descriptors mean nothing on TCP.
        assert_eq!(
            plan_data(&sqe(w, 512, 0x40), 0, 4096),
            dnr(NVME_SC_SGL_INVALID_TYPE)
        );
        assert_eq!(
            plan_data(&sqe(w, 512, 0x02), 0, 4096),
            dnr(NVME_SC_SGL_INVALID_TYPE)
        );
        assert_eq!(DataPlan::InCapsule(7).len(), 7);
        assert!(DataPlan::None.is_empty());
    }

    #[test]
    fn ttag_lookup() {
        assert_eq!(lookup_ttag(0xffff, 0), Ok(TtagTarget::Connect));
        assert_eq!(lookup_ttag(0, 0), Err(Error::InvalidHeaderField(10)));
        assert_eq!(lookup_ttag(127, 128), Ok(TtagTarget::Slot(127)));
        assert_eq!(lookup_ttag(128, 128), Err(Error::InvalidHeaderField(10)));
        assert_eq!(lookup_ttag(0xffff, 128), Err(Error::InvalidHeaderField(10)));
    }

    #[test]
    fn r2t_covers_the_remaining_data() {
        let mut t = H2cTransfer::new(0x1234, 10000);
        let r = t.r2t(5, NONE).unwrap();
        assert_eq!(
            (r.command_id, r.ttag, r.r2t_offset, r.r2t_length),
            (0x1234, 5, 0, 10000)
        );
        t.accept(&h2c(0, 4000, 0)).unwrap();
        let r = t.r2t(5, NONE).unwrap();
        assert_eq!((r.r2t_offset, r.r2t_length), (4000, 6000));
        t.accept(&h2c(4000, 6000, FLAG_DATA_LAST)).unwrap();
        assert_eq!(t.r2t(5, NONE), None);
        assert_eq!(H2cTransfer::in_capsule(1, 512).r2t(1, NONE), None);
    }

    #[test]
    fn data_arrives_in_order_and_in_range() {
        let mut t = H2cTransfer::new(0x1234, 8192);
        // Unsolicited: no R2T yet (the CVE-2026-22998 case).
        assert_eq!(
            t.accept(&h2c(0, 4096, 0)),
            Err(Error::InvalidHeaderField(10))
        );
        t.r2t(0, NONE).unwrap();
        assert_eq!(t.accept(&h2c(0, 0, 0)), Err(Error::InvalidHeaderField(16)));
        assert_eq!(t.accept(&h2c(4096, 4096, 0)), Err(Error::PduSequence));
        assert_eq!(t.accept(&h2c(0, 8193, 0)), Err(Error::DataOutOfRange));
        assert_eq!(t.accept(&h2c(u32::MAX, 2, 0)), Err(Error::DataOutOfRange));
        assert_eq!(
            t.accept(&h2c(0, 4096, FLAG_DATA_LAST)),
            Err(Error::PduSequence)
        );
        let mut other = h2c(0, 4096, 0);
        other.command_id = 1;
        assert_eq!(t.accept(&other), Err(Error::InvalidHeaderField(8)));
        assert_eq!(
            t.accept(&h2c(0, 4096, 0)),
            Ok(Accepted {
                offset: 0,
                len: 4096,
                complete: false,
            })
        );
        assert_eq!(t.accept(&h2c(0, 4096, 0)), Err(Error::PduSequence));
        assert!(!t.is_complete());
        // The last PDU may omit DATA_LAST.
        assert!(t.accept(&h2c(4096, 4096, 0)).unwrap().complete);
        assert!(t.is_complete());
        assert_eq!(t.received(), 8192);
        assert_eq!(t.accept(&h2c(8192, 1, 0)), Err(Error::DataOutOfRange));
        // No data beyond MAXH2CDATA in one PDU, even for a larger transfer.
        let mut big = H2cTransfer::new(0x1234, u32::MAX);
        big.r2t(0, NONE).unwrap();
        assert_eq!(
            big.accept(&h2c(0, MAXH2CDATA + 1, 0)),
            Err(Error::DataLimitExceeded)
        );
    }
}
