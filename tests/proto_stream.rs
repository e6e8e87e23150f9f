// SPDX-License-Identifier: GPL-2.0

//! PDU streams through the receive loop: reassembly at any read boundary, digests, and a whole
//! connection from ICReq to a multi-PDU write.

#[path = "fuzz/stream.rs"]
mod stream;

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
        CapsuleCmd,
        CommonHeader,
        ConnState,
        DataPdu,
        HostPdu,
        IcReq,
        PduHeader,
        PduType,
        TermReq,
        FLAG_DATA_LAST,
        FLAG_DDGST,
        FLAG_HDGST, //
    },
    r2t::{
        self,
        DataPlan,
        H2cTransfer, //
    },
    sgl, Error,
};
use proptest::prelude::*;
use stream::{
    Received,
    Stream, //
};

/// The common header a host puts on a PDU of type `ty` with `data_len` bytes of data.
fn host_ch(ty: PduType, neg: Negotiated, data_len: usize) -> CommonHeader {
    let hdr = ty.hlen() + neg.hdgst_len() as usize;
    let ddgst = neg.ddgst && data_len > 0;
    let mut flags = 0;
    if neg.hdgst {
        flags |= FLAG_HDGST;
    }
    if ddgst {
        flags |= FLAG_DDGST;
    }
    let pdo = if data_len > 0 { hdr as u8 } else { 0 };
    let plen = hdr + data_len + if ddgst { 4 } else { 0 };
    CommonHeader::new(ty, flags, pdo, plen as u32)
}

/// Appends a PDU with header `h` and `data` to `out`, as a host would send it.
fn put_pdu(out: &mut Vec<u8>, h: &impl PduHeader, data: &[u8]) {
    let mut buf = [0u8; 132];
    let n = h.encode_with_digest::<SoftCrc32c>(&mut buf).unwrap();
    out.extend_from_slice(&buf[..n]);
    out.extend_from_slice(data);
    if h.common().flags & FLAG_DDGST != 0 {
        out.extend_from_slice(&digest::digest::<SoftCrc32c>(data).to_le_bytes());
    }
}

fn icreq_pdu(neg: Negotiated) -> IcReq {
    IcReq {
        ch: CommonHeader::new(PduType::IcReq, 0, 0, 128),
        pfv: 0,
        hpda: 0,
        digest: neg.digest_bits(),
        maxr2t: 0,
    }
}

/// A PDU a host may send after the ICReq.
#[derive(Clone, Debug)]
enum Spec {
    Cmd([u8; 64], Vec<u8>),
    Data(u16, u16, u32, bool, Vec<u8>),
    Term(u16, u32, Vec<u8>),
}

impl Spec {
    /// Appends the PDU to `out` and returns what the receiver must report.
    fn put(&self, neg: Negotiated, out: &mut Vec<u8>) -> Received {
        let (pdu, data) = match self {
            Spec::Cmd(sqe, data) => {
                let h = CapsuleCmd {
                    ch: host_ch(PduType::CapsuleCmd, neg, data.len()),
                    sqe: *sqe,
                };
                put_pdu(out, &h, data);
                (HostPdu::Cmd(h), data)
            }
            Spec::Data(cid, ttag, offset, last, data) => {
                let mut ch = host_ch(PduType::H2cData, neg, data.len());
                if *last {
                    ch.flags |= FLAG_DATA_LAST;
                }
                let h = DataPdu {
                    ch,
                    command_id: *cid,
                    ttag: *ttag,
                    data_offset: *offset,
                    data_length: data.len() as u32,
                };
                put_pdu(out, &h, data);
                (HostPdu::Data(h), data)
            }
            Spec::Term(fes, fei, echo) => {
                let h = TermReq {
                    ch: CommonHeader::new(PduType::H2cTermReq, 0, 0, 24 + echo.len() as u32),
                    fes: *fes,
                    fei: *fei,
                };
                put_pdu(out, &h, echo);
                (HostPdu::TermReq(h), echo)
            }
        };
        Received {
            pdu,
            data: data.clone(),
            ddgst_ok: true,
        }
    }
}

