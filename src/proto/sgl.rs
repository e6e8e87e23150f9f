// SPDX-License-Identifier: GPL-2.0

//! Where received bytes go: scatterlist spans and the receive phases of a PDU.
//!
//! [`spans`] turns a data range of a command into pieces of its scatterlist entries, given only
//! the entry lengths. It is the checked form of the C target's `nvmet_tcp_build_pdu_iovec()`,
//! whose offset arithmetic needed two fixes ("add bounds checks in nvmet_tcp_build_pdu_iovec"
//! and "fix out-of-bounds access when receiving multiple h2cdata PDUs").
//!
//! [`RecvState`] counts the bytes of the PDU being received, phase by phase, so that the socket
//! code always reads exactly what the current phase still needs.

use super::{
    digest::DIGEST_LEN,
    pdu::{
        CommonHeader,
        ConnState,
        Layout,
        COMMON_HLEN, //
    },
    Error,
};

/// A piece of a data range inside one scatterlist entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// Index of the entry.
    pub index: usize,
    /// Offset of the piece within the entry.
    pub offset: u32,
    /// Length of the piece; never 0.
    pub len: u32,
}

/// Iterator over the [`Span`]s of a data range, created by [`spans`].
#[derive(Clone, Debug)]
pub struct Spans<I> {
    /// The remaining entry lengths.
    lens: I,
    /// Index of the next entry.
    index: usize,
    /// Bytes still to skip before the range starts.
    skip: u32,
    /// Bytes of the range not yet yielded.
    left: u32,
}

/// Splits the range `[offset, offset + len)` of data laid out in entries of lengths `lens`.
///
/// Fails with [`Error::DataOutOfRange`] unless the range lies within the entries. The spans then
/// cover the range exactly, in order, each inside its entry; empty entries are skipped.
pub fn spans<L>(lens: L, offset: u32, len: u32) -> Result<Spans<L::IntoIter>, Error>
where
    L: IntoIterator<Item = u32>,
    L::IntoIter: Clone,
{
    let lens = lens.into_iter();
    let end = offset.checked_add(len).ok_or(Error::DataOutOfRange)?;
    let total = lens
        .clone()
        .fold(0u64, |sum, l| sum.saturating_add(u64::from(l)));
    if u64::from(end) > total {
        return Err(Error::DataOutOfRange);
    }
    Ok(Spans {
        lens,
        index: 0,
        skip: offset,
        left: len,
    })
}

impl<I: Iterator<Item = u32>> Iterator for Spans<I> {
    type Item = Span;

    fn next(&mut self) -> Option<Span> {
        while self.left > 0 {
            let entry_len = self.lens.next()?;
            let index = self.index;
            // Cannot saturate: there are fewer entries than addressable bytes.
            self.index = index.saturating_add(1);
            let Some(avail) = entry_len.checked_sub(self.skip).filter(|&a| a > 0) else {
                self.skip = self.skip.saturating_sub(entry_len);
                continue;
            };
            let span = Span {
                index,
                offset: self.skip,
                len: avail.min(self.left),
            };
            self.skip = 0;
            self.left -= span.len;
            return Some(span);
        }
        None
    }
}

/// Finds the entry holding byte `offset` of data laid out in entries of lengths `lens`.
///
/// Returns the entry index and the offset within it.
pub fn locate<L>(lens: L, offset: u32) -> Result<(usize, u32), Error>
where
    L: IntoIterator<Item = u32>,
    L::IntoIter: Clone,
{
    spans(lens, offset, 1)?
        .next()
        .map(|s| (s.index, s.offset))
        .ok_or(Error::DataOutOfRange)
}

/// The part of a PDU being received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// The header and its digest, into the header buffer.
    Header,
    /// The PDU data, into the command's buffer or discarded.
    Data,
    /// The data digest.
    DataDigest,
}

/// What [`RecvState::body_received`] completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyEvent {
    /// The phase needs more bytes.
    More,
    /// The data is complete and its digest follows.
    DataDone,
    /// The PDU is complete; the next bytes start a new PDU.
    PduDone,
}

/// Receive progress within the current PDU (the C target's `rcv_state`, `offset` and `left`).
///
/// The caller owns the buffers. Header bytes go into a header buffer of at least
/// [`super::pdu::MAX_HEADER_LEN`] bytes at offset [`RecvState::filled`]; data and the data
/// digest go wherever the caller puts them. After an error the connection must be closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecvState {
    /// The current phase.
    phase: Phase,
    /// Bytes of the phase received so far.
    filled: u32,
    /// Bytes the phase needs in total.
    want: u32,
    /// The layout of the PDU, once its common header is in.
    layout: Option<Layout>,
}

