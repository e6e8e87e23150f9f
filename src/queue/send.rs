// SPDX-License-Identifier: GPL-2.0

//! The send path: control PDUs, R2Ts, C2HData (headers copied, data pages spliced without
//! copying), data digests and response capsules, all non-blocking.

use super::{
    IoState,
    Queue, //
};
use crate::{
    command::{
        Cmd,
        CmdState,
        Life,
        Stage, //
    },
    ffi::{
        sg::{
            sg_page,
            SgBuffer, //
        },
        socket::SendFlags,
        sys,
    },
    placement::PageChunk,
    proto::{
        digest::DataDigest,
        icreq::Negotiated,
        pdu::{
            CapsuleResp,
            ConnState,
            DataPdu,
            PduHeader, //
        },
        r2t::DataPlan,
    },
    stats::STATS,
    transport::KernelCrc,
};
use kernel::{
    prelude::*,
    sync::atomic::Relaxed, //
};

/// What became of a write waiting for its R2T.
enum R2tStart {
    /// Its R2T is being sent.
    Started,
    /// The queue's bound on solicited data does not allow it yet: it stays first in line.
    Deferred,
    /// It could not get a buffer: it was completed with an error instead.
    Failed,
}

impl Queue {
    /// Sends up to `budget` times; returns how many made progress.
    pub(super) fn try_send(&self, io: &mut IoState, budget: u32, ops: &mut u32) -> Result<u32> {
        let mut done = 0;
        while done < budget {
            if !self.send_one(io, done + 1 == budget)? {
                break;
            }
            done += 1;
            *ops += 1;
        }
        Ok(done)
    }

    /// Makes progress on one PDU; returns `false` when there is nothing to send or the socket
    /// is full.
    fn send_one(&self, io: &mut IoState, last_in_batch: bool) -> Result<bool> {
        // A terminating connection sends only the C2HTermReq, at a PDU boundary.
        if !io.tx.is_open() && !io.tx.in_pdu() {
            return self.send_term(io);
        }
        if io.send.ctrl_sent < io.send.ctrl_len {
            return self.send_ctrl(io);
        }
        if io.send.cur.is_null() && !self.next_to_send(io) {
            return Ok(false);
        }
        if !io.tx.in_pdu() && io.tx.start_pdu().is_err() {
            return self.send_term(io);
        }
        // SAFETY: `cur` is a live command of this queue.
        let cmd = unsafe { &*io.send.cur };
        let neg = negotiated(io);
        // Only what goes out right after this PDU counts: a PDU sent with MSG_MORE and nothing
        // behind it would sit corked in the socket.
        let idle = io.send.ready.is_empty() && !Self::r2t_ready(io);
        let more_queued = !last_in_batch && !idle;
        // SAFETY: I/O work, no other command state reference alive.
        let st = unsafe { cmd.st() };
        if !self.send_pdu(st, neg, more_queued)? {
            return Ok(false);
        }
        io.tx.end_pdu();
        match st.stage {
            // The host may send the data now; the command waits for it.
            Stage::R2t => {
                st.h2c.r2t_sent();
                io.send.cur = core::ptr::null();
            }
            Stage::DataHeader | Stage::Data | Stage::DataDigest if !st.success_in_data => {
                Self::prepare_response(cmd, st, neg);
            }
            // The response (or the data with the SUCCESS flag) is out: the command is done.
            Stage::DataHeader | Stage::Data | Stage::DataDigest | Stage::Response => {
                io.send.cur = core::ptr::null();
                if st.buf.is_some() {
                    // SAFETY: The core is done with the request.
                    unsafe { cmd.req.clear_data() };
                    st.buf = None;
                }
                self.put_cmd(cmd);
            }
        }
        Ok(true)
    }

    /// Sends the pending control PDU (the ICResp); returns whether it is all out.
    fn send_ctrl(&self, io: &mut IoState) -> Result<bool> {
        if !io.tx.in_pdu() && io.tx.start_pdu().is_err() {
            return self.send_term(io);
        }
        let Some(rest) = io.send.ctrl.get(io.send.ctrl_sent..io.send.ctrl_len) else {
            return Ok(false);
        };
        let n = self.sock.send(rest, SendFlags { more: false })?;
        io.send.ctrl_sent += n;
        if io.send.ctrl_sent < io.send.ctrl_len {
            return Ok(false);
        }
        io.tx.end_pdu();
        Ok(true)
    }

