// SPDX-License-Identifier: GPL-2.0

//! Encode/parse round trips for every PDU type, fixed wire vectors, and parsers fed garbage.

use nvmet_tcp_rs::proto::{
    digest::{
        self,
        SoftCrc32c, //
    },
    icreq::{
        self,
        Negotiated, //
    },
    pdu::{
        self,
        CapsuleCmd,
        CapsuleResp,
        CommonHeader,
        ConnState,
        DataPdu,
        HostPdu,
        IcReq,
        IcResp,
        Layout,
        PduHeader,
        PduType,
        R2t,
        TermReq,
        FLAG_HDGST, //
    },
    r2t::{
        self,
        H2cTransfer, //
    },
    Error, Fes,
};
use proptest::prelude::*;

/// A common header of type `ty` with arbitrary flags, PDO and PLEN.
fn ch(ty: PduType) -> impl Strategy<Value = CommonHeader> {
    (any::<u8>(), any::<u8>(), any::<u32>())
        .prop_map(move |(flags, pdo, plen)| CommonHeader::new(ty, flags, pdo, plen))
}

/// Encodes `h`, checks the length and that parsing gives `h` back, and returns the bytes.
fn round_trip<H: PduHeader + PartialEq + core::fmt::Debug>(h: &H) -> Vec<u8> {
    let mut buf = [0xa5u8; 140];
    let n = h.encode(&mut buf).unwrap();
    assert_eq!(n, H::HLEN);
    assert_eq!(H::parse(&buf[..n]).as_ref(), Ok(h));
    // Too short to hold the header.
    assert_eq!(h.encode(&mut buf[..n - 1]), Err(Error::BufferSize));
    assert_eq!(H::parse(&buf[..n - 1]), Err(Error::BufferSize));
    // With a digest, exactly when HDGSTF is set.
    let m = h.encode_with_digest::<SoftCrc32c>(&mut buf).unwrap();
    if h.common().flags & FLAG_HDGST != 0 {
        assert_eq!(m, n + 4);
        digest::verify_header_digest::<SoftCrc32c>(&buf, n).unwrap();
    } else {
        assert_eq!(m, n);
    }
    buf[..n].to_vec()
}

