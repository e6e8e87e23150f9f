// SPDX-License-Identifier: GPL-2.0

//! The order of what the target sends on a connection.
//!
//! PDUs go out whole, one after the other. A fatal error is answered with a C2HTermReq, which
//! may only go out between two PDUs: the PDU in flight is finished first, no new one starts,
//! and after the C2HTermReq nothing more is sent and the connection closes. Otherwise the
//! host would read the C2HTermReq as part of, say, a read's data.
//!
//! A controller that goes away (the core deletes it) drains its connections instead: nothing
//! more is received, but the commands already with the core still complete and their data
//! and responses go out; once none is left and no PDU is in flight, the connection closes
//! without a C2HTermReq. Otherwise the host would lose the response to the command that
//! made the core give up on the controller (an authentication failure, say) and wait for
//! its timeout. Commands still waiting for their data from the host never execute, and
//! those the core holds until an event (Asynchronous Event Requests) are not waited for.
//!
//! [`Tx`] keeps that order. The send path asks it before starting a PDU
//! ([`Tx::start_pdu`]), tells it when the last byte of a PDU went out ([`Tx::end_pdu`]), and
//! sends what [`Tx::term_pending`] gives it at a PDU boundary; a draining connection tells it
//! whether commands are outstanding ([`Tx::settle_drain`]).

use super::{
    pdu::{
        encode_c2h_term_req,
        MAX_TERM_PLEN, //
    },
    Error,
};

/// Where the send side stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Sending normally.
    Open,
    /// A fatal error happened: finish the PDU in flight, then send the C2HTermReq (if any).
    Terminating,
    /// The controller is going away: PDUs still start, for the commands already with the
    /// core, until none is outstanding.
    Draining,
    /// Everything of a draining connection is sent: it must close (without a C2HTermReq).
    Drained,
    /// Nothing more is sent: the connection must close.
    Closed,
}

/// A new PDU may not start: the connection is terminating or closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Closing;

/// The send side of a connection: see the module documentation.
#[derive(Clone, Debug)]
pub struct Tx {
    state: State,
    /// A PDU is partly sent (or about to be: it was started).
    in_pdu: bool,
    /// The C2HTermReq to send, and how much of it went out.
    term: [u8; MAX_TERM_PLEN],
    term_len: usize,
    term_sent: usize,
}

impl Default for Tx {
    fn default() -> Self {
        Self::new()
    }
}

impl Tx {
    /// An open connection, between PDUs.
    pub const fn new() -> Self {
        Self {
            state: State::Open,
            in_pdu: false,
            term: [0; MAX_TERM_PLEN],
            term_len: 0,
            term_sent: 0,
        }
    }

    /// Starts a PDU. Fails once the connection terminates or is drained: the PDU must not be
    /// sent.
    pub fn start_pdu(&mut self) -> Result<(), Closing> {
        if !self.is_open() {
            return Err(Closing);
        }
        self.in_pdu = true;
        Ok(())
    }

    /// The last byte of the PDU in flight went out.
    pub fn end_pdu(&mut self) {
        self.in_pdu = false;
    }

    /// Whether a PDU was started and not all of it went out.
    pub const fn in_pdu(&self) -> bool {
        self.in_pdu
    }

    /// Whether PDUs may start: the connection is open or draining.
    pub const fn is_open(&self) -> bool {
        matches!(self.state, State::Open | State::Draining)
    }

