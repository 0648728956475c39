//! NameServer KV config headers: PUT_KV_CONFIG (100), GET_KV_CONFIG (101) and its answer,
//! DELETE_KV_CONFIG (102), GET_KVLIST_BY_NAMESPACE (219). One type: the same fields, `key` absent
//! only for the namespace listing and `value` present only in a put (or a get's answer).

use super::{ext_str, HeaderError};
use crate::remoting::RemotingCommand;

/// A KV request's fields (`namespace`, `key`, `value`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvConfigHeader {
    pub namespace: String,
    pub key: Option<String>,
    pub value: Option<String>,
}

impl KvConfigHeader {
    /// PUT_KV_CONFIG: all three fields required.
    pub fn parse_put(cmd: &RemotingCommand) -> Result<KvConfigHeader, HeaderError> {
        Ok(KvConfigHeader {
            namespace: ext_str(cmd, "namespace")?.to_string(),
            key: Some(ext_str(cmd, "key")?.to_string()),
            value: Some(ext_str(cmd, "value")?.to_string()),
        })
    }

    /// GET_KV_CONFIG, DELETE_KV_CONFIG: `namespace` and `key`.
    pub fn parse_key(cmd: &RemotingCommand) -> Result<KvConfigHeader, HeaderError> {
        Ok(KvConfigHeader {
            namespace: ext_str(cmd, "namespace")?.to_string(),
            key: Some(ext_str(cmd, "key")?.to_string()),
            value: None,
        })
    }

    /// GET_KVLIST_BY_NAMESPACE: `namespace` only.
    pub fn parse_namespace(cmd: &RemotingCommand) -> Result<KvConfigHeader, HeaderError> {
        Ok(KvConfigHeader {
            namespace: ext_str(cmd, "namespace")?.to_string(),
            key: None,
            value: None,
        })
    }

    pub fn write_to(&self, cmd: &mut RemotingCommand) {
        cmd.set_ext("namespace", &self.namespace);
        if let Some(k) = &self.key {
            cmd.set_ext("key", k);
        }
        if let Some(v) = &self.value {
            cmd.set_ext("value", v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_needs_every_field_and_the_listing_only_a_namespace() {
        let mut c = RemotingCommand::request(100);
        let h = KvConfigHeader {
            namespace: "ORDER_TOPIC_CONFIG".into(),
            key: Some("T".into()),
            value: Some("broker-a:4".into()),
        };
        h.write_to(&mut c);
        assert_eq!(KvConfigHeader::parse_put(&c).unwrap(), h);
        assert_eq!(KvConfigHeader::parse_key(&c).unwrap().value, None);
        let mut only_ns = RemotingCommand::request(219);
        only_ns.set_ext("namespace", "N");
        assert_eq!(
            KvConfigHeader::parse_put(&only_ns),
            Err(HeaderError::Missing { field: "key" })
        );
        assert_eq!(
            KvConfigHeader::parse_namespace(&only_ns).unwrap().namespace,
            "N"
        );
        assert_eq!(
            KvConfigHeader::parse_namespace(&RemotingCommand::request(219)),
            Err(HeaderError::Missing { field: "namespace" })
        );
    }
}
