//! [`StorageError`]: the one error enum of the storage boundary. Variants carry structured context (the
//! operation, the path, the offset); the broker maps them to response codes (storage never does).

use std::path::PathBuf;

use super::io;
use super::PhysicalOffset;

/// Errors at the storage boundary.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("disk full while {op} {path}")]
    DiskFull { op: &'static str, path: PathBuf },
    #[error("record of {size} bytes exceeds the limit of {max} bytes")]
    RecordTooLarge { size: usize, max: usize },
    #[error("corrupted record at physical offset {offset}: {reason}")]
    Corrupted {
        offset: PhysicalOffset,
        reason: String,
    },
    #[error("no message at physical offset {offset}")]
    NotFound { offset: PhysicalOffset },
    /// Appends refused: the disk is at least `refuse_percent` full and retention may not delete the
    /// unconsumed messages that fill it. Lifted by itself once usage drops below the limit.
    #[error("disk {usage_percent}% full (writes refused from {refuse_percent}%)")]
    DiskUsageHigh {
        usage_percent: u8,
        refuse_percent: u8,
    },
    #[error("{0}")]
    Config(String),
    /// This store is a replica: its log grows only from its master (`append_replica`).
    #[error("this store is a replica (slave): it takes records from its master only")]
    Replica,
    /// A replica was handed bytes that do not continue its log where it ends.
    #[error("replica log ends at {expected}, bytes offered at {got}")]
    ReplicaGap {
        expected: PhysicalOffset,
        got: PhysicalOffset,
    },
}

impl StorageError {
    /// Maps an I/O error: ENOSPC/EDQUOT become [`StorageError::DiskFull`].
    pub fn from_io(op: &'static str, path: PathBuf, source: std::io::Error) -> StorageError {
        if io::is_disk_full(&source) {
            StorageError::DiskFull { op, path }
        } else {
            StorageError::Io { op, path, source }
        }
    }

    /// A copy of this error (the store keeps a failure and hands it to every caller).
    pub fn duplicate(&self) -> StorageError {
        match self {
            StorageError::Io { op, path, source } => StorageError::Io {
                op,
                path: path.clone(),
                source: match source.raw_os_error() {
                    Some(code) => std::io::Error::from_raw_os_error(code),
                    None => std::io::Error::new(source.kind(), source.to_string()),
                },
            },
            StorageError::DiskFull { op, path } => StorageError::DiskFull {
                op,
                path: path.clone(),
            },
            StorageError::RecordTooLarge { size, max } => StorageError::RecordTooLarge {
                size: *size,
                max: *max,
            },
            StorageError::Corrupted { offset, reason } => StorageError::Corrupted {
                offset: *offset,
                reason: reason.clone(),
            },
            StorageError::NotFound { offset } => StorageError::NotFound { offset: *offset },
            StorageError::DiskUsageHigh {
                usage_percent,
                refuse_percent,
            } => StorageError::DiskUsageHigh {
                usage_percent: *usage_percent,
                refuse_percent: *refuse_percent,
            },
            StorageError::Config(s) => StorageError::Config(s.clone()),
            StorageError::Replica => StorageError::Replica,
            StorageError::ReplicaGap { expected, got } => StorageError::ReplicaGap {
                expected: *expected,
                got: *got,
            },
        }
    }
}