    /// Sends the rest of the C2HTermReq of a terminating connection; returns whether any of
    /// it went out. Once it is all out, the connection is closed ([`Tx::is_closed`]).
    ///
    /// [`Tx::is_closed`]: crate::proto::tx::Tx::is_closed
    fn send_term(&self, io: &mut IoState) -> Result<bool> {
        let first = !io.tx.term_started();
        let n = match io.tx.term_pending() {
            Some(rest) => self.sock.send(rest, SendFlags { more: false })?,
            None => return Ok(false),
        };
        if n > 0 && first {
            STATS.tx_c2h_term.add(1, Relaxed);
        }
        io.tx.term_progress(n);
        Ok(n > 0)
    }

    /// Picks the next command to send and prepares its PDU: an R2T if one is waiting and the
    /// bound allows, else a completed command. Returns `false` when there is none.
    fn next_to_send(&self, io: &mut IoState) -> bool {
        if io.send.ready.is_empty() {
            self.collect_completions(io);
        }
        let first = io.send.r2t_wait.first();
        if !first.is_null() {
            // SAFETY: Commands on the lists are live commands of this queue.
            match self.start_r2t(io, unsafe { &*first }) {
                R2tStart::Deferred => {}
                started => {
                    // SAFETY: I/O work; it is `first`, which is on this list.
                    unsafe { io.send.r2t_wait.pop() };
                    if let R2tStart::Started = started {
                        io.send.cur = first;
                        return true;
                    }
                }
            }
        }
        // SAFETY: I/O work, no other command state reference alive.
        let Some(cmd) = (unsafe { io.send.ready.pop() }) else {
            return false;
        };
        // SAFETY: As above.
        self.prepare(cmd, unsafe { cmd.st() }, negotiated(io));
        io.send.cur = cmd;
        true
    }

    /// Whether the first write waiting for its R2T may have it now.
    fn r2t_ready(io: &mut IoState) -> bool {
        let first = io.send.r2t_wait.first();
        if first.is_null() {
            return false;
        }
        // SAFETY: Commands on the lists are live commands of this queue; I/O work, and no
        // other command state reference is alive.
        let len = unsafe { (*first).st().plan.len() };
        io.send.r2t_budget.can_take(len)
    }

    /// Asks for a write's data: takes the bytes from the queue's bound, allocates the buffer
    /// (only now, so that a host cannot make the target hold buffers for data it never sends)
    /// and builds the R2T.
    fn start_r2t(&self, io: &mut IoState, cmd: &Cmd) -> R2tStart {
        // SAFETY: I/O work, no other command state reference alive.
        let st = unsafe { cmd.st() };
        let len = st.plan.len();
        if !io.send.r2t_budget.try_take(len) {
            if !st.r2t_deferred {
                st.r2t_deferred = true;
                STATS.r2t_deferred.add(1, Relaxed);
            }
            return R2tStart::Deferred;
        }
        let r2t = st.h2c.r2t(cmd.ttag, negotiated(io));
        let buf = SgBuffer::alloc(len, crate::highmem_buffers());
        let (Some(r2t), Ok(buf)) = (r2t, buf) else {
            // No memory (or, against the queue's bookkeeping, no R2T to send for it): fail
            // the command rather than send anything for it.
            io.send.r2t_budget.release(len);
            st.life = Life::Executing;
            // SAFETY: Initialised and not executed.
            unsafe { cmd.req.complete(sys::NVME_SC_INTERNAL as u16) };
            return R2tStart::Failed;
        };
        // SAFETY: Initialised and not executed; the buffer lives in the slot until the
        // response has been sent.
        unsafe { cmd.req.set_data(&buf, len) };
        st.buf = Some(buf);
        st.hdr_len = r2t
            .encode_with_digest::<KernelCrc>(&mut st.hdr)
            .unwrap_or(0);
        st.sent = 0;
        st.stage = Stage::R2t;
        STATS.tx_r2t.add(1, Relaxed);
        R2tStart::Started
    }

    /// Sets up what to send for a completed command taken off the ready list: its read data,
    /// or its response.
    fn prepare(&self, cmd: &Cmd, st: &mut CmdState, neg: Negotiated) {
        st.sent = 0;
        st.sg_index = 0;
        st.success_in_data = false;
        // SAFETY: The command is completed (it came through `queue_response`, or the core
        // rejected it), so the core wrote its completion entry.
        let status = unsafe { cmd.req.status() };
        if let (DataPlan::ToHost(len), 0) = (st.plan, status) {
            let success = self.pair.sqhd_disabled();
            if let Ok(pdu) = DataPdu::c2h(st.cid, 0, len, true, success, neg) {
                st.hdr_len = pdu
                    .encode_with_digest::<KernelCrc>(&mut st.hdr)
                    .unwrap_or(0);
                st.success_in_data = success;
                st.stage = Stage::DataHeader;
                if neg.ddgst {
                    st.ddgst = data_digest(st, len).to_le_bytes();
                }
                STATS.tx_c2h_data.add(1, Relaxed);
                return;
            }
        }
        Self::prepare_response(cmd, st, neg);
    }

