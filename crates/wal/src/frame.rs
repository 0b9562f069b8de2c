//! The frame header: length, checksum and LSN.

use crate::Lsn;

/// `len: u32 | crc: u32 | lsn: u64`.
pub const HEADER_BYTES: usize = 16;

/// CRC32C over the LSN and the payload.
pub fn checksum(lsn: Lsn, payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&lsn.to_le_bytes()), payload)
}

pub fn header(lsn: Lsn, payload: &[u8]) -> [u8; HEADER_BYTES] {
    let mut header = [0u8; HEADER_BYTES];
    header[0..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    header[4..8].copy_from_slice(&checksum(lsn, payload).to_le_bytes());
    header[8..16].copy_from_slice(&lsn.to_le_bytes());
    header
}

pub fn parse_header(header: &[u8; HEADER_BYTES]) -> (u32, u32, Lsn) {
    let len = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes"));
    let crc = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
    let lsn = u64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
    (len, crc, lsn)
}
