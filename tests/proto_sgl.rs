// SPDX-License-Identifier: GPL-2.0

//! Properties of the scatterlist span math and of H2CData accounting.

use nvmet_tcp_rs::proto::{
    icreq::Negotiated,
    pdu::{
        CommonHeader,
        DataPdu,
        PduType,
        FLAG_DATA_LAST, //
    },
    r2t::H2cTransfer,
    sgl::{
        self,
        Span, //
    },
    Error,
};
use proptest::prelude::*;

/// Entry lengths like `sgl_alloc()` makes, or anything else, including empty entries.
fn lens() -> impl Strategy<Value = Vec<u32>> {
    prop_oneof![
        (1usize..12, 0u32..4096).prop_map(|(n, last)| {
            let mut v = vec![4096; n];
            v.push(last);
            v
        }),
        prop::collection::vec(0u32..5000, 0..12),
    ]
}

fn h2c(offset: u32, len: u32, last: bool) -> DataPdu {
    let flags = if last { FLAG_DATA_LAST } else { 0 };
    DataPdu {
        ch: CommonHeader::new(PduType::H2cData, flags, 24, 24 + len),
        command_id: 9,
        ttag: 0,
        data_offset: offset,
        data_length: len,
    }
}

proptest! {
    /// The spans partition the range exactly and stay inside their entries.
    #[test]
    fn spans_partition_the_range(lens in lens(), a: u32, b: u32) {
        let total: u32 = lens.iter().sum();
        let offset = a % (total + 1);
        let len = b % (total - offset + 1);
        let starts: Vec<u32> = lens
            .iter()
            .scan(0, |at, &l| {
                let s = *at;
                *at += l;
                Some(s)
            })
            .collect();
        let spans: Vec<Span> = sgl::spans(lens.iter().copied(), offset, len).unwrap().collect();
        let mut pos = offset;
        let mut last_index = None;
        for s in &spans {
            prop_assert!(s.len > 0);
            prop_assert!(s.offset.checked_add(s.len).unwrap() <= lens[s.index]);
            prop_assert_eq!(starts[s.index] + s.offset, pos);
            prop_assert!(last_index.is_none_or(|i| i < s.index));
            last_index = Some(s.index);
            pos += s.len;
        }
        prop_assert_eq!(pos, offset + len);
        if len > 0 {
            let first = spans[0];
            prop_assert_eq!(sgl::locate(lens.iter().copied(), offset), Ok((first.index, first.offset)));
        }
    }

    /// A range past the end is refused up front, never cut short.
    #[test]
    fn spans_out_of_range_fail(lens in lens(), a: u32, extra in 1u32..10_000) {
        let total: u32 = lens.iter().sum();
        let offset = a % (total + 1);
        let len = total - offset + extra;
        prop_assert_eq!(sgl::spans(lens.iter().copied(), offset, len).err(), Some(Error::DataOutOfRange));
        prop_assert_eq!(sgl::locate(lens.iter().copied(), total), Err(Error::DataOutOfRange));
    }

    /// A write split into in-order H2CData PDUs of any sizes is accepted and completes exactly
    /// at the end; replaying any PDU afterwards fails.
    #[test]
    fn in_order_h2c_completes(total in 1u32..1_000_000, cuts in prop::collection::vec(1u32..300_000, 0..10)) {
        let mut t = H2cTransfer::new(9, total);
        prop_assert!(t.r2t(0, Negotiated::default()).is_some());
        prop_assert!(t.r2t_sent());
        let mut at = 0;
        let mut sent = Vec::new();
        for c in cuts.iter().chain(core::iter::once(&u32::MAX)) {
            let len = (*c).min(total - at);
            if len == 0 {
                break;
            }
            let last = at + len == total;
            let acc = t.accept(&h2c(at, len, last)).unwrap();
            prop_assert_eq!((acc.offset, acc.len, acc.complete), (at, len, last));
            sent.push((at, len));
            at += len;
        }
        prop_assert!(t.is_complete());
        for (o, l) in sent {
            prop_assert!(t.accept(&h2c(o, l, false)).is_err());
        }
    }

    /// Data that does not start where the previous PDU ended is refused and changes nothing.
    #[test]
    fn out_of_order_h2c_is_refused(total in 2u32..100_000, first in 1u32..50_000, off: u32, len in 1u32..100_000) {
        let first = first.min(total - 1);
        let mut t = H2cTransfer::new(9, total);
        t.r2t(0, Negotiated::default()).unwrap();
        t.r2t_sent();
        t.accept(&h2c(0, first, false)).unwrap();
        prop_assume!(off != first);
        let before = t;
        let r = t.accept(&h2c(off, len, false));
        let in_range = off.checked_add(len).is_some_and(|e| e <= total);
        prop_assert_eq!(r, Err(if in_range { Error::PduSequence } else { Error::DataOutOfRange }));
        prop_assert_eq!(t, before);
    }
}
