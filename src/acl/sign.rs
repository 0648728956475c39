//! ACL 1.0 request signatures (RocketMQ's `AclClientRPCHook`), shared by the broker, which checks
//! them, and our own clients (admin tool, console, load generator), which make them.
//!
//! The signed content is the **values** of every extField except `Signature`, in byte order of their
//! keys (Java's `TreeMap` order, the same for ASCII keys), concatenated with no separator, then the
//! body. The signature is standard Base64 of HMAC-SHA1 keyed with the secret key. The C++ client
//! signs the same content (its `std::map` order), adding `OnsChannel` among the fields.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The extField that carries the signature (not part of the signed content).
pub const SIGNATURE: &str = "Signature";
/// The extField naming the account.
pub const ACCESS_KEY: &str = "AccessKey";
/// Java clients' optional security token (signed like any other field).
pub const SECURITY_TOKEN: &str = "SecurityToken";
/// Java 4.x clients add this to QUERY_MESSAGE before signing, and Java brokers drop it before
/// checking (apache/rocketmq#5310): a signature is accepted with or without it.
pub const UNIQUE_KEY_QUERY: &str = "_UNIQUE_KEY_QUERY";

/// Base64(HMAC-SHA1(secret, values of `fields` sorted by key, minus `Signature` and `skip`, + body)).
pub fn signature<'a>(
    secret: &str,
    fields: impl IntoIterator<Item = (&'a str, &'a str)>,
    skip: Option<&str>,
    body: &[u8],
) -> String {
    let mut sorted: Vec<(&str, &str)> = fields
        .into_iter()
        .filter(|(k, _)| *k != SIGNATURE && Some(*k) != skip)
        .collect();
    sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut mac =
        Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    for (_, v) in sorted {
        mac.update(v.as_bytes());
    }
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// An account's credentials, for our own clients (admin tool, console, load generator) to sign with.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key: String,
    pub secret_key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .finish()
    }
}

/// Signs a request as a Java client's `AclClientRPCHook` does: sets `AccessKey`, then `Signature`
/// over every other extField and the body. Sign last: any field set afterwards breaks it.
pub fn sign_command(cmd: &mut crate::remoting::RemotingCommand, c: &Credentials) {
    cmd.set_ext(ACCESS_KEY, &c.access_key);
    let sig = signature(&c.secret_key, cmd.ext_fields.iter(), None, &cmd.body);
    cmd.set_ext(SIGNATURE, sig);
}

/// Compares two signatures in time independent of where they differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2202 test case 2 (HMAC-SHA1, key "Jefe"): the content is the sorted values then the body.
    #[test]
    fn hmac_sha1_base64_of_sorted_values_then_body() {
        // Values sorted by key: "a" -> "what do ya want ", "b" -> "for nothing?"; no body.
        let sig = signature(
            "Jefe",
            [("b", "for nothing?"), ("a", "what do ya want ")],
            None,
            b"",
        );
        // effcdf6ae5eb2fa2d27416d5f184df9c259a7c79 in Base64.
        assert_eq!(sig, "7/zfauXrL6LSdBbV8YTfnCWafHk=");
        // The same bytes split differently between fields and body sign the same.
        let sig2 = signature("Jefe", [("a", "what do ya ")], None, b"want for nothing?");
        assert_eq!(sig, sig2);
    }

    #[test]
    fn signature_and_skipped_fields_are_not_signed() {
        let base = signature("k", [("AccessKey", "ak"), ("topic", "T")], None, b"x");
        let with_sig = signature(
            "k",
            [("AccessKey", "ak"), ("Signature", "zzz"), ("topic", "T")],
            None,
            b"x",
        );
        assert_eq!(base, with_sig);
        let with_uk = signature(
            "k",
            [
                ("AccessKey", "ak"),
                (UNIQUE_KEY_QUERY, "false"),
                ("topic", "T"),
            ],
            Some(UNIQUE_KEY_QUERY),
            b"x",
        );
        assert_eq!(base, with_uk);
        assert_ne!(
            base,
            signature("k", [("AccessKey", "ak"), ("topic", "T2")], None, b"x")
        );
        assert_ne!(
            base,
            signature("k2", [("AccessKey", "ak"), ("topic", "T")], None, b"x")
        );
    }

    #[test]
    fn upper_case_keys_sort_first_as_in_java() {
        // "AccessKey" < "a" in byte order: the access key's value comes first in the content.
        let sig = signature(
            "Jefe",
            [("a", "for nothing?"), ("AccessKey", "what do ya want ")],
            None,
            b"",
        );
        assert_eq!(sig, "7/zfauXrL6LSdBbV8YTfnCWafHk=");
    }

    #[test]
    fn signed_command_verifies_and_hides_the_secret() {
        let mut cmd = crate::remoting::RemotingCommand::request(11)
            .with_ext("topic", "T")
            .with_body(&b"xy"[..]);
        let c = Credentials {
            access_key: "ak0001".into(),
            secret_key: "sk0001".into(),
        };
        sign_command(&mut cmd, &c);
        assert_eq!(cmd.ext(ACCESS_KEY), Some("ak0001"));
        let want = signature(
            "sk0001",
            [("topic", "T"), ("AccessKey", "ak0001")],
            None,
            b"xy",
        );
        assert_eq!(cmd.ext(SIGNATURE), Some(want.as_str()));
        // Signing again (a retry) replaces, never duplicates, the fields.
        sign_command(&mut cmd, &c);
        assert_eq!(cmd.ext_fields.len(), 3);
        assert!(!format!("{c:?}").contains("sk0001"));
    }

    #[test]
    fn same_compares_whole_strings() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
    }
}
