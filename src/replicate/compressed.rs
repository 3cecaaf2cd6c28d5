//! MariaDB's compressed binlog events (`log_bin_compress = ON`): a query or rows
//! event whose body past its fixed part is compressed. Each is turned back into
//! the plain event it stands for, which the reader then reads like any other.
//!
//! The compressed part starts with one byte — bit 7 set, the algorithm in bits
//! 4–6 (0: zlib, the only one MariaDB writes), in bits 0–2 how many bytes of
//! uncompressed length follow (big-endian) — then the zlib stream.

use std::io::Read;

use mysql_async::binlog::events::Event;

/// QUERY_COMPRESSED_EVENT.
const QUERY: u8 = 165;
/// WRITE/UPDATE/DELETE_ROWS_COMPRESSED_EVENT_V1 (what MariaDB writes).
const ROWS_V1: [u8; 3] = [166, 167, 168];
/// WRITE/UPDATE/DELETE_ROWS_COMPRESSED_EVENT (version 2 rows events).
const ROWS_V2: [u8; 3] = [169, 170, 171];
const QUERY_EVENT: u8 = 2;
const ROWS_V1_EVENTS: [u8; 3] = [23, 24, 25];
const ROWS_V2_EVENTS: [u8; 3] = [30, 31, 32];
/// The largest event a server writes (max_allowed_packet's ceiling): a length
/// above it is a corrupt header, not a reason to allocate.
const MAX_EVENT: usize = 1 << 30;

/// Whether an event type is one of MariaDB's compressed ones.
pub fn is_compressed(event_type: u8) -> bool {
    event_type == QUERY || ROWS_V1.contains(&event_type) || ROWS_V2.contains(&event_type)
}

/// The plain event a compressed one stands for (same position, timestamp,
/// server and flags), or why it cannot be read.
pub fn plain(event: &Event) -> Result<Event, String> {
    let header = event.header();
    let kind = header.event_type_raw();
    let data = event.data();
    let (plain_kind, fixed) = if kind == QUERY {
        (QUERY_EVENT, query_fixed_len(data)?)
    } else if let Some(i) = ROWS_V1.iter().position(|k| *k == kind) {
        (ROWS_V1_EVENTS[i], rows_fixed_len(data, false, i == 1)?)
    } else if let Some(i) = ROWS_V2.iter().position(|k| *k == kind) {
        (ROWS_V2_EVENTS[i], rows_fixed_len(data, true, i == 1)?)
    } else {
        return Err(format!("event type {kind} is not a compressed one"));
    };
    let body = uncompress(&data[fixed..])?;
    let checksum = event.checksum();
    let size = 19 + fixed + body.len() + checksum.map_or(0, |c| c.len());
    let size = u32::try_from(size).map_err(|_| format!("an event of {size} bytes"))?;
    // The same header: its type and size are the plain event's.
    let mut head = super::reader::header_bytes(&header);
    head[4] = plain_kind;
    head[9..13].copy_from_slice(&size.to_le_bytes());
    let mut raw = Vec::with_capacity(size as usize);
    raw.extend_from_slice(&head);
    raw.extend_from_slice(&data[..fixed]);
    raw.extend_from_slice(&body);
    if let Some(c) = checksum {
        // Not checked again: the compressed event's own was.
        raw.extend_from_slice(&c);
    }
    Event::read(event.fde(), &raw[..]).map_err(|e| format!("the uncompressed event: {e}"))
}

/// A query event's uncompressed part: the post-header (thread id 4, time 4,
/// schema length 1, error code 2, status length 2), the status variables, the
/// schema name and its NUL. The statement text is what is compressed.
fn query_fixed_len(data: &[u8]) -> Result<usize, String> {
    let schema_len = *data.get(8).ok_or("a query event too short")? as usize;
    let status_len = data
        .get(11..13)
        .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
        .ok_or("a query event too short")?;
    let fixed = 13 + status_len + schema_len + 1;
    if fixed > data.len() {
        return Err("a query event shorter than its header says".into());
    }
    Ok(fixed)
}

/// A rows event's uncompressed part: table id (6), flags (2), version 2's extra
/// data (its length counts its own 2 bytes), the column count and the
/// columns-present bitmap(s). The row images are what is compressed.
fn rows_fixed_len(data: &[u8], v2: bool, update: bool) -> Result<usize, String> {
    let short = || "a rows event too short".to_string();
    let mut at = 8;
    if v2 {
        let extra = data
            .get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
            .ok_or_else(short)?;
        at += extra.max(2);
    }
    let (columns, len) = lenenc(data.get(at..).ok_or_else(short)?).ok_or_else(short)?;
    at += len;
    let bitmap = usize::try_from(columns.div_ceil(8)).map_err(|_| short())?;
    at += if update { 2 * bitmap } else { bitmap };
    if at > data.len() {
        return Err(short());
    }
    Ok(at)
}