    fn prepare_response(cmd: &Cmd, st: &mut CmdState, neg: Negotiated) {
        // SAFETY: The command is completed, see `prepare`.
        let cqe = unsafe { cmd.req.cqe_bytes() };
        st.hdr_len = CapsuleResp::new(cqe, neg)
            .encode_with_digest::<KernelCrc>(&mut st.hdr)
            .unwrap_or(0);
        st.sent = 0;
        st.stage = Stage::Response;
        STATS.tx_rsp.add(1, Relaxed);
    }

    /// Sends as much of the command's current PDU as the socket takes. Returns `true` when
    /// the PDU is out: an R2T, a response, or a C2HData PDU with its data and digest.
    fn send_pdu(&self, st: &mut CmdState, neg: Negotiated, more_queued: bool) -> Result<bool> {
        loop {
            match st.stage {
                Stage::R2t | Stage::Response => return self.send_hdr(st, more_queued),
                Stage::DataHeader => {
                    if !self.send_hdr(st, true)? {
                        return Ok(false);
                    }
                    st.stage = Stage::Data;
                    st.sent = 0;
                }
                Stage::Data => {
                    if !self.send_data(st, neg, more_queued)? {
                        return Ok(false);
                    }
                    st.sent = 0;
                    if !neg.ddgst {
                        return Ok(true);
                    }
                    st.stage = Stage::DataDigest;
                }
                Stage::DataDigest => {
                    let more = !st.success_in_data || more_queued;
                    let Some(rest) = st.ddgst.get(st.sent..) else {
                        return Ok(true);
                    };
                    st.sent += self.sock.send(rest, SendFlags { more })?;
                    return Ok(st.sent >= st.ddgst.len());
                }
            }
        }
    }

    /// Sends the rest of the prepared header; returns whether it is all out.
    fn send_hdr(&self, st: &mut CmdState, more: bool) -> Result<bool> {
        let Some(rest) = st.hdr.get(st.sent..st.hdr_len) else {
            return Ok(true);
        };
        st.sent += self.sock.send(rest, SendFlags { more })?;
        Ok(st.sent >= st.hdr_len)
    }

    /// Sends the read data page by page without copying; returns whether it is all out.
    fn send_data(&self, st: &mut CmdState, neg: Negotiated, more_queued: bool) -> Result<bool> {
        let Some(buf) = st.buf.as_ref() else {
            return Ok(true);
        };
        let entries = buf.entries();
        while let Some(e) = entries.get(st.sg_index) {
            // `sent` is below the entry length, a `u32`.
            let offset = st.sent as u32;
            let left = e.length.saturating_sub(offset);
            let last = st.sg_index + 1 == entries.len();
            let more = !last || neg.ddgst || !st.success_in_data || more_queued;
            let n = self.sock.send_page(e, offset, left, SendFlags { more })?;
            if n == 0 {
                return Ok(false);
            }
            st.sent += n;
            STATS.bytes_sent.add(n as u64, Relaxed);
            if st.sent >= e.length as usize {
                st.sg_index += 1;
                st.sent = 0;
            }
        }
        Ok(true)
    }
}

/// The negotiated digests (none before the ICReq).
fn negotiated(io: &IoState) -> Negotiated {
    match io.conn {
        ConnState::Live(neg) => neg,
        ConnState::AwaitIcReq => Negotiated::default(),
    }
}

/// The data digest of the first `len` bytes of the command's buffer.
fn data_digest(st: &CmdState, len: u32) -> u32 {
    let mut digest = DataDigest::<KernelCrc>::new();
    let Some(buf) = st.buf.as_ref() else {
        return digest.finish();
    };
    let mut left = len as usize;
    for e in buf.entries() {
        let take = left.min(e.length as usize);
        if take == 0 {
            break;
        }
        let Some(page) = sg_page(e) else {
            break;
        };
        // SAFETY: The command completed: the core is done with the buffer and only the I/O
        // work touches it until it is freed; the range lies within the entry's page.
        let chunk = unsafe { PageChunk::new(page, e.offset as usize, take) };
        chunk.with_mapped(|mem| digest.update(mem));
        left -= take;
    }
    digest.finish()
}
