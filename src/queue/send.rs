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
        sg::sg_page,
        socket::SendFlags, //
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

    /// Sends the pending control PDU; returns whether it is all out.
    pub(super) fn send_ctrl(&self, io: &mut IoState) -> Result<bool> {
        let Some(rest) = io.send.ctrl.get(io.send.ctrl_sent..io.send.ctrl_len) else {
            return Ok(true);
        };
        let n = self.sock.send(rest, SendFlags { more: false })?;
        io.send.ctrl_sent += n;
        Ok(io.send.ctrl_sent >= io.send.ctrl_len)
    }

    /// Makes progress on one command; returns `false` when there is nothing to send or the
    /// socket is full.
    fn send_one(&self, io: &mut IoState, last_in_batch: bool) -> Result<bool> {
        if io.send.ctrl_sent < io.send.ctrl_len {
            return self.send_ctrl(io);
        }
        if io.send.cur.is_null() {
            if io.send.head.is_null() {
                self.collect_completions(io);
            }
            let head = io.send.head;
            if head.is_null() {
                return Ok(false);
            }
            // SAFETY: Commands on the send list are live commands of this queue; I/O work.
            let st = unsafe { (*head).st() };
            io.send.head = st.next;
            if io.send.head.is_null() {
                io.send.tail = core::ptr::null();
            }
            io.send.cur = head;
            // SAFETY: As above.
            self.prepare(unsafe { &*head }, st, negotiated(io));
        }
        // SAFETY: `cur` is a live command of this queue.
        let cmd = unsafe { &*io.send.cur };
        let more_queued = !last_in_batch && !io.send.head.is_null();
        let neg = negotiated(io);
        // SAFETY: I/O work, no other command state reference alive.
        let st = unsafe { cmd.st() };
        if !self.send_stages(cmd, st, neg, more_queued)? {
            return Ok(false);
        }
        io.send.cur = core::ptr::null();
        if st.life != Life::AwaitData {
            // The response is out: the command is done.
            if st.buf.is_some() {
                // SAFETY: The core is done with the request.
                unsafe { cmd.req.clear_data() };
                st.buf = None;
            }
            self.put_cmd(cmd);
        }
        Ok(true)
    }

    /// Sets up what to send for a command taken off the send list.
    fn prepare(&self, cmd: &Cmd, st: &mut CmdState, neg: Negotiated) {
        st.sent = 0;
        st.sg_index = 0;
        st.success_in_data = false;
        if st.life == Life::AwaitData {
            // It waits for its data: ask for it. The tag is the command's slot.
            if let Some(r2t) = st.h2c.r2t(cmd.ttag, neg) {
                st.hdr_len = r2t
                    .encode_with_digest::<KernelCrc>(&mut st.hdr)
                    .unwrap_or(0);
                st.stage = Stage::R2t;
                STATS.tx_r2t.add(1, Relaxed);
                return;
            }
        }
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

    /// Sends as much of the command's stages as the socket takes. Returns `true` when the
    /// command is out (for an R2T: the R2T is out).
    fn send_stages(
        &self,
        cmd: &Cmd,
        st: &mut CmdState,
        neg: Negotiated,
        more_queued: bool,
    ) -> Result<bool> {
        loop {
            match st.stage {
                Stage::R2t => return self.send_hdr(st, more_queued),
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
                    if neg.ddgst {
                        st.stage = Stage::DataDigest;
                    } else if st.success_in_data {
                        return Ok(true);
                    } else {
                        Self::prepare_response(cmd, st, neg);
                    }
                }
                Stage::DataDigest => {
                    let more = !st.success_in_data || more_queued;
                    let Some(rest) = st.ddgst.get(st.sent..) else {
                        return Ok(true);
                    };
                    st.sent += self.sock.send(rest, SendFlags { more })?;
                    if st.sent < st.ddgst.len() {
                        return Ok(false);
                    }
                    if st.success_in_data {
                        return Ok(true);
                    }
                    Self::prepare_response(cmd, st, neg);
                }
                Stage::Response => return self.send_hdr(st, more_queued),
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
        // SAFETY: The command completed: the core is done with the buffer and only the I/O
        // work touches it until it is freed; the range lies within the entry's page.
        let chunk = unsafe { PageChunk::new(sg_page(e), e.offset as usize, take) };
        match chunk.direct() {
            Some(mem) => digest.update(mem),
            None => digest.update(chunk.map_local().as_mut_slice()),
        }
        left -= take;
    }
    digest.finish()
}