impl Default for RecvState {
    fn default() -> Self {
        Self::new()
    }
}

impl RecvState {
    /// Waiting for the common header of a new PDU.
    pub const fn new() -> Self {
        Self {
            phase: Phase::Header,
            filled: 0,
            want: COMMON_HLEN as u32,
            layout: None,
        }
    }

    /// The current phase.
    pub const fn phase(&self) -> Phase {
        self.phase
    }

    /// Bytes of the current phase received so far.
    pub const fn filled(&self) -> usize {
        self.filled as usize
    }

    /// Bytes the current phase still needs; never 0.
    pub const fn remaining(&self) -> usize {
        self.want.saturating_sub(self.filled) as usize
    }

    /// The layout of the current PDU, once its common header has been validated.
    pub const fn layout(&self) -> Option<Layout> {
        self.layout
    }

    /// Whether no byte of the next PDU has arrived.
    pub const fn at_pdu_start(&self) -> bool {
        self.filled == 0 && self.layout.is_none()
    }

    /// Adds `n` header bytes, already written to `hdr` after the [`Self::filled`] earlier ones.
    ///
    /// Once the common header is complete it is validated in `conn`. Returns the PDU's layout
    /// when the whole header, with digest, is in `hdr`: the caller then decodes the header (see
    /// [`super::pdu::HostPdu::decode`]). If the PDU has data, the data phase follows; otherwise
    /// the next PDU starts.
    pub fn header_received(
        &mut self,
        n: usize,
        hdr: &[u8],
        conn: ConnState,
    ) -> Result<Option<Layout>, Error> {
        self.take(Phase::Header, n)?;
        let layout = match self.layout {
            Some(layout) => layout,
            None if self.filled() == COMMON_HLEN => {
                let layout = Layout::validate(&CommonHeader::parse(hdr)?, conn)?;
                self.layout = Some(layout);
                self.want = layout.header_len() as u32;
                layout
            }
            None => return Ok(None),
        };
        if self.filled < self.want {
            return Ok(None);
        }
        if layout.data_len > 0 {
            self.enter(Phase::Data, layout.data_len);
        } else {
            *self = Self::new();
        }
        Ok(Some(layout))
    }

    /// Adds `n` bytes of data or data digest.
    pub fn body_received(&mut self, n: usize) -> Result<BodyEvent, Error> {
        let phase = self.phase;
        if phase == Phase::Header {
            return Err(Error::BufferSize);
        }
        self.take(phase, n)?;
        if self.filled < self.want {
            return Ok(BodyEvent::More);
        }
        if phase == Phase::Data && self.layout.is_some_and(|l| l.ddgst) {
            self.enter(Phase::DataDigest, DIGEST_LEN as u32);
            return Ok(BodyEvent::DataDone);
        }
        *self = Self::new();
        Ok(BodyEvent::PduDone)
    }

    /// Accounts for `n` bytes of `phase`, which must be the current one.
    fn take(&mut self, phase: Phase, n: usize) -> Result<(), Error> {
        if phase != self.phase || n > self.remaining() {
            return Err(Error::BufferSize);
        }
        // `n` is at most `want - filled`, so neither step fails.
        self.filled = u32::try_from(n)
            .ok()
            .and_then(|n| self.filled.checked_add(n))
            .ok_or(Error::BufferSize)?;
        Ok(())
    }

