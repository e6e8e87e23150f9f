// SPDX-License-Identifier: GPL-2.0

//! A reference receive loop over the protocol core, in the shape the kernel's receive path has.
//!
//! It is shared by the host stream tests (`tests/proto_stream.rs`) and the fuzz target, and it
//! checks the core's own invariants on the way, panicking if one breaks.

#![allow(dead_code)]

use nvmet_tcp_rs::proto::{
    digest::{
        DataDigest,
        SoftCrc32c, //
    },
    icreq,
    pdu::{
        ConnState,
        HostPdu,
        PduHeader,
        MAX_HEADER_LEN, //
    },
    sgl::{
        BodyEvent,
        Phase,
        RecvState, //
    },
    Error,
};

/// One PDU as the receive loop saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Received {
    /// The decoded header.
    pub(crate) pdu: HostPdu,
    /// The PDU data.
    pub(crate) data: Vec<u8>,
    /// Whether the data digest matched; true when there was none.
    pub(crate) ddgst_ok: bool,
}

/// The receive state of one connection.
pub(crate) struct Stream {
    rs: RecvState,
    conn: ConnState,
    hdr: [u8; MAX_HEADER_LEN],
    cur: Option<HostPdu>,
    data: Vec<u8>,
    ddgst: [u8; 4],
    digest: DataDigest<SoftCrc32c>,
    /// Every complete PDU so far.
    pub(crate) pdus: Vec<Received>,
}

impl Stream {
    /// A connection in state `conn`.
    pub(crate) fn new(conn: ConnState) -> Self {
        Self {
            rs: RecvState::new(),
            conn,
            hdr: [0; MAX_HEADER_LEN],
            cur: None,
            data: Vec::new(),
            ddgst: [0; 4],
            digest: DataDigest::new(),
            pdus: Vec::new(),
        }
    }

    /// The connection state, which an ICReq moves to live.
    pub(crate) fn conn(&self) -> ConnState {
        self.conn
    }

    /// Whether the stream ended on a PDU boundary.
    pub(crate) fn at_pdu_start(&self) -> bool {
        self.rs.at_pdu_start()
    }

    /// Receives `bytes`, in the pieces the receive state asks for.
    pub(crate) fn feed(&mut self, mut bytes: &[u8]) -> Result<(), Error> {
        while !bytes.is_empty() {
            let want = self.rs.remaining();
            assert!(want > 0, "a phase never asks for 0 bytes");
            let (chunk, rest) = bytes.split_at(want.min(bytes.len()));
            bytes = rest;
            let n = chunk.len();
            match self.rs.phase() {
                Phase::Header => {
                    let at = self.rs.filled();
                    self.hdr
                        .get_mut(at..at + n)
                        .expect("a header never exceeds MAX_HEADER_LEN")
                        .copy_from_slice(chunk);
                    if let Some(layout) = self.rs.header_received(n, &self.hdr, self.conn)? {
                        let pdu = HostPdu::decode::<SoftCrc32c>(&self.hdr, &layout)?;
                        check_reencode(&pdu, &self.hdr[..usize::from(layout.hlen)]);
                        if let HostPdu::IcReq(req) = pdu {
                            self.conn = ConnState::Live(icreq::negotiate(&req)?);
                        }
                        self.data.clear();
                        self.digest = DataDigest::new();
                        if layout.data_len == 0 {
                            assert!(self.rs.at_pdu_start());
                            self.finish(pdu, true);
                        } else {
                            assert_eq!(self.rs.remaining(), layout.data_len as usize);
                            self.cur = Some(pdu);
                        }
                    }
                }
                Phase::Data => {
                    self.data.extend_from_slice(chunk);
                    self.digest.update(chunk);
                    if self.rs.body_received(n)? == BodyEvent::PduDone {
                        self.finish_current(true);
                    }
                }
                Phase::DataDigest => {
                    let at = self.rs.filled();
                    self.ddgst[at..at + n].copy_from_slice(chunk);
                    if self.rs.body_received(n)? == BodyEvent::PduDone {
                        let ok = self.digest.matches(self.ddgst);
                        self.finish_current(ok);
                    }
                }
            }
        }
        Ok(())
    }

    fn finish_current(&mut self, ddgst_ok: bool) {
        let pdu = self.cur.take().expect("data without a header");
        self.finish(pdu, ddgst_ok);
    }

    fn finish(&mut self, pdu: HostPdu, ddgst_ok: bool) {
        self.pdus.push(Received {
            pdu,
            data: core::mem::take(&mut self.data),
            ddgst_ok,
        });
    }
}

/// Encoding a decoded header must give back the received bytes, reserved bytes aside.
fn check_reencode(pdu: &HostPdu, wire: &[u8]) {
    let mut buf = [0u8; MAX_HEADER_LEN];
    let n = match pdu {
        HostPdu::IcReq(p) => p.encode(&mut buf),
        HostPdu::TermReq(p) => p.encode(&mut buf),
        HostPdu::Cmd(p) => p.encode(&mut buf),
        HostPdu::Data(p) => p.encode(&mut buf),
    }
    .expect("a decoded header encodes");
    assert_eq!(n, wire.len());
    // Where the reserved bytes start.
    let end = match pdu {
        HostPdu::IcReq(_) => 16,
        HostPdu::TermReq(_) => 14,
        HostPdu::Cmd(_) => 72,
        HostPdu::Data(_) => 20,
    };
    assert_eq!(buf[..end], wire[..end], "re-encoded header differs");
    assert!(
        buf[end..n].iter().all(|&b| b == 0),
        "reserved bytes not zeroed"
    );
}
