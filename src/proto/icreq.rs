// SPDX-License-Identifier: GPL-2.0

//! Connection initialization: checking the ICReq and building the ICResp.
//!
//! Like the C target, this target supports PDU format version 0 only, no data alignment (HPDA
//! must be 0 and CPDA is 0) and one R2T per command, so MAXR2T is ignored. The digests the host
//! asks for are enabled and echoed back.

use super::{
    pdu::{
        CommonHeader,
        IcReq,
        IcResp,
        PduType,
        IC_HLEN,
        MAXH2CDATA,
        OFF_HPDA,
        OFF_PFV, //
    },
    Error,
};

/// The only PDU format version, 1.0 (`NVME_TCP_PFV_1_0`).
pub const PFV_1_0: u16 = 0;
/// Digest bit: header digests (`NVME_TCP_HDR_DIGEST_ENABLE`).
pub const HDR_DIGEST_ENABLE: u8 = 1 << 0;
/// Digest bit: data digests (`NVME_TCP_DATA_DIGEST_ENABLE`).
pub const DATA_DIGEST_ENABLE: u8 = 1 << 1;

/// The digests in use on a connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Negotiated {
    /// Every PDU except ICReq, ICResp and termination requests carries a header digest.
    pub hdgst: bool,
    /// Every PDU with data carries a data digest.
    pub ddgst: bool,
}

impl Negotiated {
    /// Length of the header digest: 4 or 0.
    pub const fn hdgst_len(self) -> u32 {
        if self.hdgst {
            4
        } else {
            0
        }
    }

    /// Length of the data digest of a PDU with data: 4 or 0.
    pub const fn ddgst_len(self) -> u32 {
        if self.ddgst {
            4
        } else {
            0
        }
    }

    /// The digest field of the ICReq or ICResp.
    pub const fn digest_bits(self) -> u8 {
        let mut bits = 0;
        if self.hdgst {
            bits |= HDR_DIGEST_ENABLE;
        }
        if self.ddgst {
            bits |= DATA_DIGEST_ENABLE;
        }
        bits
    }
}

/// Checks an ICReq and returns the digests to use.
///
/// Its common header must already have passed [`super::pdu::Layout::validate`], which checks HLEN
/// and PLEN. An unknown PFV is an invalid header field; a non-zero HPDA is a valid request the
/// target does not support.
pub fn negotiate(req: &IcReq) -> Result<Negotiated, Error> {
    if req.pfv != PFV_1_0 {
        return Err(Error::InvalidHeaderField(OFF_PFV));
    }
    if req.hpda != 0 {
        return Err(Error::UnsupportedParameter(OFF_HPDA));
    }
    Ok(Negotiated {
        hdgst: req.digest & HDR_DIGEST_ENABLE != 0,
        ddgst: req.digest & DATA_DIGEST_ENABLE != 0,
    })
}

/// The ICResp for `neg`: PFV 0, CPDA 0, MAXH2CDATA 4 MiB and the negotiated digests.
pub fn icresp(neg: Negotiated) -> IcResp {
    IcResp {
        ch: CommonHeader::new(PduType::IcResp, 0, 0, IC_HLEN as u32),
        pfv: PFV_1_0,
        cpda: 0,
        digest: neg.digest_bits(),
        maxdata: MAXH2CDATA,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::pdu::PduHeader;

    fn icreq(pfv: u16, hpda: u8, digest: u8) -> IcReq {
        IcReq {
            ch: CommonHeader::new(PduType::IcReq, 0, 0, 128),
            pfv,
            hpda,
            digest,
            maxr2t: 0xdead_beef,
        }
    }

    #[test]
    fn digests_are_echoed() {
        for bits in 0..4u8 {
            let neg = negotiate(&icreq(0, 0, bits | 0xfc)).unwrap();
            assert_eq!(neg.digest_bits(), bits);
            assert_eq!(icresp(neg).digest, bits);
            assert_eq!(neg.hdgst_len(), if bits & 1 != 0 { 4 } else { 0 });
            assert_eq!(neg.ddgst_len(), if bits & 2 != 0 { 4 } else { 0 });
        }
    }

    #[test]
    fn pfv_and_hpda_are_checked() {
        assert_eq!(
            negotiate(&icreq(1, 0, 0)),
            Err(Error::InvalidHeaderField(8))
        );
        assert_eq!(
            negotiate(&icreq(0, 1, 0)),
            Err(Error::UnsupportedParameter(10))
        );
    }

    #[test]
    fn icresp_wire_form_matches_the_c_target() {
        let mut buf = [0xffu8; 128];
        let neg = Negotiated {
            hdgst: true,
            ddgst: false,
        };
        assert_eq!(icresp(neg).encode(&mut buf), Ok(128));
        let mut expect = [0u8; 128];
        expect[..16].copy_from_slice(&[1, 0, 128, 0, 128, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0x40, 0]);
        assert_eq!(buf, expect);
    }
}