fn spec() -> impl Strategy<Value = Spec> {
    prop_oneof![
        (
            any::<[u8; 64]>(),
            prop::collection::vec(any::<u8>(), 0..300)
        )
            .prop_map(|(sqe, data)| Spec::Cmd(sqe, data)),
        (
            any::<u16>(),
            any::<u16>(),
            any::<u32>(),
            any::<bool>(),
            prop::collection::vec(any::<u8>(), 1..300)
        )
            .prop_map(|(c, t, o, l, d)| Spec::Data(c, t, o, l, d)),
        (
            any::<u16>(),
            any::<u32>(),
            prop::collection::vec(any::<u8>(), 0..=128)
        )
            .prop_map(|(f, i, e)| Spec::Term(f, i, e)),
    ]
}

fn neg() -> impl Strategy<Value = Negotiated> {
    (any::<bool>(), any::<bool>()).prop_map(|(hdgst, ddgst)| Negotiated { hdgst, ddgst })
}

/// Builds the wire bytes of an ICReq followed by `specs`, and the PDUs the receiver must see.
fn conversation(neg: Negotiated, specs: &[Spec]) -> (Vec<u8>, Vec<Received>) {
    let mut wire = Vec::new();
    let ic = icreq_pdu(neg);
    put_pdu(&mut wire, &ic, &[]);
    let mut expect = vec![Received {
        pdu: HostPdu::IcReq(ic),
        data: vec![],
        ddgst_ok: true,
    }];
    for s in specs {
        expect.push(s.put(neg, &mut wire));
    }
    (wire, expect)
}

/// Feeds `wire` in chunks of the given sizes, cycling through them.
fn feed_chunked(st: &mut Stream, wire: &[u8], chunks: &[usize]) -> Result<(), Error> {
    let mut rest = wire;
    for &c in chunks.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (a, b) = rest.split_at(c.min(rest.len()));
        st.feed(a)?;
        rest = b;
    }
    Ok(())
}

proptest! {
    #[test]
    fn stream_reassembles_at_any_boundary(
        neg in neg(),
        specs in prop::collection::vec(spec(), 0..8),
        chunks in prop::collection::vec(1usize..80, 1..16),
    ) {
        let (wire, expect) = conversation(neg, &specs);
        let mut st = Stream::new(ConnState::AwaitIcReq);
        feed_chunked(&mut st, &wire, &chunks).unwrap();
        prop_assert_eq!(st.conn(), ConnState::Live(neg));
        prop_assert!(st.at_pdu_start());
        prop_assert_eq!(st.pdus, expect);
    }

    #[test]
    fn data_digest_error_fails_only_that_pdu(
        specs in prop::collection::vec(spec(), 1..8),
        pick in any::<prop::sample::Index>(),
        chunks in prop::collection::vec(1usize..80, 1..16),
    ) {
        let neg = Negotiated { hdgst: false, ddgst: true };
        let (mut wire, mut expect) = conversation(neg, &specs);
        // Flip the first data byte of one PDU with data: its digest no longer matches.
        let mut at = 128;
        let with_data: Vec<(usize, usize)> = expect[1..]
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let hdr = if matches!(r.pdu, HostPdu::Cmd(_)) { 72 } else { 24 };
                let start = at + hdr;
                let ddgst = !matches!(r.pdu, HostPdu::TermReq(_)) && !r.data.is_empty();
                at = start + r.data.len() + if ddgst { 4 } else { 0 };
                (i + 1, start)
            })
            .filter(|&(i, _)| !expect[i].data.is_empty() && !matches!(expect[i].pdu, HostPdu::TermReq(_)))
            .collect();
        prop_assume!(!with_data.is_empty());
        let (victim, start) = with_data[pick.index(with_data.len())];
        wire[start] ^= 0x80;
        expect[victim].data[0] ^= 0x80;
        expect[victim].ddgst_ok = false;
        let mut st = Stream::new(ConnState::AwaitIcReq);
        feed_chunked(&mut st, &wire, &chunks).unwrap();
        prop_assert_eq!(st.pdus, expect);
    }

    #[test]
    fn header_digest_error_is_fatal(
        sqe in any::<[u8; 64]>(),
        byte in 0usize..72,
        bit in 0u8..8,
    ) {
        let neg = Negotiated { hdgst: true, ddgst: false };
        let (mut wire, _) = conversation(neg, &[Spec::Cmd(sqe, vec![])]);
        wire[128 + byte] ^= 1 << bit;
        let mut st = Stream::new(ConnState::AwaitIcReq);
        let err = st.feed(&wire).unwrap_err();
        // A flipped common header byte may fail validation first; anything else is a digest error.
        if byte >= 8 {
            prop_assert_eq!(err, Error::HeaderDigest);
        } else {
            prop_assert!(err.term().is_some() || err == Error::BadTermReq);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        chunks in prop::collection::vec(1usize..64, 1..8),
        live in any::<bool>(),
        neg in neg(),
    ) {
        let conn = if live { ConnState::Live(neg) } else { ConnState::AwaitIcReq };
        let mut st = Stream::new(conn);
        let _ = feed_chunked(&mut st, &bytes, &chunks);
    }
}

