//! Internal outcomes to response codes: the one place that decides which code a client sees for a
//! storage error or an unusable header.
//!
//! Storage error → response code ([`storage_error_code`]):
//!
//! | storage error | code | why |
//! |---|---|---|
//! | `RecordTooLarge` | MESSAGE_ILLEGAL | the client sent too much; retrying the same message fails again |
//! | `DiskFull` (ENOSPC) | SERVICE_NOT_AVAILABLE | the broker cannot take writes; clients try another broker |
//! | `DiskUsageHigh` | SERVICE_NOT_AVAILABLE | writes refused until space comes back; reads go on |
//! | `Replica` | SERVICE_NOT_AVAILABLE | a slave takes no writes (Java's SLAVE role answers so); clients try the master |
//! | `ReplicaGap` | SYSTEM_ERROR | only the replication link appends to a replica; never a client's outcome |
//! | `NotFound` | SYSTEM_ERROR | a read named a position that holds no message (what Java answers) |
//! | `Io`, `Corrupted`, `Config` | SYSTEM_ERROR | a broker-side failure |
//!
//! The two disk rows answer with the Java broker's remark for a full disk (its PutMessageStatus
//! SERVICE_NOT_AVAILABLE, as SendMessageProcessor words it), usage shown as ratios ([`disk_full_remark`]).
//!
//! A flush slower than the sync-flush timeout is not an error: the send path answers it with
//! FLUSH_DISK_TIMEOUT (see `processors::send`).
//!
//! Header error → response ([`header_error`]): SYSTEM_ERROR, the remark as Java words it for a missing
//! field (`the custom field <topic> is null`), the parse error otherwise.

use crate::remoting::codes::response as rs;
use crate::remoting::headers::HeaderError;
use crate::remoting::RemotingCommand;
use crate::storage::StorageError;

/// The response code for a storage error. See the table in the module comment.
pub fn storage_error_code(e: &StorageError) -> i32 {
    match e {
        StorageError::RecordTooLarge { .. } => rs::MESSAGE_ILLEGAL,
        StorageError::DiskFull { .. }
        | StorageError::DiskUsageHigh { .. }
        | StorageError::Replica => rs::SERVICE_NOT_AVAILABLE,
        StorageError::NotFound { .. }
        | StorageError::ReplicaGap { .. }
        | StorageError::Io { .. }
        | StorageError::Corrupted { .. }
        | StorageError::Config(_) => rs::SYSTEM_ERROR,
    }
}

/// The Java broker's remark for a send refused because the disk is full; `usage_percent` is shown
/// for the commit log, consume queues and index alike (they share our data directory).
pub fn disk_full_remark(usage_percent: u8) -> String {
    let r = f64::from(usage_percent) / 100.0;
    format!(
        "service not available now. It may be caused by one of the following reasons: \
         the broker's disk is full [CL: {r:5.2} CQ: {r:5.2} INDEX: {r:5.2}], messages are put to the slave, \
         message store has been shut down, etc."
    )
}

/// What a slave answers to a write (Java words it as for a full disk; this says which reason holds).
pub const SLAVE_REMARK: &str = "service not available now: messages are put to the slave \
     (brokerRole=SLAVE); send to its master";

/// The response to `req` for a storage error: remark `{context}{error}`, or the Java full-disk remark.
pub fn storage_error(req: &RemotingCommand, context: &str, e: &StorageError) -> RemotingCommand {
    let remark = match e {
        StorageError::DiskUsageHigh { usage_percent, .. } => disk_full_remark(*usage_percent),
        StorageError::DiskFull { .. } => disk_full_remark(100),
        StorageError::Replica => SLAVE_REMARK.to_string(),
        _ => format!("{context}{e}"),
    };
    req.error_response(storage_error_code(e), remark)
}

/// The response to a request whose custom header is unusable.
pub fn header_error(req: &RemotingCommand, e: &HeaderError) -> RemotingCommand {
    let remark = match e {
        HeaderError::Missing { field } => format!("the custom field <{field}> is null"),
        HeaderError::Invalid { .. } => e.to_string(),
    };
    req.error_response(rs::SYSTEM_ERROR, remark)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn storage_errors_map_row_by_row() {
        let path = || PathBuf::from("/data/commitlog/0");
        let rows: Vec<(StorageError, i32)> = vec![
            (
                StorageError::RecordTooLarge { size: 5, max: 4 },
                rs::MESSAGE_ILLEGAL,
            ),
            (
                StorageError::DiskFull {
                    op: "write",
                    path: path(),
                },
                rs::SERVICE_NOT_AVAILABLE,
            ),
            (
                StorageError::NotFound { offset: 7.into() },
                rs::SYSTEM_ERROR,
            ),
            (
                StorageError::Io {
                    op: "read",
                    path: path(),
                    source: std::io::Error::other("boom"),
                },
                rs::SYSTEM_ERROR,
            ),
            (
                StorageError::Corrupted {
                    offset: 0.into(),
                    reason: "crc".into(),
                },
                rs::SYSTEM_ERROR,
            ),
            (StorageError::Config("x".into()), rs::SYSTEM_ERROR),
            (StorageError::Replica, rs::SERVICE_NOT_AVAILABLE),
            (
                StorageError::ReplicaGap {
                    expected: 1.into(),
                    got: 2.into(),
                },
                rs::SYSTEM_ERROR,
            ),
            (
                StorageError::DiskUsageHigh {
                    usage_percent: 96,
                    refuse_percent: 95,
                },
                rs::SERVICE_NOT_AVAILABLE,
            ),
        ];
        for (e, code) in rows {
            assert_eq!(storage_error_code(&e), code, "{e}");
        }
    }

    #[test]
    fn disk_full_answers_as_java_does() {
        let req = RemotingCommand::request(10);
        let e = StorageError::DiskUsageHigh {
            usage_percent: 96,
            refuse_percent: 95,
        };
        let r = storage_error(&req, "put: ", &e);
        assert_eq!(r.code, rs::SERVICE_NOT_AVAILABLE);
        assert_eq!(
            r.remark.as_deref(),
            Some(
                "service not available now. It may be caused by one of the following reasons: the \
                 broker's disk is full [CL:  0.96 CQ:  0.96 INDEX:  0.96], messages are put to the \
                 slave, message store has been shut down, etc."
            )
        );
    }

    #[test]
    fn header_errors_name_the_field() {
        let req = RemotingCommand::request(11);
        let r = header_error(&req, &HeaderError::Missing { field: "topic" });
        assert_eq!(r.code, rs::SYSTEM_ERROR);
        assert_eq!(
            r.remark.as_deref(),
            Some("the custom field <topic> is null")
        );
        let r = header_error(
            &req,
            &HeaderError::Invalid {
                field: "queueId",
                value: "x".into(),
            },
        );
        assert_eq!(r.code, rs::SYSTEM_ERROR);
        assert!(r.remark.unwrap().contains("queueId"));
    }
}
