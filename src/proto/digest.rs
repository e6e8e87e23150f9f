// SPDX-License-Identifier: GPL-2.0

//! CRC32C header and data digests.
//!
//! An NVMe/TCP digest is `!crc32c(!0, data)`, stored little-endian. The CRC itself comes through
//! the [`Crc32c`] trait: the kernel implements it with the kernel's `crc32c()`, and [`SoftCrc32c`]
//! is a table-driven software version for host tests.

use core::{
    fmt,
    marker::PhantomData, //
};

use super::Error;

/// Length in bytes of a header or data digest.
pub const DIGEST_LEN: usize = 4;

/// A CRC32C (Castagnoli) implementation.
pub trait Crc32c {
    /// Continues a CRC over `data` from `crc`, without pre- or post-inversion.
    ///
    /// This has the semantics of the kernel's `crc32c(crc, data, len)`.
    fn update(crc: u32, data: &[u8]) -> u32;
}

/// Software CRC32C, one table lookup per byte.
#[derive(Clone, Copy, Debug, Default)]
pub struct SoftCrc32c;

/// The reflected CRC32C polynomial.
const POLY: u32 = 0x82f6_3b78;

/// Byte-wise lookup table for [`POLY`], computed at compile time.
const TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

impl Crc32c for SoftCrc32c {
    fn update(mut crc: u32, data: &[u8]) -> u32 {
        for &b in data {
            let idx = usize::from(crc.to_le_bytes()[0] ^ b);
            crc = TABLE[idx] ^ (crc >> 8);
        }
        crc
    }
}

/// Computes the NVMe/TCP digest of `data`.
pub fn digest<C: Crc32c>(data: &[u8]) -> u32 {
    !C::update(!0, data)
}

/// Writes the header digest of `buf[..hlen]` into `buf[hlen..hlen + 4]`.
///
/// Returns the header length including the digest.
pub fn put_header_digest<C: Crc32c>(buf: &mut [u8], hlen: usize) -> Result<usize, Error> {
    let end = hlen.checked_add(DIGEST_LEN).ok_or(Error::BufferSize)?;
    let (hdr, rest) = buf
        .get_mut(..end)
        .ok_or(Error::BufferSize)?
        .split_at_mut(hlen);
    rest.copy_from_slice(&digest::<C>(hdr).to_le_bytes());
    Ok(end)
}

/// Checks the header digest that follows the `hlen` header bytes at the start of `buf`.
pub fn verify_header_digest<C: Crc32c>(buf: &[u8], hlen: usize) -> Result<(), Error> {
    let hdr = buf.get(..hlen).ok_or(Error::BufferSize)?;
    let end = hlen.checked_add(DIGEST_LEN).ok_or(Error::BufferSize)?;
    let received = buf.get(hlen..end).ok_or(Error::BufferSize)?;
    if received == digest::<C>(hdr).to_le_bytes() {
        Ok(())
    } else {
        Err(Error::HeaderDigest)
    }
}

/// A data digest computed over data that arrives or leaves in pieces.
pub struct DataDigest<C> {
    /// The running CRC register.
    crc: u32,
    /// The CRC implementation; `fn() -> C` keeps this `Send`, `Sync` and `Copy` whatever `C` is.
    _crc: PhantomData<fn() -> C>,
}

impl<C: Crc32c> DataDigest<C> {
    /// Starts a digest over no data.
    pub const fn new() -> Self {
        Self {
            crc: !0,
            _crc: PhantomData,
        }
    }

    /// Adds the next piece of data.
    pub fn update(&mut self, data: &[u8]) {
        self.crc = C::update(self.crc, data);
    }

    /// The digest of all data added so far.
    pub const fn finish(&self) -> u32 {
        !self.crc
    }

    /// Whether `received`, as read from the wire, matches the data added so far.
    pub const fn matches(&self, received: [u8; DIGEST_LEN]) -> bool {
        u32::from_le_bytes(received) == self.finish()
    }
}

impl<C: Crc32c> Default for DataDigest<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C> Clone for DataDigest<C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C> Copy for DataDigest<C> {}

impl<C> fmt::Debug for DataDigest<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataDigest")
            .field("crc", &self.crc)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The check value of the CRC-32C catalogue entry.
    #[test]
    fn check_value() {
        assert_eq!(digest::<SoftCrc32c>(b"123456789"), 0xe306_9283);
    }

    /// RFC 3720 appendix B.4 test vectors.
    #[test]
    fn rfc3720_vectors() {
        let mut inc = [0u8; 32];
        let mut dec = [0u8; 32];
        for (i, (a, b)) in (0u8..).zip(inc.iter_mut().zip(dec.iter_mut().rev())) {
            *a = i;
            *b = i;
        }
        assert_eq!(digest::<SoftCrc32c>(&[0u8; 32]), 0x8a91_36aa);
        assert_eq!(digest::<SoftCrc32c>(&[0xffu8; 32]), 0x62a8_ab43);
        assert_eq!(digest::<SoftCrc32c>(&inc), 0x46dd_794e);
        assert_eq!(digest::<SoftCrc32c>(&dec), 0x113f_db5c);
    }

    #[test]
    fn streaming_matches_one_shot() {
        let data = b"The quick brown fox jumps over the lazy dog";
        for split in 0..=data.len() {
            let (a, b) = data.split_at(split);
            let mut d = DataDigest::<SoftCrc32c>::new();
            d.update(a);
            d.update(b);
            assert_eq!(d.finish(), digest::<SoftCrc32c>(data));
            assert!(d.matches(d.finish().to_le_bytes()));
            assert!(!d.matches((d.finish() ^ 1).to_le_bytes()));
        }
    }

    #[test]
    fn header_digest_round_trip() {
        let mut buf = [0u8; 28];
        buf[..24].copy_from_slice(&[7u8; 24]);
        assert_eq!(put_header_digest::<SoftCrc32c>(&mut buf, 24), Ok(28));
        assert_eq!(verify_header_digest::<SoftCrc32c>(&buf, 24), Ok(()));
        buf[3] ^= 0x10;
        assert_eq!(
            verify_header_digest::<SoftCrc32c>(&buf, 24),
            Err(Error::HeaderDigest)
        );
        assert_eq!(
            verify_header_digest::<SoftCrc32c>(&buf[..27], 24),
            Err(Error::BufferSize)
        );
        assert_eq!(
            put_header_digest::<SoftCrc32c>(&mut buf, 25),
            Err(Error::BufferSize)
        );
    }
}
