// SPDX-License-Identifier: GPL-2.0

//! NVMe/TCP protocol core: PDU formats, validation, digests and data accounting.
//!
//! Everything here is pure computation over byte slices and integers. There is no `unsafe`, no
//! allocation and no kernel type, so the same file builds inside the kernel module and in the host
//! crate that runs the unit, property and fuzz tests.
//!
//! Every byte a host sends is checked here before the kernel side acts on it:
//!
//! - [`pdu`]: PDU types, the common header, typed headers, validation of received headers.
//! - [`icreq`]: ICReq/ICResp connection negotiation.
//! - [`digest`]: CRC32C header and data digests behind the [`digest::Crc32c`] seam.
//! - [`r2t`]: SGL descriptors, in-capsule data, R2T and H2CData accounting per command.
//! - [`sgl`]: mapping data offsets to scatterlist entries, and the receive byte accounting.
//! - [`tx`]: the order of what is sent: whole PDUs, and a C2HTermReq only between two.
//!
//! Fatal protocol errors are reported as [`Error`], which maps to the fatal error status (FES) and
//! fatal error information (FEI) of the C2HTermReq that the target sends before closing.

#![forbid(unsafe_code)]

pub mod digest;
pub mod icreq;
pub mod pdu;
pub mod r2t;
pub mod sgl;
pub mod tx;

/// Fatal error status (FES) codes of a termination request (`NVME_TCP_FES_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum Fes {
    /// A PDU header field is invalid; the FEI is the byte offset of the field.
    InvalidHeaderField = 0x01,
    /// A PDU arrived that is not allowed at this point of the exchange.
    PduSequence = 0x02,
    /// The header digest did not match the header.
    HeaderDigest = 0x03,
    /// An H2CData PDU addressed data outside the command's transfer.
    DataOutOfRange = 0x04,
    /// An H2CData PDU carried more than MAXH2CDATA bytes.
    DataLimitExceeded = 0x05,
    /// A parameter is valid but not supported; the FEI is the byte offset of the parameter.
    UnsupportedParameter = 0x06,
}

impl Fes {
    /// Decodes a received FES value, for logging an H2CTermReq.
    pub const fn from_u16(v: u16) -> Option<Self> {
        Some(match v {
            0x01 => Self::InvalidHeaderField,
            0x02 => Self::PduSequence,
            0x03 => Self::HeaderDigest,
            0x04 => Self::DataOutOfRange,
            0x05 => Self::DataLimitExceeded,
            0x06 => Self::UnsupportedParameter,
            _ => return None,
        })
    }
}

/// A protocol error. All errors are fatal for the connection.
///
/// [`Error::term`] says what C2HTermReq to send before closing, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The header field at this byte offset from the start of the PDU is invalid.
    InvalidHeaderField(u8),
    /// The PDU type is not allowed in the current connection state.
    PduSequence,
    /// The received header digest does not match.
    HeaderDigest,
    /// The data offset and length fall outside the command's transfer.
    DataOutOfRange,
    /// The PDU data is longer than MAXH2CDATA.
    DataLimitExceeded,
    /// The parameter at this byte offset is valid but not supported.
    UnsupportedParameter(u8),
    /// A malformed H2CTermReq: the connection is closed without a C2HTermReq.
    BadTermReq,
    /// A buffer or byte count passed by the caller does not fit: a bug on the caller's side.
    BufferSize,
}

impl Error {
    /// The FES and FEI to report in a C2HTermReq, or `None` to close without one.
    pub fn term(self) -> Option<(Fes, u32)> {
        Some(match self {
            Self::InvalidHeaderField(off) => (Fes::InvalidHeaderField, u32::from(off)),
            Self::PduSequence => (Fes::PduSequence, 0),
            Self::HeaderDigest => (Fes::HeaderDigest, 0),
            Self::DataOutOfRange => (Fes::DataOutOfRange, 0),
            Self::DataLimitExceeded => (Fes::DataLimitExceeded, 0),
            Self::UnsupportedParameter(off) => (Fes::UnsupportedParameter, u32::from(off)),
            Self::BadTermReq | Self::BufferSize => return None,
        })
    }
}