/// A length-encoded integer and how many bytes it took.
fn lenenc(b: &[u8]) -> Option<(u64, usize)> {
    let le = |n: usize| -> Option<u64> {
        let bytes = b.get(1..1 + n)?;
        Some(
            bytes
                .iter()
                .rev()
                .fold(0u64, |acc, x| (acc << 8) | u64::from(*x)),
        )
    };
    match *b.first()? {
        n @ 0..=0xfa => Some((u64::from(n), 1)),
        0xfc => Some((le(2)?, 3)),
        0xfd => Some((le(3)?, 4)),
        0xfe => Some((le(8)?, 9)),
        _ => None,
    }
}

/// The bytes of one compressed part.
fn uncompress(part: &[u8]) -> Result<Vec<u8>, String> {
    let head = *part.first().ok_or("an empty compressed part")?;
    if head & 0x80 == 0 {
        return Err(format!("compressed part with header byte {head:#04x}"));
    }
    let algorithm = (head & 0x70) >> 4;
    if algorithm != 0 {
        return Err(format!(
            "compression algorithm {algorithm} (only zlib, 0, is known)"
        ));
    }
    let len_bytes = usize::from(head & 0x07);
    if !(1..=4).contains(&len_bytes) {
        return Err(format!(
            "a length of {len_bytes} bytes in the compressed header"
        ));
    }
    let len = part
        .get(1..1 + len_bytes)
        .ok_or("a compressed part shorter than its header")?
        .iter()
        .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
    if len > MAX_EVENT {
        return Err(format!("an uncompressed length of {len} bytes"));
    }
    let mut out = Vec::with_capacity(len);
    flate2::read::ZlibDecoder::new(&part[1 + len_bytes..])
        .take(len as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("zlib: {e}"))?;
    if out.len() != len {
        return Err(format!(
            "{} bytes uncompressed where the header says {len}",
            out.len()
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A compressed part as MariaDB writes it.
    fn compressed(body: &[u8]) -> Vec<u8> {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(body).unwrap();
        let zipped = z.finish().unwrap();
        let len = (body.len() as u32).to_be_bytes();
        let mut out = vec![0x80 | 2];
        out.extend_from_slice(&len[2..]);
        out.extend_from_slice(&zipped);
        out
    }

    #[test]
    fn a_compressed_part_comes_back_whole() {
        let body = b"INSERT INTO t VALUES (1, 'compressible compressible compressible')".repeat(5);
        assert_eq!(uncompress(&compressed(&body)).unwrap(), body);
    }

    #[test]
    fn damaged_parts_are_refused_not_guessed() {
        let mut part = compressed(b"hello hello hello");
        assert!(uncompress(&[0x02, 0, 5]).is_err(), "bit 7 clear");
        assert!(uncompress(&[0x92, 0, 5, 1, 2]).is_err(), "algorithm 1");
        part[2] += 1;
        assert!(uncompress(&part).unwrap_err().contains("header says"));
        assert!(uncompress(&[0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
    }

    #[test]
    fn the_fixed_parts_are_measured_as_the_server_lays_them_out() {
        // Query: post-header, 3 status bytes, schema "db" + NUL.
        let mut q = vec![0u8; 13];
        q[8] = 2;
        q[11] = 3;
        q.extend_from_slice(&[1, 2, 3]);
        q.extend_from_slice(b"db\0");
        q.extend_from_slice(b"rest");
        assert_eq!(query_fixed_len(&q).unwrap(), 13 + 3 + 3);
        // Rows v1, 9 columns: two bitmap bytes; an update has two bitmaps.
        let mut r = vec![0u8; 8];
        r.push(9);
        r.extend_from_slice(&[0xff, 0x01, 0xff, 0x01]);
        assert_eq!(rows_fixed_len(&r, false, false).unwrap(), 11);
        assert_eq!(rows_fixed_len(&r, false, true).unwrap(), 13);
        // Rows v2 with 4 bytes of extra data (length 6, its own 2 counted).
        let mut v2 = vec![0u8; 8];
        v2.extend_from_slice(&[6, 0, 1, 2, 3, 4]);
        v2.push(3);
        v2.push(0x07);
        assert_eq!(rows_fixed_len(&v2, true, false).unwrap(), 16);
        assert!(rows_fixed_len(&[0u8; 4], false, false).is_err());
    }
}
