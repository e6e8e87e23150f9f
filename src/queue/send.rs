// SPDX-License-Identifier: GPL-2.0

//! The send path: control PDUs, R2Ts, C2HData (headers copied, data pages spliced without
//! copying), data digests and response capsules, all non-blocking.

use super::{
    IoState,
    Queue, //
};
use crate::{
    command::{
        CmdState,
        Life,
        Stage, //
    },
    ffi::{
        req::{
            cqe_status,
            Req, //
        },
        sg::SgBuffer,
        socket::SendFlags,
        sys, KernelCrc,
    },
    params, placement,
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
};
use kernel::{
    prelude::*,
    sync::{
        atomic::Relaxed,
        Arc, //
    },
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
    /// Sends up to `budget` times. Returns whether the budget ran out with more perhaps left
    /// to send; otherwise the last attempt found nothing to send or a full socket, and a
    /// completion or the socket's write space queues the I/O work again.
    pub(super) fn try_send(
        self: &Arc<Self>,
        io: &mut IoState,
        budget: u32,
        ops: &mut u32,
    ) -> Result<bool> {
        for i in 0..budget {
            if !self.send_one(io, i + 1 == budget)? {
                return Ok(false);
            }
            *ops += 1;
        }
        Ok(true)
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
        if io.send.cur.is_none() && !self.next_to_send(io)? {
            return Ok(false);
        }
        if !io.tx.in_pdu() && io.tx.start_pdu().is_err() {
            return self.send_term(io);
        }
        let neg = negotiated(io);
        // Only what goes out right after this PDU counts: a PDU sent with MSG_MORE and nothing
        // behind it would sit corked in the socket.
        let idle = io.send.ready.is_empty() && !Self::r2t_ready(io);
        let more_queued = !last_in_batch && !idle;
        let Some(tag) = io.send.cur else {
            return Ok(false);
        };
        let Some(st) = io.cmds.get(tag) else {
            io.send.cur = None;
            return Ok(false);
        };
        if !self.send_pdu(st, neg, more_queued)? {
            return Ok(false);
        }
        io.tx.end_pdu();
        match st.stage {
            // The host may send the data now; the command waits for it.
            Stage::R2t => {
                st.h2c.r2t_sent();
                io.send.cur = None;
            }
            Stage::DataHeader | Stage::Data | Stage::DataDigest if !st.success_in_data => {
                Self::prepare_response(st, neg);
            }
            // The response (or the data with the SUCCESS flag) is out: the command is done.
            Stage::DataHeader | Stage::Data | Stage::DataDigest | Stage::Response => {
                io.send.cur = None;
                io.cmds.put(tag);
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
    fn next_to_send(&self, io: &mut IoState) -> Result<bool> {
        if io.send.ready.is_empty() {
            self.collect_completions(io);
        }
        // A draining connection receives nothing: it solicits no data.
        let r2t_first = io.send.r2t_wait.first().filter(|_| !io.tx.is_draining());
        if let Some(first) = r2t_first {
            match self.start_r2t(io, first) {
                R2tStart::Deferred => {}
                started => {
                    io.cmds.pop(&mut io.send.r2t_wait);
                    if let R2tStart::Started = started {
                        io.send.cur = Some(first);
                        return Ok(true);
                    }
                }
            }
        }
        let Some(tag) = io.cmds.pop(&mut io.send.ready) else {
            return Ok(false);
        };
        let neg = negotiated(io);
        // Tags on the lists are the queue's own; a broken one is a bug, which ends the
        // connection rather than lose the command.
        let (Some(st), Some(cmd)) = (io.cmds.get(tag), self.req(tag)) else {
            return Err(EIO);
        };
        self.prepare(cmd, st, neg)?;
        io.send.cur = Some(tag);
        Ok(true)
    }

    /// Whether the first write waiting for its R2T may have it now.
    fn r2t_ready(io: &mut IoState) -> bool {
        let Some(first) = io.send.r2t_wait.first().filter(|_| !io.tx.is_draining()) else {
            return false;
        };
        let len = io.cmds.get(first).map_or(0, |st| st.plan.len());
        io.send.r2t_budget.can_take(len)
    }

    /// Asks for a write's data: takes the bytes from the queue's bound, allocates the buffer
    /// (only now, so that a host cannot make the target hold buffers for data it never sends)
    /// and builds the R2T.
    fn start_r2t(&self, io: &mut IoState, tag: u16) -> R2tStart {
        let neg = negotiated(io);
        let (Some(st), Some(cmd)) = (io.cmds.get(tag), self.req(tag)) else {
            return R2tStart::Failed;
        };
        let len = st.plan.len();
        if !io.send.r2t_budget.try_take(len) {
            if !st.r2t_deferred {
                st.r2t_deferred = true;
                STATS.r2t_deferred.add(1, Relaxed);
            }
            return R2tStart::Deferred;
        }
        let r2t = st.h2c.r2t(tag, neg);
        let buf = SgBuffer::alloc(len, params::highmem_buffers());
        let (Some(r2t), Ok(buf)) = (r2t, buf) else {
            // No memory (or, against the queue's bookkeeping, no R2T to send for it): fail
            // the command rather than send anything for it.
            io.send.r2t_budget.release(len);
            st.life = Life::Executing;
            cmd.complete(sys::NVME_SC_INTERNAL as u16);
            return R2tStart::Failed;
        };
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
    /// or its response. Takes the request back from the core, with its buffer.
    fn prepare(&self, req: &Req, st: &mut CmdState, neg: Negotiated) -> Result {
        st.sent = 0;
        st.sg_index = 0;
        st.success_in_data = false;
        // A command on the ready list completed (through `queue_response`, or the core
        // rejected it in `nvmet_req_init`); anything else is a bug, which ends the connection
        // rather than send a stale completion.
        let (cqe, data) = req.finish().ok_or(EIO)?;
        st.cqe = cqe;
        if data.is_some() {
            st.buf = data;
        }
        if let (DataPlan::ToHost(len), 0) = (st.plan, cqe_status(&st.cqe)) {
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
                return Ok(());
            }
        }
        Self::prepare_response(st, neg);
        Ok(())
    }

    fn prepare_response(st: &mut CmdState, neg: Negotiated) {
        st.hdr_len = CapsuleResp::new(st.cqe, neg)
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
fn data_digest(st: &mut CmdState, len: u32) -> u32 {
    let mut digest = DataDigest::<KernelCrc>::new();
    if let Some(chunks) = st
        .buf
        .as_mut()
        .and_then(|buf| placement::chunks(buf, 0, len).ok())
    {
        for chunk in chunks {
            chunk.with_mapped(|mem| digest.update(mem));
        }
    }
    digest.finish()
}
