//! SEND_BATCH_MESSAGE (320) bodies (remoting-protocol.md §5.3): a concatenation of records
//!
//! ```text
//! 4 totalSize (whole record, including this field)   4 magicCode (ignored)   4 bodyCRC (ignored)
//! 4 flag   4 bodyLength + body   2 propertiesLength + properties (UTF-8)
//! ```
//!
//! Invariants: decoding borrows from the input (no copies), checks every length against the bytes
//! left before using it, requires `totalSize` to equal the sum of the record's parts (so garbage is
//! caught at the first bad record), and stops at [`BATCH_ENTRIES_MAX`] records, so a hostile body
//! costs at most one bounded `Vec`. It never panics. An empty body is an empty batch; the broker
//! decides whether that is an error.

use bytes::{BufMut, BytesMut};

use super::body::BodyError;

/// Most records accepted in one batch. A 4 MiB batch (the default max message size) of empty
/// messages holds about 190k records; this leaves headroom while bounding memory.
pub const BATCH_ENTRIES_MAX: usize = 262_144;

/// Fixed bytes of one batch record (everything but body and properties).
pub const BATCH_RECORD_FIXED_BYTES: usize = 4 + 4 + 4 + 4 + 4 + 2;

/// One message of a batch, borrowing from the request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchEntry<'a> {
    pub flag: i32,
    pub body: &'a [u8],
    /// Record-level properties (§9.3), e.g. `UNIQ_KEY`, `TAGS`, `KEYS`.
    pub properties: &'a str,
}

/// Decodes a batch body with the default record limit.
pub fn decode_batch(buf: &[u8]) -> Result<Vec<BatchEntry<'_>>, BodyError> {
    decode_batch_with_limit(buf, BATCH_ENTRIES_MAX)
}

/// Decodes a batch body, refusing more than `max_entries` records.
pub fn decode_batch_with_limit(
    buf: &[u8],
    max_entries: usize,
) -> Result<Vec<BatchEntry<'_>>, BodyError> {
    let mut out = Vec::new();
    let mut off = 0usize;
    while off < buf.len() {
        if out.len() == max_entries {
            return Err(BodyError::BatchTooManyEntries { max: max_entries });
        }
        let (entry, size) = decode_one(&buf[off..], off)?;
        out.push(entry);
        off += size;
    }
    Ok(out)
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Decodes the record at the start of `rec` (`offset` is its position in the whole body, for errors).
fn decode_one(rec: &[u8], offset: usize) -> Result<(BatchEntry<'_>, usize), BodyError> {
    let truncated = |need: usize| BodyError::BatchTruncated {
        offset,
        need,
        have: rec.len(),
    };
    if rec.len() < BATCH_RECORD_FIXED_BYTES {
        return Err(truncated(BATCH_RECORD_FIXED_BYTES));
    }
    let total = be_i32(rec, 0);
    if total < BATCH_RECORD_FIXED_BYTES as i32 {
        return Err(BodyError::BatchBadRecord {
            offset,
            reason: "totalSize smaller than the fixed part",
        });
    }
    let total = total as usize;
    if total > rec.len() {
        return Err(truncated(total));
    }
    let rec = &rec[..total];
    let flag = be_i32(rec, 12);
    let body_len = be_i32(rec, 16);
    if body_len < 0 || body_len as usize > total - BATCH_RECORD_FIXED_BYTES {
        return Err(BodyError::BatchBadRecord {
            offset,
            reason: "bodyLength outside the record",
        });
    }
    let body_end = 20 + body_len as usize;
    let body = &rec[20..body_end];
    let props_len = i16::from_be_bytes([rec[body_end], rec[body_end + 1]]);
    if props_len < 0 {
        return Err(BodyError::BatchBadRecord {
            offset,
            reason: "negative propertiesLength",
        });
    }
    let props_end = body_end + 2 + props_len as usize;
    if props_end != total {
        return Err(BodyError::BatchBadRecord {
            offset,
            reason: "totalSize does not match bodyLength and propertiesLength",
        });
    }
    let properties = std::str::from_utf8(&rec[body_end + 2..props_end])
        .map_err(|_| BodyError::BatchNotUtf8 { offset })?;
    Ok((
        BatchEntry {
            flag,
            body,
            properties,
        },
        total,
    ))
}

/// Appends one batch record (what a Java client's `MessageDecoder.encodeMessage` writes: magic and
/// CRC as 0).
pub fn encode_batch_entry(entry: &BatchEntry<'_>, out: &mut BytesMut) -> Result<(), BodyError> {
    if entry.properties.len() > i16::MAX as usize {
        return Err(BodyError::BatchFieldTooLong {
            field: "properties",
            len: entry.properties.len(),
        });
    }
    let total = BATCH_RECORD_FIXED_BYTES + entry.body.len() + entry.properties.len();
    if total > i32::MAX as usize {
        return Err(BodyError::BatchFieldTooLong {
            field: "body",
            len: entry.body.len(),
        });
    }
    out.reserve(total);
    out.put_i32(total as i32);
    out.put_i32(0);
    out.put_i32(0);
    out.put_i32(entry.flag);
    out.put_i32(entry.body.len() as i32);
    out.put_slice(entry.body);
    out.put_i16(entry.properties.len() as i16);
    out.put_slice(entry.properties.as_bytes());
    Ok(())
}

/// Appends a whole batch body.
pub fn encode_batch(entries: &[BatchEntry<'_>], out: &mut BytesMut) -> Result<(), BodyError> {
    for e in entries {
        encode_batch_entry(e, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let entries = [
            BatchEntry {
                flag: 0,
                body: b"hello",
                properties: "UNIQ_KEY\u{1}A\u{2}TAGS\u{1}t",
            },
            BatchEntry {
                flag: -7,
                body: b"",
                properties: "",
            },
        ];
        let mut out = BytesMut::new();
        encode_batch(&entries, &mut out).unwrap();
        assert_eq!(
            out.len(),
            2 * BATCH_RECORD_FIXED_BYTES + 5 + entries[0].properties.len()
        );
        assert_eq!(decode_batch(&out).unwrap(), entries);
    }

    #[test]
    fn garbage_is_an_error() {
        let mut out = BytesMut::new();
        encode_batch_entry(
            &BatchEntry {
                flag: 1,
                body: b"abc",
                properties: "k\u{1}v",
            },
            &mut out,
        )
        .unwrap();
        // Truncated at every length.
        for cut in 1..out.len() {
            assert!(decode_batch(&out[..cut]).is_err(), "cut {cut}");
        }
        // Body length too large.
        let mut bad = out.clone();
        bad[16..20].copy_from_slice(&100i32.to_be_bytes());
        assert!(matches!(
            decode_batch(&bad),
            Err(BodyError::BatchBadRecord { offset: 0, .. })
        ));
        // Record limit.
        let mut two = out.clone();
        two.extend_from_slice(&out);
        assert!(matches!(
            decode_batch_with_limit(&two, 1),
            Err(BodyError::BatchTooManyEntries { max: 1 })
        ));
        assert_eq!(decode_batch(b"").unwrap(), vec![]);
    }
}
