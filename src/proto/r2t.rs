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
    // Only the Transport SGL Data Block with the Transport Specific subtype names data on
    // TCP; the C target takes any other type or subtype (reserved ones too) as this one.
    if sgl.sgl_type != SGL_TYPE_TRANSPORT {
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

/// I/O command opcode: Dataset Management.
pub const NVME_CMD_DSM: u8 = 0x09;

/// Admin command opcode: Asynchronous Event Request.
pub const NVME_ADMIN_ASYNC_EVENT: u8 = 0x0c;

/// Whether the command on queue `qid` is one the controller holds until an event happens or
/// the queue is destroyed, an Asynchronous Event Request: a draining connection (see
/// [`crate::proto::tx`]) does not wait for it.
pub fn held_until_event(sqe: &[u8; SQE_LEN], qid: u16) -> bool {
    qid == 0 && sqe[0] == NVME_ADMIN_ASYNC_EVENT
}

/// Checks the data plan of a command on queue `qid` against the transfer length the command
/// itself implies (`expected`, from its fields, such as the number of blocks of a Read or
/// Write), before any buffer is allocated: an SGL longer than that is refused with the status
/// the core would give it later. An `expected` length of 0 means the core knows none; and the
/// core takes a Dataset Management range list longer than the ranges (`_lte`), so that one is
/// left to it.
pub fn check_transfer_len(
    sqe: &[u8; SQE_LEN],
    qid: u16,
    plan: DataPlan,
    expected: u32,
) -> Result<(), u16> {
    let lenient = qid != 0 && sqe[0] == NVME_CMD_DSM;
    if expected != 0 && !lenient && plan.len() > expected {
        return Err(NVME_SC_SGL_INVALID_DATA | NVME_STATUS_DNR);
    }
    Ok(())
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

/// Whether the host was asked for a command's data, and whether that request is on the wire.
///
/// The order cannot be skipped: an R2T is built ([`H2cTransfer::r2t`]) only before it is
/// sent, and H2CData is accepted only once its last byte went out ([`H2cTransfer::r2t_sent`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Solicit {
    /// The data came with the command capsule: no H2CData is ever accepted.
    #[default]
    InCapsule,
    /// No R2T was built yet.
    NotSent,
    /// The R2T was built and is being sent: not all of it is on the wire yet.
    Sending,
    /// The whole R2T was sent: H2CData may arrive.
    Sent,
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
    /// Where the solicitation of the data stands.
    solicit: Solicit,
}

impl H2cTransfer {
    /// A write of `transfer_len` bytes that come after an R2T, none received yet.
    pub const fn new(command_id: u16, transfer_len: u32) -> Self {
        Self {
            command_id,
            transfer_len,
            received: 0,
            solicit: Solicit::NotSent,
        }
    }

    /// A write whose `len` bytes arrive with the command capsule. No H2CData is accepted.
    pub const fn in_capsule(command_id: u16, len: u32) -> Self {
        Self {
            command_id,
            transfer_len: len,
            received: len,
            solicit: Solicit::InCapsule,
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

    /// Builds the R2T for all the data, as the C target does: one per command.
    ///
    /// `ttag` is the command's slot, or [`CONNECT_TTAG`]. Returns `None` unless this is a write
    /// by R2T whose R2T was not built yet. The R2T does not count as sent until
    /// [`H2cTransfer::r2t_sent`]: H2CData before that is a PDU sequence error.
    pub fn r2t(&mut self, ttag: u16, neg: Negotiated) -> Option<R2t> {
        if self.solicit != Solicit::NotSent || self.is_complete() {
            return None;
        }
        self.solicit = Solicit::Sending;
        Some(R2t::new(
            self.command_id,
            ttag,
            self.received,
            self.transfer_len - self.received,
            neg,
        ))
    }

    /// The last byte of the R2T went out: the host may now send the data. Returns `false`
    /// (and changes nothing) if no R2T was being sent.
    pub fn r2t_sent(&mut self) -> bool {
        if self.solicit != Solicit::Sending {
            return false;
        }
        self.solicit = Solicit::Sent;
        true
    }

    /// Checks an H2CData header for this command and accounts for its data.
    ///
    /// The data must have been solicited by an R2T that is all on the wire, be non-empty and no longer than
    /// [`MAXH2CDATA`], start exactly where the previous PDU ended and stay within the transfer.
    /// DATA_LAST must not be set before the end. A missing DATA_LAST on the final PDU is
    /// tolerated, as the C target does.
    ///
    /// The PDU's DATAL must already have been checked against its PLEN, which
    /// [`super::pdu::HostPdu::decode`] does.
    pub fn accept(&mut self, pdu: &DataPdu) -> Result<Accepted, Error> {
        match self.solicit {
            Solicit::Sent => {}
            // Data the target did not ask for, or asked for with an R2T that is not all on
            // the wire yet: the host cannot have seen the R2T.
            Solicit::NotSent | Solicit::Sending => return Err(Error::PduSequence),
            // In-capsule data: the transfer tag names no R2T.
            Solicit::InCapsule => return Err(Error::InvalidHeaderField(OFF_TTAG)),
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

/// The admin queue depth the target supports (`NVME_AQ_DEPTH`): the discovery log page
/// advertises it, and the core bounds only I/O queues by MQES.
pub const ADMIN_QUEUE_DEPTH: u16 = 32;

/// The number of command slots for a queue of `size` entries (`sqsize + 1`), or `None` if
/// the queue must be refused.
///
/// A queue gets two slots per entry, as in the C target, so that the host may send a new
/// command before the response of an old one is all out. The admin queue may be at most
/// [`ADMIN_QUEUE_DEPTH`] deep (anyone may open one to the discovery controller), and no
/// slot may get a transfer tag that equals [`CONNECT_TTAG`].
pub fn command_slots(qid: u16, size: u16) -> Option<u16> {
    // Slots are tagged 0 .. n - 1 with `n` a `u16`: no tag reaches the Connect tag.
    const _: () = assert!(CONNECT_TTAG == u16::MAX);
    if size == 0 || (qid == 0 && size > ADMIN_QUEUE_DEPTH) {
        return None;
    }
    size.checked_mul(2)
}

/// A bound on the data a queue has asked for with R2Ts and not received yet, so that a host
/// cannot make the target hold buffers for data that never comes. A command over the bound
/// waits for its R2T; one command is always allowed, whatever its size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct R2tBudget {
    limit: u32,
    outstanding: u32,
}

impl R2tBudget {
    /// A budget of `limit` bytes, none taken.
    pub const fn new(limit: u32) -> Self {
        Self {
            limit,
            outstanding: 0,
        }
    }

    /// Whether `len` bytes for an R2T fit the bound now.
    pub fn can_take(&self, len: u32) -> bool {
        self.outstanding == 0
            || self
                .outstanding
                .checked_add(len)
                .is_some_and(|total| total <= self.limit)
    }

    /// Takes `len` bytes for an R2T if the bound allows; returns whether it did.
    pub fn try_take(&mut self, len: u32) -> bool {
        if !self.can_take(len) {
            return false;
        }
        self.outstanding = self.outstanding.saturating_add(len);
        true
    }

    /// Gives back `len` bytes whose data arrived (or whose command ended).
    pub fn release(&mut self, len: u32) {
        self.outstanding = self.outstanding.saturating_sub(len);
    }

    /// The bytes taken and not given back.
    pub const fn outstanding(&self) -> u32 {
        self.outstanding
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
            plan_data(&sqe(r, 8192, 0x5a), 0, 4096),
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
        // Keyed and segment descriptors mean nothing on TCP, nor does a transport data
        // block with another subtype than Transport Specific (0xA), reserved ones included.
        for ty in [0x50, 0x51, 0x5f, 0xf0, 0x0a] {
            assert_eq!(
                plan_data(&sqe(r, 4096, ty), 0, 4096),
                dnr(NVME_SC_SGL_INVALID_TYPE),
                "type {ty:#x}"
            );
        }
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
    fn sgl_longer_than_the_command_is_refused() {
        let dnr = Err(NVME_SC_SGL_INVALID_DATA | NVME_STATUS_DNR);
        let write = sqe(0x01, 0, 0);
        let check = |plan, expected| check_transfer_len(&write, 1, plan, expected);
        assert_eq!(check(DataPlan::FromHost(MAXH2CDATA), 512), dnr);
        assert_eq!(check(DataPlan::ToHost(4097), 4096), dnr);
        assert_eq!(check(DataPlan::InCapsule(1024), 1024), Ok(()));
        // Shorter than the command: the core decides (some commands accept less).
        assert_eq!(check(DataPlan::FromHost(512), 4096), Ok(()));
        // The core knows no length for the command.
        assert_eq!(check(DataPlan::FromHost(MAXH2CDATA), 0), Ok(()));
        assert_eq!(check(DataPlan::None, 0), Ok(()));
        // Dataset Management on an I/O queue: the core takes a longer list.
        let dsm = sqe(NVME_CMD_DSM, 0, 0);
        assert_eq!(
            check_transfer_len(&dsm, 1, DataPlan::FromHost(4096), 16),
            Ok(())
        );
        // Opcode 0x09 on the admin queue is Delete I/O CQ: no exception there.
        assert_eq!(
            check_transfer_len(&dsm, 0, DataPlan::FromHost(4096), 16),
            dnr
        );
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
    fn one_r2t_covers_the_data() {
        let mut t = H2cTransfer::new(0x1234, 10000);
        let r = t.r2t(5, NONE).unwrap();
        assert_eq!(
            (r.command_id, r.ttag, r.r2t_offset, r.r2t_length),
            (0x1234, 5, 0, 10000)
        );
        // Built once: a second call gives nothing, before and after it is sent.
        assert_eq!(t.r2t(5, NONE), None);
        assert!(t.r2t_sent());
        assert!(!t.r2t_sent());
        assert_eq!(t.r2t(5, NONE), None);
        t.accept(&h2c(0, 4000, 0)).unwrap();
        t.accept(&h2c(4000, 6000, FLAG_DATA_LAST)).unwrap();
        assert_eq!(t.r2t(5, NONE), None);
        let mut icd = H2cTransfer::in_capsule(1, 512);
        assert_eq!(icd.r2t(1, NONE), None);
        assert!(!icd.r2t_sent());
        assert_eq!(H2cTransfer::new(1, 0).r2t(1, NONE), None);
    }

    #[test]
    fn data_waits_until_the_r2t_is_on_the_wire() {
        let mut t = H2cTransfer::new(0x1234, 8192);
        // Before the R2T was built, and while it is being sent: the host cannot know it.
        assert_eq!(
            t.accept(&h2c(0, 8192, FLAG_DATA_LAST)),
            Err(Error::PduSequence)
        );
        t.r2t(3, NONE).unwrap();
        assert_eq!(
            t.accept(&h2c(0, 8192, FLAG_DATA_LAST)),
            Err(Error::PduSequence)
        );
        assert_eq!(t.received(), 0);
        assert!(t.r2t_sent());
        assert!(t.accept(&h2c(0, 8192, FLAG_DATA_LAST)).unwrap().complete);
        // In-capsule data names no R2T.
        assert_eq!(
            H2cTransfer::in_capsule(0x1234, 512).accept(&h2c(0, 512, FLAG_DATA_LAST)),
            Err(Error::InvalidHeaderField(OFF_TTAG))
        );
    }

    #[test]
    fn slots_per_queue() {
        assert_eq!(command_slots(0, 32), Some(64));
        assert_eq!(command_slots(0, 33), None);
        assert_eq!(command_slots(0, 0xffff), None);
        assert_eq!(command_slots(0, 0), None);
        assert_eq!(command_slots(1, 1024), Some(2048));
        assert_eq!(command_slots(1, 0x7fff), Some(0xfffe));
        // 0x8000 entries would give a slot the Connect tag, and more would wrap.
        assert_eq!(command_slots(1, 0x8000), None);
        assert_eq!(command_slots(1, 0xffff), None);
    }

    #[test]
    fn r2t_budget() {
        let mut b = R2tBudget::new(8 << 20);
        assert!(b.can_take(u32::MAX));
        assert!(b.try_take(4 << 20));
        assert!(b.can_take(4 << 20));
        assert!(b.try_take(4 << 20));
        assert!(!b.can_take(1));
        assert!(!b.try_take(1));
        b.release(4 << 20);
        assert!(b.try_take(4096));
        assert!(!b.try_take(4 << 20));
        b.release(4 << 20);
        b.release(4096);
        assert_eq!(b.outstanding(), 0);
        // One command always fits, whatever the bound.
        let mut small = R2tBudget::new(4096);
        assert!(small.try_take(u32::MAX));
        assert!(!small.try_take(1));
        small.release(u32::MAX);
        small.release(1);
        assert_eq!(small.outstanding(), 0);
    }

    #[test]
    fn data_arrives_in_order_and_in_range() {
        let mut t = H2cTransfer::new(0x1234, 8192);
        // Unsolicited: no R2T yet (the CVE-2026-22998 case).
        assert_eq!(t.accept(&h2c(0, 4096, 0)), Err(Error::PduSequence));
        t.r2t(0, NONE).unwrap();
        t.r2t_sent();
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
        big.r2t_sent();
        assert_eq!(
            big.accept(&h2c(0, MAXH2CDATA + 1, 0)),
            Err(Error::DataLimitExceeded)
        );
    }

    #[test]
    fn only_admin_async_event_requests_are_held() {
        let aer = sqe(NVME_ADMIN_ASYNC_EVENT, 0, 0);
        assert!(held_until_event(&aer, 0));
        // The same opcode on an I/O queue is another command (a vendor or reserved one).
        assert!(!held_until_event(&aer, 1));
        assert!(!held_until_event(&sqe(0x06, 4096, SGL_TYPE_TRANSPORT), 0));
    }
}