proptest! {
    #[test]
    fn icreq_round_trip(ch in ch(PduType::IcReq), pfv: u16, hpda: u8, digest: u8, maxr2t: u32) {
        let b = round_trip(&IcReq { ch, pfv, hpda, digest, maxr2t });
        prop_assert!(b[16..].iter().all(|&x| x == 0));
    }

    #[test]
    fn icresp_round_trip(ch in ch(PduType::IcResp), pfv: u16, cpda: u8, digest: u8, maxdata: u32) {
        let b = round_trip(&IcResp { ch, pfv, cpda, digest, maxdata });
        prop_assert!(b[16..].iter().all(|&x| x == 0));
    }

    #[test]
    fn term_req_round_trip(h2c: bool, flags: u8, pdo: u8, plen: u32, fes: u16, fei: u32) {
        let ty = if h2c { PduType::H2cTermReq } else { PduType::C2hTermReq };
        let b = round_trip(&TermReq { ch: CommonHeader::new(ty, flags, pdo, plen), fes, fei });
        prop_assert_eq!(u16::from_le_bytes([b[8], b[9]]), fes);
        prop_assert_eq!(u32::from_le_bytes(b[10..14].try_into().unwrap()), fei);
        prop_assert!(b[14..].iter().all(|&x| x == 0));
    }

    #[test]
    fn capsule_round_trip(ch in ch(PduType::CapsuleCmd), sqe: [u8; 64], cqe: [u8; 16], rch in ch(PduType::CapsuleResp)) {
        prop_assert_eq!(&round_trip(&CapsuleCmd { ch, sqe })[8..], &sqe[..]);
        prop_assert_eq!(&round_trip(&CapsuleResp { ch: rch, cqe })[8..], &cqe[..]);
    }

    #[test]
    fn data_round_trip(h2c: bool, flags: u8, pdo: u8, plen: u32, cid: u16, ttag: u16, off: u32, len: u32) {
        let ty = if h2c { PduType::H2cData } else { PduType::C2hData };
        let h = DataPdu { ch: CommonHeader::new(ty, flags, pdo, plen), command_id: cid, ttag, data_offset: off, data_length: len };
        let b = round_trip(&h);
        prop_assert_eq!(u32::from_le_bytes(b[16..20].try_into().unwrap()), len);
        prop_assert!(b[20..].iter().all(|&x| x == 0));
    }

    #[test]
    fn r2t_round_trip(ch in ch(PduType::R2t), cid: u16, ttag: u16, off: u32, len: u32) {
        let b = round_trip(&R2t { ch, command_id: cid, ttag, r2t_offset: off, r2t_length: len });
        prop_assert_eq!(u32::from_le_bytes(b[12..16].try_into().unwrap()), off);
        prop_assert!(b[20..].iter().all(|&x| x == 0));
    }

    #[test]
    fn wrong_type_or_hlen_is_rejected(
        bytes: [u8; 128],
        ty in prop_oneof![0u8..12, any::<u8>()],
        hlen in prop_oneof![Just(24u8), Just(72), Just(128), any::<u8>()],
    ) {
        let mut b = bytes;
        b[0] = ty;
        b[2] = hlen;
        let check = |r: Result<(), Error>, want: PduType, alt: Option<PduType>| {
            let type_ok = ty == want as u8 || alt.is_some_and(|a| ty == a as u8);
            match r {
                Ok(()) => type_ok && usize::from(hlen) == want.hlen(),
                Err(Error::InvalidHeaderField(0)) => !type_ok,
                Err(Error::InvalidHeaderField(2)) => type_ok && usize::from(hlen) != want.hlen(),
                Err(_) => false,
            }
        };
        prop_assert!(check(IcReq::parse(&b).map(drop), PduType::IcReq, None));
        prop_assert!(check(IcResp::parse(&b).map(drop), PduType::IcResp, None));
        prop_assert!(check(TermReq::parse(&b).map(drop), PduType::H2cTermReq, Some(PduType::C2hTermReq)));
        prop_assert!(check(CapsuleCmd::parse(&b).map(drop), PduType::CapsuleCmd, None));
        prop_assert!(check(CapsuleResp::parse(&b).map(drop), PduType::CapsuleResp, None));
        prop_assert!(check(DataPdu::parse(&b).map(drop), PduType::H2cData, Some(PduType::C2hData)));
        prop_assert!(check(R2t::parse(&b).map(drop), PduType::R2t, None));
    }

    /// Whatever header arrives, validation either fails or describes a consistent PDU.
    #[test]
    fn validate_is_total_and_consistent(bytes: [u8; 8], live: bool, hdgst: bool, ddgst: bool) {
        let h = CommonHeader::parse(&bytes).unwrap();
        let neg = Negotiated { hdgst, ddgst };
        let conn = if live { ConnState::Live(neg) } else { ConnState::AwaitIcReq };
        if let Ok(l) = Layout::validate(&h, conn) {
            prop_assert_eq!(usize::from(l.hlen), l.pdu_type.hlen());
            prop_assert!(l.header_len() <= pdu::MAX_HEADER_LEN);
            prop_assert_eq!(l.header_rest() + 8, l.header_len());
            let total = l.header_len() as u64 + u64::from(l.data_len) + l.ddgst_len() as u64;
            prop_assert_eq!(total, u64::from(h.plen));
            prop_assert!(!l.ddgst || l.data_len > 0);
            prop_assert!(l.data_len <= pdu::MAXH2CDATA);
            if l.data_len > 0 && l.pdu_type != PduType::H2cTermReq {
                prop_assert_eq!(usize::from(h.pdo), l.header_len());
            }
        }
    }

    /// No parser or checker panics on arbitrary input.
    #[test]
    fn parsers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200), hdgst: bool, n: u16, incap: u32, inline: u32) {
        let _ = IcReq::parse(&bytes).map(|r| icreq::negotiate(&r));
        let _ = IcResp::parse(&bytes);
        let _ = TermReq::parse(&bytes);
        let _ = CapsuleResp::parse(&bytes);
        let _ = R2t::parse(&bytes);
        if let Ok(c) = CapsuleCmd::parse(&bytes) {
            let _ = r2t::plan_data(&c.sqe, incap, inline);
        }
        if let Ok(d) = DataPdu::parse(&bytes) {
            let _ = r2t::lookup_ttag(d.ttag, n);
            let mut t = H2cTransfer::new(d.command_id, incap);
            let _ = t.r2t(d.ttag, Negotiated::default());
            let _ = t.accept(&d);
            t.r2t_sent();
            let _ = t.accept(&d);
        }
        if let Ok(h) = CommonHeader::parse(&bytes) {
            let neg = Negotiated { hdgst, ddgst: !hdgst };
            if let Ok(l) = Layout::validate(&h, ConnState::Live(neg)) {
                let _ = HostPdu::decode::<SoftCrc32c>(&bytes, &l);
            }
        }
        let mut out = [0u8; pdu::MAX_TERM_PLEN];
        let n = pdu::encode_c2h_term_req(Fes::PduSequence, 0, &bytes, &mut out).unwrap();
        prop_assert_eq!(n, 24 + bytes.len().min(128));
    }
}

/// Byte-exact headers as the C target builds them.
#[test]
fn wire_vectors() {
    let neg = Negotiated {
        hdgst: true,
        ddgst: true,
    };
    let mut buf = [0u8; 32];

    let n = R2t::new(0x0102, 0x0304, 0x1000, 0x2000, neg)
        .encode_with_digest::<SoftCrc32c>(&mut buf)
        .unwrap();
    assert_eq!(n, 28);
    #[rustfmt::skip]
    let r2t = [
        0x09, 0x01, 24, 0, 28, 0, 0, 0,
        0x02, 0x01, 0x04, 0x03, 0x00, 0x10, 0, 0, 0x00, 0x20, 0, 0, 0, 0, 0, 0,
    ];
    assert_eq!(buf[..24], r2t);
    let crc = digest::digest::<SoftCrc32c>(&r2t).to_le_bytes();
    assert_eq!(buf[24..28], crc);

    let c2h = DataPdu::c2h(0x0102, 0, 0x1000, true, false, neg).unwrap();
    let n = c2h.encode(&mut buf).unwrap();
    #[rustfmt::skip]
    let expect = [
        0x07, 0x07, 24, 28, 0x20, 0x10, 0, 0,
        0x02, 0x01, 0, 0, 0, 0, 0, 0, 0x00, 0x10, 0, 0, 0, 0, 0, 0,
    ];
    assert_eq!(buf[..n], expect);

    let rsp = CapsuleResp::new([0x11; 16], Negotiated::default());
    let n = rsp.encode(&mut buf).unwrap();
    assert_eq!(buf[..8], [0x05, 0, 24, 0, 24, 0, 0, 0]);
    assert_eq!(buf[8..n], [0x11; 16]);
}
