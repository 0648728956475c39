//! SQL92 message filters: RocketMQ's selector language (a JMS-selector subset), compiled once per
//! subscription and evaluated against a stored message's properties (remoting-protocol.md §19).
//!
//! Pure: no I/O, no clock. The broker compiles a subscription's expression when it learns it (heartbeat,
//! CHECK_CLIENT_CONFIG, a pull carrying its subscription) and evaluates the compiled [`Expression`] per
//! message on the pull path, with a property lookup it provides.
//!
//! Grammar (RocketMQ `SelectorParser.jj`; keywords case-insensitive; `--` and `/* */` comments):
//!
//! ```text
//! selector   := or
//! or         := and (OR and)*
//! and        := equality (AND equality)*
//! equality   := comparison ( '=' comparison | '<>' comparison | IS NULL | IS NOT NULL )*
//! comparison := unary ( ('>'|'>='|'<'|'<=') unary | [NOT] BETWEEN unary AND unary
//!                     | [NOT] IN '(' string (',' string)* ')'
//!                     | [NOT] (CONTAINS|STARTSWITH|ENDSWITH) string )*
//! unary      := '+' unary | '-' unary | NOT unary | primary
//! primary    := literal | identifier | '(' or ')'
//! ```
//!
//! Semantics follow the Java evaluator, quirks included (the table tests pin them):
//! - Property values are strings; a missing property is null. Three-valued logic: a comparison with a
//!   null operand is null, `NOT null` is null, AND/OR as in SQL; a message matches only when the whole
//!   expression is exactly TRUE, so `a <> 'x'` and `NOT IN` do not match messages without `a`.
//! - A string is converted to the other operand's type (`Integer.valueOf`, `Long.valueOf`,
//!   `Double.valueOf`, `Boolean.valueOf`); a failed conversion is an evaluation error, and an
//!   evaluation error anywhere means "not matched" (Java throws out of the whole expression).
//! - `=` with a null on the right only (`5 = a`, `a` missing) is FALSE, not null; two missing
//!   properties are equal. `>`-style comparisons of two strings compare them as doubles.
//! - Parse-time refusals: `>`/`<` with a string/boolean literal or a boolean expression operand,
//!   `= NULL`, a boolean literal compared with another kind of literal, constant BETWEEN bounds with
//!   low > high, IN on something that is not a property, `0.0` (Java refuses floats below
//!   `Double.MIN_VALUE`), an expression that is not boolean (`5`, `'x'`).
//!
//! Differences from Java, deliberate: trailing input after a complete expression is a parse error
//! (Java's parser silently ignores it); integer literals beyond 64 bits are refused (Java makes a
//! BigDecimal); a `--` comment may end the input without a newline.
//!
//! Bounds: an expression longer than [`EXPRESSION_MAX_BYTES`] is refused before it is read; nesting
//! (parentheses, NOT, unary signs) deeper than [`NESTING_MAX`] and trees deeper than [`DEPTH_MAX`] are
//! refused while parsing. AND/OR chains are flattened into one n-ary node, so a long chain of
//! conditions is wide, not deep. Parsing, evaluation and dropping recurse at most that deep: a hostile
//! expression gets a [`ParseError`], never a stack overflow.
//!
//! Rejected: a parser-generator crate (pest, lalrpop) — the grammar is small, and its bounds (depth,
//! length) and error positions are easier to guarantee by hand than through generated recursion.

mod eval;
mod parse;
#[cfg(test)]
mod tests;

pub use parse::parse;

/// Longest expression accepted, in bytes.
pub const EXPRESSION_MAX_BYTES: usize = 16 << 10;
/// Deepest nesting of parentheses and unary operators accepted.
pub const NESTING_MAX: usize = 64;
/// Deepest expression tree accepted (bounds evaluation's recursion).
pub const DEPTH_MAX: usize = 128;

/// Why an expression was refused, and where (1-based line and column, in characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid MessageSelector. {reason} at line {line}, column {column}")]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub reason: String,
}

/// A value during evaluation; `Str` borrows from the expression or from the message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value<'a> {
    Null,
    Bool(bool),
    Int(i32),
    Long(i64),
    Double(f64),
    Str(&'a str),
}

/// A literal in a compiled expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    Null,
    Bool(bool),
    Int(i32),
    Long(i64),
    Double(f64),
    Str(String),
}

/// `>`, `>=`, `<`, `<=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    Gt,
    Ge,
    Lt,
    Le,
}

/// CONTAINS, STARTSWITH, ENDSWITH (RocketMQ 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StrOp {
    Contains,
    StartsWith,
    EndsWith,
}

/// A compiled expression node.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Lit(Literal),
    Prop(String),
    /// Unary minus.
    Neg(Box<Node>),
    /// A property used where a boolean is expected.
    BoolCast(Box<Node>),
    Not(Box<Node>),
    And(Vec<Node>),
    Or(Vec<Node>),
    /// Java's equality (also IS NULL, as `x = NULL`).
    Eq(Box<Node>, Box<Node>),
    Cmp(Order, Box<Node>, Box<Node>),
    /// `v BETWEEN lo AND hi` = `v >= lo AND v <= hi`; negated: `v < lo OR v > hi` (`v` evaluated once:
    /// a shared operand must not be copied, or nested BETWEENs would grow exponentially).
    Between {
        value: Box<Node>,
        low: Box<Node>,
        high: Box<Node>,
        negated: bool,
    },
    In {
        prop: String,
        values: Vec<String>,
        negated: bool,
    },
    Str {
        op: StrOp,
        left: Box<Node>,
        pattern: String,
        negated: bool,
    },
}

/// A compiled SQL92 filter. Cheap to evaluate, immutable, shareable across shards (`Send + Sync`).
#[derive(Debug, Clone, PartialEq)]
pub struct Expression {
    pub(crate) root: Node,
    text: String,
}

impl Expression {
    /// The text it was compiled from.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether a message with these properties matches: the expression evaluates to exactly TRUE.
    /// `property` looks a property up by name (None = missing).
    pub fn matches<'a>(&'a self, property: &dyn Fn(&str) -> Option<&'a str>) -> bool {
        matches!(eval::eval(&self.root, property), Ok(Value::Bool(true)))
    }

    /// [`Expression::matches`] against a RocketMQ properties string (`k\x01v\x02...`).
    pub fn matches_properties(&self, properties: &str) -> bool {
        let lookup = |name: &str| crate::message::properties::find(properties, name);
        matches!(eval::eval(&self.root, &lookup), Ok(Value::Bool(true)))
    }
}
