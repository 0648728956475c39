//! Lenient JSON scalars and enums shared by the bodies: numbers as text, null as empty, enums by
//! name or ordinal (§6.1).

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// Accepts a JSON number, a numeric string, or null (-> 0).
pub(super) fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = i64;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an integer or numeric string")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
            Ok(v)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
            i64::try_from(v).map_err(|_| E::custom("integer out of range"))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
            Ok(v as i64)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
            let v = v.trim();
            if v.is_empty() {
                return Ok(0);
            }
            v.parse()
                .map_err(|_| E::custom(format!("not an integer: {v:?}")))
        }
        fn visit_unit<E: de::Error>(self) -> Result<i64, E> {
            Ok(0)
        }
    }
    d.deserialize_any(V)
}

pub(super) fn lenient_i32<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    let v = lenient_i64(d)?;
    i32::try_from(v).map_err(|_| de::Error::custom(format!("out of range for i32: {v}")))
}

/// Accepts a boolean, `"true"`/`"false"` (Java parseBoolean), a number (non-zero = true) or null.
pub(super) fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a boolean")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
            Ok(v.eq_ignore_ascii_case("true"))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
            Ok(v != 0)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
            Ok(v != 0)
        }
        fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
            Ok(false)
        }
    }
    d.deserialize_any(V)
}

/// A list or map that may be null (absent too, with `#[serde(default)]`).
pub(super) fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A string that may be null.
pub(super) fn null_as_empty_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// An enum given by name (case-insensitive, with aliases) or by ordinal.
pub(super) enum EnumToken {
    Name(String),
    Ordinal(i64),
    Null,
}

impl<'de> Deserialize<'de> for EnumToken {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<EnumToken, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = EnumToken;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an enum name or ordinal")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<EnumToken, E> {
                match v.trim().parse::<i64>() {
                    Ok(n) => Ok(EnumToken::Ordinal(n)),
                    Err(_) => Ok(EnumToken::Name(v.trim().to_ascii_uppercase())),
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<EnumToken, E> {
                Ok(EnumToken::Ordinal(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<EnumToken, E> {
                Ok(EnumToken::Ordinal(v.min(i64::MAX as u64) as i64))
            }
            fn visit_unit<E: de::Error>(self) -> Result<EnumToken, E> {
                Ok(EnumToken::Null)
            }
        }
        d.deserialize_any(V)
    }
}

macro_rules! lenient_enum {
    (
        $(#[$meta:meta])*
        $name:ident, what = $what:literal, default = $default:ident,
        unknown_is_default = $lenient:literal,
        { $( $variant:ident = $ord:literal, $java:literal $(| $alias:literal)* ; )+ }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[allow(clippy::enum_variant_names)]
        pub enum $name {
            $( #[doc = $java] $variant, )+
        }

        impl $name {
            /// What an absent or null value means.
            pub const DEFAULT: $name = $name::$default;

            /// The Java enum constant name.
            pub fn as_java_name(self) -> &'static str {
                match self { $( $name::$variant => $java, )+ }
            }

            /// The Java enum ordinal.
            pub fn ordinal(self) -> i32 {
                match self { $( $name::$variant => $ord, )+ }
            }

            pub fn from_ordinal(n: i64) -> Option<$name> {
                match n { $( $ord => Some($name::$variant), )+ _ => None }
            }

            /// By Java name (case-insensitive) or known alias.
            pub fn from_java_name(s: &str) -> Option<$name> {
                let up = s.trim().to_ascii_uppercase();
                match up.as_str() {
                    $( $java $(| $alias)* => Some($name::$variant), )+
                    _ => None,
                }
            }
        }

        impl Default for $name {
            fn default() -> $name {
                $name::DEFAULT
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_java_name())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                let found = match EnumToken::deserialize(d)? {
                    EnumToken::Null => return Ok($name::DEFAULT),
                    EnumToken::Ordinal(n) => $name::from_ordinal(n).ok_or_else(|| n.to_string()),
                    EnumToken::Name(s) => $name::from_java_name(&s).ok_or(s),
                };
                match found {
                    Ok(v) => Ok(v),
                    Err(_) if $lenient => Ok($name::DEFAULT),
                    Err(v) => Err(de::Error::custom(format!("unknown {} {:?}", $what, v))),
                }
            }
        }
    };
}

pub(super) use lenient_enum;