/// A whole connection: ICReq, an in-capsule write, a write by R2T in three H2CData PDUs placed
/// into a scatterlist, and a read answered with C2HData.
#[test]
fn write_by_r2t_lands_in_the_scatterlist() {
    let neg = Negotiated {
        hdgst: true,
        ddgst: true,
    };
    let inline_data_size = 4096;
    let sg_lens = [4096u32, 4096, 1808];
    let payload: Vec<u8> = (0..10000u32).map(|i| (i * 7 % 251) as u8).collect();

    let mut sqe_icd = [0u8; 64];
    sqe_icd[0] = 0x01;
    sqe_icd[2] = 1;
    sqe_icd[32..36].copy_from_slice(&512u32.to_le_bytes());
    sqe_icd[39] = r2t::SGL_TYPE_INCAPSULE;
    let mut sqe_w = sqe_icd;
    sqe_w[2] = 2;
    sqe_w[32..36].copy_from_slice(&10000u32.to_le_bytes());
    sqe_w[39] = r2t::SGL_TYPE_TRANSPORT;
    let mut sqe_r = sqe_w;
    sqe_r[0] = 0x02;
    sqe_r[2] = 3;

    let specs = [
        Spec::Cmd(sqe_icd, payload[..512].to_vec()),
        Spec::Cmd(sqe_w, vec![]),
        Spec::Data(2, 7, 0, false, payload[..4000].to_vec()),
        Spec::Data(2, 7, 4000, false, payload[4000..9000].to_vec()),
        Spec::Data(2, 7, 9000, true, payload[9000..].to_vec()),
        Spec::Cmd(sqe_r, vec![]),
    ];
    let (wire, _) = conversation(neg, &specs);
    let mut st = Stream::new(ConnState::AwaitIcReq);
    st.feed(&wire).unwrap();
    let ConnState::Live(got) = st.conn() else {
        panic!("ICReq not handled");
    };
    assert_eq!(icreq::icresp(got).digest, 3);

    let mut sg: Vec<Vec<u8>> = sg_lens.iter().map(|&l| vec![0; l as usize]).collect();
    let mut xfer = H2cTransfer::default();
    let mut reads = 0;
    for r in &st.pdus[1..] {
        assert!(r.ddgst_ok);
        match r.pdu {
            HostPdu::Cmd(cmd) => {
                let plan = r2t::plan_data(&cmd.sqe, r.data.len() as u32, inline_data_size);
                match plan.unwrap() {
                    DataPlan::InCapsule(len) => {
                        assert_eq!(r.data, payload[..len as usize]);
                    }
                    DataPlan::FromHost(len) => {
                        xfer = H2cTransfer::new(r2t::command_id(&cmd.sqe), len);
                        let r2t = xfer.r2t(7, got).unwrap();
                        xfer.r2t_sent();
                        assert_eq!((r2t.r2t_offset, r2t.r2t_length), (0, 10000));
                    }
                    DataPlan::ToHost(len) => {
                        let c2h = DataPdu::c2h(r2t::command_id(&cmd.sqe), 0, len, true, false, got)
                            .unwrap();
                        assert_eq!(c2h.ch.plen, 28 + 10000 + 4);
                        reads += 1;
                    }
                    DataPlan::None => panic!("every command here has data"),
                }
            }
            HostPdu::Data(h2c) => {
                assert_eq!(r2t::lookup_ttag(h2c.ttag, 16), Ok(r2t::TtagTarget::Slot(7)));
                let acc = xfer.accept(&h2c).unwrap();
                let mut src = &r.data[..];
                for span in sgl::spans(sg_lens, acc.offset, acc.len).unwrap() {
                    let (now, rest) = src.split_at(span.len as usize);
                    let at = span.offset as usize;
                    sg[span.index][at..at + now.len()].copy_from_slice(now);
                    src = rest;
                }
                assert!(src.is_empty());
            }
            _ => panic!("unexpected PDU"),
        }
    }
    assert!(xfer.is_complete());
    assert_eq!(reads, 1);
    assert_eq!(sg.concat(), payload);
}
