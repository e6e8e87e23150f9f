// SPDX-License-Identifier: GPL-2.0

//! Feeds arbitrary bytes to the receive loop, the header parsers and the data accounting.
//!
//! The first input byte picks the connection state and the read size; the rest is the byte
//! stream. Besides not panicking, the loop must see the same PDUs and the same error whether the
//! stream arrives in small pieces or all at once.

#![no_main]

#[path = "../stream.rs"]
mod stream;

use libfuzzer_sys::fuzz_target;
use nvmet_tcp_rs::proto::{
    icreq::{
        self,
        Negotiated, //
    },
    pdu::{
        CapsuleCmd,
        DataPdu,
        IcReq,
        PduHeader,
        TermReq, //
    },
    r2t::{
        self,
        H2cTransfer, //
    },
    sgl,
    tx::Tx,
};
use stream::Stream;

fuzz_target!(|input: &[u8]| {
    let Some((&mode, bytes)) = input.split_first() else {
        return;
    };
    let neg = Negotiated {
        hdgst: mode & 1 != 0,
        ddgst: mode & 2 != 0,
    };
    let conn = if mode & 4 != 0 {
        nvmet_tcp_rs::proto::pdu::ConnState::Live(neg)
    } else {
        nvmet_tcp_rs::proto::pdu::ConnState::AwaitIcReq
    };
    let piece = usize::from(mode >> 3) + 1;

    let mut pieces = Stream::new(conn);
    let mut err = Ok(());
    for p in bytes.chunks(piece) {
        err = pieces.feed(p);
        if err.is_err() {
            break;
        }
    }
    let mut whole = Stream::new(conn);
    assert_eq!(whole.feed(bytes), err);
    assert_eq!(whole.pdus, pieces.pdus);

    // The parsers and checkers on the raw bytes.
    if let Ok(req) = IcReq::parse(bytes) {
        let _ = icreq::negotiate(&req);
    }
    let _ = TermReq::parse(bytes);
    if let Ok(cmd) = CapsuleCmd::parse(bytes) {
        let plan = r2t::plan_data(&cmd.sqe, u32::from(mode), 8192);
        if let Ok(plan) = plan {
            assert!(plan.len() <= nvmet_tcp_rs::proto::pdu::MAXH2CDATA);
        }
    }
    if let Ok(data) = DataPdu::parse(bytes) {
        let mut t = H2cTransfer::new(data.command_id, data.ttag.into());
        let _ = t.r2t(data.ttag, neg);
        // Nothing is accepted while the R2T is not all on the wire.
        assert!(t.accept(&data).is_err());
        if mode & 1 != 0 {
            t.r2t_sent();
        }
        if let Ok(acc) = t.accept(&data) {
            assert!(acc.offset + acc.len <= t.transfer_len());
        }
        // The Tx order: a C2HTermReq for any error waits for the PDU in flight.
        let mut tx = Tx::new();
        let _ = tx.start_pdu();
        if let Err(e) = t.accept(&data) {
            tx.terminate(e, bytes);
            assert!(tx.term_pending().is_none());
            tx.end_pdu();
            assert!(tx.start_pdu().is_err());
            if let Some(term) = tx.term_pending() {
                assert!(term.len() <= nvmet_tcp_rs::proto::pdu::MAX_TERM_PLEN);
            }
        }
    }

    // Span math over entry lengths taken from the input.
    let lens: Vec<u32> = bytes
        .chunks_exact(2)
        .map(|c| u32::from(u16::from_le_bytes([c[0], c[1]])))
        .collect();
    let (offset, len) = match bytes {
        [a, b, c, d, ..] => (
            u32::from(u16::from_le_bytes([*a, *b])),
            u32::from(u16::from_le_bytes([*c, *d])),
        ),
        _ => (0, 0),
    };
    if let Ok(spans) = sgl::spans(lens.iter().copied(), offset, len) {
        let mut covered = 0u32;
        for s in spans {
            assert!(s.len > 0 && s.offset + s.len <= lens[s.index]);
            covered += s.len;
        }
        assert_eq!(covered, len);
    } else {
        assert!(u64::from(offset) + u64::from(len) > lens.iter().map(|&l| u64::from(l)).sum());
    }
});
