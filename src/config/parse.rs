//! Reading values and files: numbers, booleans, addresses, flush modes, and the two file formats
//! (Java properties for broker.conf, TOML) as key/value pairs for [`super::BrokerConfig::set`].

use std::net::Ipv4Addr;

use super::ConfigError;
use crate::storage::FlushMode;

pub(super) fn parse_num<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError::BadValue {
        key: key.into(),
        value: value.into(),
        expected: "a number",
    })
}

pub(super) fn parse_bool(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::BadValue {
            key: key.into(),
            value: value.into(),
            expected: "true or false",
        }),
    }
}

pub(super) fn parse_ip(key: &str, value: &str) -> Result<Ipv4Addr, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError::BadValue {
        key: key.into(),
        value: value.into(),
        expected: "an IPv4 address",
    })
}

/// RocketMQ's `namesrvAddr`: addresses separated by `;` (blanks ignored).
pub fn parse_namesrv_addr(value: &str) -> Vec<String> {
    value
        .split(';')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect()
}

/// Parses `sync`/`async` and RocketMQ's `SYNC_FLUSH`/`ASYNC_FLUSH`.
pub fn parse_flush_mode(value: &str) -> Option<FlushMode> {
    match value.trim().to_ascii_uppercase().as_str() {
        "SYNC" | "SYNC_FLUSH" => Some(FlushMode::Sync),
        "ASYNC" | "ASYNC_FLUSH" => Some(FlushMode::Async),
        _ => None,
    }
}

/// `key=value` lines; `#` and `!` start comments (Java properties, the subset broker.conf uses).
pub(super) fn parse_properties_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .filter_map(|l| {
            let i = l.find(['=', ':'])?;
            Some((l[..i].trim().to_string(), l[i + 1..].trim().to_string()))
        })
        .collect()
}

/// Top-level TOML scalars as text.
pub(super) fn parse_toml_file(text: &str) -> Result<Vec<(String, String)>, String> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
    let mut out = Vec::new();
    for (k, v) in table {
        let s = match v {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => {
                return Err(format!(
                    "key `{k}` must be a string, number or boolean, not {}",
                    other.type_str()
                ))
            }
        };
        out.push((k, s));
    }
    Ok(out)
}