    /// Starts receiving `want` bytes of `phase`.
    fn enter(&mut self, phase: Phase, want: u32) {
        self.phase = phase;
        self.filled = 0;
        self.want = want;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{
        icreq::Negotiated,
        pdu::PduType, //
    };
    use std::{
        vec,
        vec::Vec, //
    };

    fn all(lens: &[u32], offset: u32, len: u32) -> Result<Vec<Span>, Error> {
        Ok(spans(lens.iter().copied(), offset, len)?.collect())
    }

    fn s(index: usize, offset: u32, len: u32) -> Span {
        Span { index, offset, len }
    }

    #[test]
    fn spans_of_page_sized_entries() {
        let pages = [4096, 4096, 4096, 100];
        assert_eq!(all(&pages, 0, 4096), Ok(vec![s(0, 0, 4096)]));
        assert_eq!(
            all(&pages, 4000, 5000),
            Ok(vec![s(0, 4000, 96), s(1, 0, 4096), s(2, 0, 808)])
        );
        assert_eq!(all(&pages, 12288, 100), Ok(vec![s(3, 0, 100)]));
        assert_eq!(all(&pages, 12388, 0), Ok(vec![]));
        assert_eq!(all(&pages, 12288, 101), Err(Error::DataOutOfRange));
        assert_eq!(all(&pages, u32::MAX, 2), Err(Error::DataOutOfRange));
    }

    #[test]
    fn spans_skip_empty_and_odd_entries() {
        let lens = [0, 10, 0, 0, 5, 7];
        assert_eq!(
            all(&lens, 0, 22),
            Ok(vec![s(1, 0, 10), s(4, 0, 5), s(5, 0, 7)])
        );
        assert_eq!(all(&lens, 10, 6), Ok(vec![s(4, 0, 5), s(5, 0, 1)]));
        assert_eq!(all(&[], 0, 0), Ok(vec![]));
        assert_eq!(all(&[], 0, 1), Err(Error::DataOutOfRange));
    }

    #[test]
    fn locate_finds_the_entry() {
        let lens = [4096u32, 4096, 512];
        assert_eq!(locate(lens, 0), Ok((0, 0)));
        assert_eq!(locate(lens, 4096), Ok((1, 0)));
        assert_eq!(locate(lens, 8703), Ok((2, 511)));
        assert_eq!(locate(lens, 8704), Err(Error::DataOutOfRange));
    }

    /// Feeds one header byte at a time; returns the layout.
    fn feed_header(rs: &mut RecvState, bytes: &[u8], conn: ConnState) -> Result<Layout, Error> {
        let mut hdr = [0u8; 128];
        for (i, &b) in bytes.iter().enumerate() {
            assert_eq!(rs.filled(), i);
            hdr[i] = b;
            if let Some(l) = rs.header_received(1, &hdr, conn)? {
                return Ok(l);
            }
        }
        panic!("header incomplete");
    }

    #[test]
    fn recv_phases_of_a_capsule_with_data() {
        let neg = Negotiated {
            hdgst: true,
            ddgst: true,
        };
        let mut rs = RecvState::new();
        assert!(rs.at_pdu_start());
        let mut bytes = [0u8; 76];
        bytes[..8].copy_from_slice(
            &CommonHeader::new(PduType::CapsuleCmd, 3, 76, 76 + 10 + 4).to_bytes(),
        );
        let l = feed_header(&mut rs, &bytes, ConnState::Live(neg)).unwrap();
        assert_eq!(l.data_len, 10);
        assert_eq!((rs.phase(), rs.remaining()), (Phase::Data, 10));
        assert_eq!(rs.body_received(11), Err(Error::BufferSize));
        assert_eq!(rs.body_received(4), Ok(BodyEvent::More));
        assert_eq!(rs.body_received(6), Ok(BodyEvent::DataDone));
        assert_eq!((rs.phase(), rs.remaining()), (Phase::DataDigest, 4));
        assert_eq!(rs.body_received(4), Ok(BodyEvent::PduDone));
        assert_eq!(rs, RecvState::new());
    }

    #[test]
    fn recv_header_only_pdu_and_errors() {
        let mut rs = RecvState::new();
        let hdr = CommonHeader::new(PduType::IcReq, 0, 0, 128).to_bytes();
        let mut buf = [0u8; 128];
        buf[..8].copy_from_slice(&hdr);
        assert_eq!(rs.header_received(8, &buf, ConnState::AwaitIcReq), Ok(None));
        assert_eq!(rs.remaining(), 120);
        assert_eq!(rs.body_received(1), Err(Error::BufferSize));
        assert!(rs
            .header_received(120, &buf, ConnState::AwaitIcReq)
            .unwrap()
            .is_some());
        assert!(rs.at_pdu_start());
        // The common header is validated as soon as it is complete.
        assert_eq!(
            rs.header_received(8, &buf, ConnState::Live(Negotiated::default())),
            Err(Error::PduSequence)
        );
        let mut rs = RecvState::new();
        assert_eq!(
            rs.header_received(9, &buf, ConnState::AwaitIcReq),
            Err(Error::BufferSize)
        );
    }
}