    /// Whether everything is sent that will be: the connection must close now.
    pub const fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed | State::Drained)
    }

    /// Whether the connection is draining (nothing more is received; no new R2T is sent).
    pub const fn is_draining(&self) -> bool {
        matches!(self.state, State::Draining)
    }

    /// Whether the connection closes because it was drained, not for an error.
    pub const fn is_drained(&self) -> bool {
        matches!(self.state, State::Drained)
    }

    /// The controller is going away: drain the connection (see the module documentation).
    /// Only an open connection drains: a terminating one sends its C2HTermReq and closes.
    pub fn drain(&mut self) {
        if self.state == State::Open {
            self.state = State::Draining;
        }
    }

    /// For a draining connection: once no PDU is in flight and no command is `outstanding`
    /// (executing, or completed with its response not yet out), it is drained
    /// ([`Tx::is_drained`]) and must close.
    pub fn settle_drain(&mut self, outstanding: bool) {
        if self.state == State::Draining && !self.in_pdu && !outstanding {
            self.state = State::Drained;
        }
    }

    /// A fatal error: no new PDU starts, and after the PDU in flight the C2HTermReq for `err`
    /// (echoing `bad_header`, the header of the PDU in error as far as it arrived) goes out,
    /// or nothing if `err` has no C2HTermReq. Only the first error counts, and only on an
    /// open connection (a draining one receives nothing that could be in error).
    pub fn terminate(&mut self, err: Error, bad_header: &[u8]) {
        if self.state != State::Open {
            return;
        }
        self.state = State::Terminating;
        self.term_sent = 0;
        self.term_len = err
            .term()
            .and_then(|(fes, fei)| encode_c2h_term_req(fes, fei, bad_header, &mut self.term).ok())
            .unwrap_or(0);
    }

    /// The connection failed (the socket is gone, for example): nothing more can be sent.
    pub fn abort(&mut self) {
        self.state = State::Closed;
        self.in_pdu = false;
    }

    /// At a PDU boundary of a terminating connection, what is left to send of the
    /// C2HTermReq; when nothing is left, the connection is closed and this returns `None`.
    /// Returns `None` (and changes nothing) while the connection is open or a PDU is in flight.
    pub fn term_pending(&mut self) -> Option<&[u8]> {
        if self.state != State::Terminating || self.in_pdu {
            return None;
        }
        if self.term_sent >= self.term_len {
            self.state = State::Closed;
            return None;
        }
        self.term.get(self.term_sent..self.term_len)
    }

    /// `n` more bytes of the C2HTermReq went out.
    pub fn term_progress(&mut self, n: usize) {
        if self.state == State::Terminating && !self.in_pdu {
            self.term_sent = self.term_sent.saturating_add(n).min(self.term_len);
        }
    }

    /// Whether the C2HTermReq started going out (for statistics).
    pub const fn term_started(&self) -> bool {
        self.term_sent > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::pdu::{
        PduType,
        TERM_HLEN, //
    };

    #[test]
    fn open_connection_sends_pdus() {
        let mut tx = Tx::new();
        assert!(tx.is_open() && !tx.in_pdu());
        assert_eq!(tx.start_pdu(), Ok(()));
        assert!(tx.in_pdu());
        tx.end_pdu();
        assert_eq!(tx.term_pending(), None);
        assert!(!tx.is_closed());
    }

    #[test]
    fn term_waits_for_the_pdu_in_flight() {
        let mut tx = Tx::new();
        tx.start_pdu().unwrap();
        tx.terminate(Error::InvalidHeaderField(0), &[0x42, 0, 24, 0]);
        // No new PDU, and the C2HTermReq waits while one is in flight.
        assert_eq!(tx.term_pending(), None);
        tx.term_progress(5);
        assert!(!tx.term_started());
        tx.end_pdu();
        assert_eq!(tx.start_pdu(), Err(Closing));
        let term = tx.term_pending().unwrap().to_vec();
        assert_eq!(term.len(), TERM_HLEN + 4);
        assert_eq!(term[0], PduType::C2hTermReq as u8);
        assert_eq!(u16::from_le_bytes([term[8], term[9]]), 1);
        assert_eq!(term[TERM_HLEN..], [0x42, 0, 24, 0]);
        // Sent in pieces, then closed.
        tx.term_progress(10);
        assert!(tx.term_started());
        assert_eq!(tx.term_pending().unwrap(), &term[10..]);
        tx.term_progress(100);
        assert_eq!(tx.term_pending(), None);
        assert!(tx.is_closed());
        assert_eq!(tx.start_pdu(), Err(Closing));
    }

    #[test]
    fn first_error_wins_and_some_close_silently() {
        let mut tx = Tx::new();
        tx.terminate(Error::PduSequence, &[]);
        tx.terminate(Error::HeaderDigest, &[]);
        let term = tx.term_pending().unwrap();
        assert_eq!(u16::from_le_bytes([term[8], term[9]]), 2);

        let mut silent = Tx::new();
        silent.terminate(Error::BadTermReq, &[1, 2, 3]);
        assert_eq!(silent.term_pending(), None);
        assert!(silent.is_closed());

        let mut closed = Tx::new();
        closed.start_pdu().unwrap();
        closed.terminate(Error::BufferSize, &[]);
        assert_eq!(closed.term_pending(), None);
        assert!(!closed.is_closed());
        closed.end_pdu();
        assert_eq!(closed.term_pending(), None);
        assert!(closed.is_closed());

        let mut aborted = Tx::new();
        aborted.start_pdu().unwrap();
        aborted.terminate(Error::PduSequence, &[]);
        aborted.abort();
        assert!(aborted.is_closed() && !aborted.in_pdu());
        assert_eq!(aborted.term_pending(), None);
        assert_eq!(aborted.start_pdu(), Err(Closing));
    }

    #[test]
    fn drain_sends_until_nothing_is_outstanding() {
        let mut tx = Tx::new();
        tx.drain();
        assert!(tx.is_draining() && tx.is_open() && !tx.is_closed());
        // Responses of commands already with the core still start.
        assert_eq!(tx.start_pdu(), Ok(()));
        // Not while a PDU is in flight, nor while commands are outstanding.
        tx.settle_drain(false);
        assert!(tx.is_draining());
        tx.end_pdu();
        tx.settle_drain(true);
        assert!(tx.is_draining());
        assert_eq!(tx.term_pending(), None);
        tx.settle_drain(false);
        assert!(tx.is_drained() && tx.is_closed() && !tx.is_open());
        assert_eq!(tx.start_pdu(), Err(Closing));
        // A drained connection sends no C2HTermReq.
        tx.terminate(Error::PduSequence, &[]);
        assert_eq!(tx.term_pending(), None);
        assert!(tx.is_drained());
        tx.abort();
        assert!(tx.is_closed() && !tx.is_drained());
    }

    #[test]
    fn drain_neither_overrides_nor_is_overridden_by_an_error() {
        // A terminating connection sends its C2HTermReq, drain or not.
        let mut term = Tx::new();
        term.terminate(Error::PduSequence, &[]);
        term.drain();
        assert!(!term.is_draining());
        term.settle_drain(false);
        assert!(term.term_pending().is_some());
        assert!(!term.is_drained());

        // A draining connection receives nothing, so an error there changes nothing.
        let mut draining = Tx::new();
        draining.drain();
        draining.terminate(Error::HeaderDigest, &[]);
        assert!(draining.is_draining());
        assert_eq!(draining.term_pending(), None);

        // An open connection is not settled by settle_drain.
        let mut open = Tx::new();
        open.settle_drain(false);
        assert!(open.is_open() && !open.is_draining() && !open.is_closed());
    }
}
