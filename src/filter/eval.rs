//! Evaluation of a compiled expression against a property lookup, with Java's conversions and
//! three-valued logic (see the module comment of [`super`]). Recursion is bounded by the tree depth
//! the parser allowed ([`super::DEPTH_MAX`]).
//!
//! Type mixes in a comparison (Java `ComparisonExpression.__compare`, conversion of strings on):
//!
//! | left \ right | Bool | Int | Long | Double | Str |
//! |---|---|---|---|---|---|
//! | Bool | compare | less | less | less | error (Java casts the Boolean to String) |
//! | Int | less | int | long | double | `Integer.valueOf(right)` |
//! | Long | less | long | long | double | `Long.valueOf(right)` |
//! | Double | less | double | double | double | `Double.valueOf(right)` |
//! | Str | `Boolean.valueOf(left)` | `Integer.valueOf(left)` | `Long.valueOf(left)` | `Double.valueOf(left)` | string order |
//!
//! A failed conversion is an evaluation error: the message does not match.

use std::cmp::Ordering;

use super::{Literal, Node, Order, StrOp, Value};

/// Why evaluation stopped (Java throws; the message is then not matched).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EvalError(pub String);

type Lookup<'a, 'f> = &'f dyn Fn(&str) -> Option<&'a str>;

impl Literal {
    pub(crate) fn as_value(&self) -> Value<'_> {
        match self {
            Literal::Null => Value::Null,
            Literal::Bool(b) => Value::Bool(*b),
            Literal::Int(i) => Value::Int(*i),
            Literal::Long(l) => Value::Long(*l),
            Literal::Double(d) => Value::Double(*d),
            Literal::Str(s) => Value::Str(s),
        }
    }
}

pub(crate) fn eval<'a>(node: &'a Node, prop: Lookup<'a, '_>) -> Result<Value<'a>, EvalError> {
    Ok(match node {
        Node::Lit(l) => l.as_value(),
        Node::Prop(name) => prop(name).map_or(Value::Null, Value::Str),
        Node::Neg(inner) => match eval(inner, prop)? {
            Value::Int(i) => Value::Int(i.wrapping_neg()),
            Value::Long(l) => Value::Long(l.wrapping_neg()),
            Value::Double(d) => Value::Double(-d),
            _ => Value::Null,
        },
        Node::BoolCast(inner) => match eval(inner, prop)? {
            Value::Null => Value::Null,
            Value::Bool(b) => Value::Bool(b),
            _ => Value::Bool(false),
        },
        Node::Not(inner) => match boolean(eval(inner, prop)?)? {
            None => Value::Null,
            Some(b) => Value::Bool(!b),
        },
        Node::And(items) => {
            let mut saw_null = false;
            for it in items {
                match boolean(eval(it, prop)?)? {
                    Some(false) => return Ok(Value::Bool(false)),
                    None => saw_null = true,
                    Some(true) => {}
                }
            }
            if saw_null {
                Value::Null
            } else {
                Value::Bool(true)
            }
        }
        Node::Or(items) => {
            let mut saw_null = false;
            for it in items {
                match boolean(eval(it, prop)?)? {
                    Some(true) => return Ok(Value::Bool(true)),
                    None => saw_null = true,
                    Some(false) => {}
                }
            }
            if saw_null {
                Value::Null
            } else {
                Value::Bool(false)
            }
        }
        Node::Eq(l, r) => {
            let lv = eval(l, prop)?;
            let rv = eval(r, prop)?;
            match (lv, rv) {
                (Value::Null, Value::Null) => Value::Bool(true),
                (Value::Null, _) => Value::Null,
                (_, Value::Null) => Value::Bool(false),
                (lv, rv) => Value::Bool(compare(lv, rv)? == 0),
            }
        }
        Node::Cmp(order, l, r) => ordered(*order, eval(l, prop)?, || eval(r, prop))?,
        Node::Between {
            value,
            low,
            high,
            negated,
        } => {
            let v = eval(value, prop)?;
            let (first, second) = if *negated {
                (Order::Lt, Order::Gt)
            } else {
                (Order::Ge, Order::Le)
            };
            // AND (between) stops at FALSE, OR (not between) at TRUE, like the Java expressions.
            let a = ordered(first, v, || eval(low, prop))?;
            if a == Value::Bool(*negated) {
                return Ok(a);
            }
            let b = ordered(second, v, || eval(high, prop))?;
            if b == Value::Bool(*negated) {
                return Ok(b);
            }
            if a == Value::Null || b == Value::Null {
                Value::Null
            } else {
                Value::Bool(!*negated)
            }
        }
        Node::In {
            prop: name,
            values,
            negated,
        } => match prop(name) {
            None => Value::Null,
            Some(v) => Value::Bool(values.iter().any(|x| x == v) ^ *negated),
        },
        Node::Str {
            op,
            left,
            pattern,
            negated,
        } => match eval(left, prop)? {
            Value::Null => Value::Null,
            Value::Str(s) => {
                let hit = match op {
                    StrOp::Contains => s.contains(pattern.as_str()),
                    StrOp::StartsWith => s.starts_with(pattern.as_str()),
                    StrOp::EndsWith => s.ends_with(pattern.as_str()),
                };
                Value::Bool(hit ^ *negated)
            }
            _ => Value::Bool(false),
        },
    })
}

/// A boolean operand of NOT/AND/OR: TRUE, FALSE or null (anything else is Java's ClassCastException).
fn boolean(v: Value<'_>) -> Result<Option<bool>, EvalError> {
    match v {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(b)),
        other => Err(EvalError(format!("{other:?} is not a boolean"))),
    }
}

/// `>`, `>=`, `<`, `<=`: null if either side is null (the right side is not evaluated when the left
/// is null); two strings are compared as doubles.
fn ordered<'a>(
    order: Order,
    lv: Value<'a>,
    right: impl FnOnce() -> Result<Value<'a>, EvalError>,
) -> Result<Value<'a>, EvalError> {
    if lv == Value::Null {
        return Ok(Value::Null);
    }
    let rv = right()?;
    if rv == Value::Null {
        return Ok(Value::Null);
    }
    let c = match (lv, rv) {
        (Value::Str(l), Value::Str(r)) => match (java_double(l), java_double(r)) {
            (Some(l), Some(r)) => cmp_f64(l, r),
            _ => {
                return Err(EvalError(format!(
                    "It's illegal to compare string by '>=', '>', '<', '<='. lv={l}, rv={r}"
                )))
            }
        },
        (lv, rv) => compare(lv, rv)?,
    };
    Ok(Value::Bool(match order {
        Order::Gt => c > 0,
        Order::Ge => c >= 0,
        Order::Lt => c < 0,
        Order::Le => c <= 0,
    }))
}

fn ord(o: Ordering) -> i32 {
    o as i32
}

/// Java `Double.compareTo`: NaN equals NaN and is above everything; -0.0 is below 0.0.
fn cmp_f64(a: f64, b: f64) -> i32 {
    let canon = |x: f64| if x.is_nan() { f64::NAN } else { x };
    ord(canon(a).total_cmp(&canon(b)))
}

fn conv<T>(v: Option<T>, s: &str, what: &str) -> Result<T, EvalError> {
    v.ok_or_else(|| EvalError(format!("For input string: \"{s}\" ({what})")))
}

/// Java `__compare` with string conversion on; see the table in the module comment. Neither side
/// is null.
pub(crate) fn compare(lv: Value<'_>, rv: Value<'_>) -> Result<i32, EvalError> {
    use Value::*;
    let int = |s: &str| conv(s.parse::<i32>().ok(), s, "int");
    let long = |s: &str| conv(s.parse::<i64>().ok(), s, "long");
    let double = |s: &str| conv(java_double(s), s, "double");
    Ok(match (lv, rv) {
        (Bool(a), Bool(b)) => ord(a.cmp(&b)),
        (Bool(_), Str(_)) => return Err(EvalError("Boolean cannot be cast to String".into())),
        (Bool(_), _) => -1,
        (Int(a), Int(b)) => ord(a.cmp(&b)),
        (Int(a), Long(b)) => ord(i64::from(a).cmp(&b)),
        (Int(a), Double(b)) => cmp_f64(f64::from(a), b),
        (Int(a), Str(s)) => ord(a.cmp(&int(s)?)),
        (Long(a), Int(b)) => ord(a.cmp(&i64::from(b))),
        (Long(a), Long(b)) => ord(a.cmp(&b)),
        (Long(a), Double(b)) => cmp_f64(a as f64, b),
        (Long(a), Str(s)) => ord(a.cmp(&long(s)?)),
        (Double(a), Int(b)) => cmp_f64(a, f64::from(b)),
        (Double(a), Long(b)) => cmp_f64(a, b as f64),
        (Double(a), Double(b)) => cmp_f64(a, b),
        (Double(a), Str(s)) => cmp_f64(a, double(s)?),
        (Int(_) | Long(_) | Double(_), Bool(_)) => -1,
        (Str(s), Bool(b)) => ord(s.eq_ignore_ascii_case("true").cmp(&b)),
        (Str(s), Int(b)) => ord(int(s)?.cmp(&b)),
        (Str(s), Long(b)) => ord(long(s)?.cmp(&b)),
        (Str(s), Double(b)) => cmp_f64(double(s)?, b),
        (Str(a), Str(b)) => ord(a.cmp(b)),
        (Null, _) | (_, Null) => -1,
    })
}

/// Java `Double.valueOf(String)` for decimal text: surrounding whitespace (chars up to U+0020) is
/// ignored, an optional sign, `NaN`, `Infinity`, digits with an optional fraction and exponent, and
/// an optional `f`/`d` suffix. Hexadecimal floats are not accepted (rare in message properties).
pub(crate) fn java_double(s: &str) -> Option<f64> {
    let t = s.trim_matches(|c: char| c <= ' ');
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let v = match body {
        "NaN" => f64::NAN,
        "Infinity" => f64::INFINITY,
        _ => {
            let body = body.strip_suffix(['f', 'F', 'd', 'D']).unwrap_or(body);
            if body.is_empty()
                || !body
                    .bytes()
                    .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
                || !body.as_bytes()[0].is_ascii_digit() && body.as_bytes()[0] != b'.'
            {
                return None;
            }
            body.parse::<f64>().ok()?
        }
    };
    Some(if neg { -v } else { v })
}
