//! Lexer and recursive-descent parser for the selector grammar (see the module comment of
//! [`super`]), with Java's parse-time checks. Recursion is bounded by [`NESTING_MAX`]; every node's
//! depth is tracked and bounded by [`DEPTH_MAX`].

use super::{
    Expression, Literal, Node, Order, ParseError, StrOp, DEPTH_MAX, EXPRESSION_MAX_BYTES,
    NESTING_MAX,
};

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Int(String),
    Float(String),
    Str(String),
    Kw(Kw),
    /// `=`, `<>`, `<`, `<=`, `>`, `>=`, `(`, `)`, `,`, `+`, `-`.
    Sym(&'static str),
    Eof,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kw {
    Not,
    And,
    Or,
    Between,
    In,
    True,
    False,
    Null,
    Is,
    Contains,
    StartsWith,
    EndsWith,
}

const KEYWORDS: &[(&str, Kw)] = &[
    ("NOT", Kw::Not),
    ("AND", Kw::And),
    ("OR", Kw::Or),
    ("BETWEEN", Kw::Between),
    ("IN", Kw::In),
    ("TRUE", Kw::True),
    ("FALSE", Kw::False),
    ("NULL", Kw::Null),
    ("IS", Kw::Is),
    ("CONTAINS", Kw::Contains),
    ("STARTSWITH", Kw::StartsWith),
    ("ENDSWITH", Kw::EndsWith),
];

/// A token and where it starts.
#[derive(Debug, Clone)]
struct Spanned {
    tok: Tok,
    line: usize,
    column: usize,
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) | Tok::Int(s) | Tok::Float(s) => format!("\"{s}\""),
        Tok::Str(s) => format!("'{s}'"),
        Tok::Kw(k) => {
            let name = KEYWORDS
                .iter()
                .find(|(_, v)| v == k)
                .map_or("?", |(n, _)| n);
            format!("\"{name}\"")
        }
        Tok::Sym(s) => format!("\"{s}\""),
        Tok::Eof => "the end of the expression".into(),
    }
}

fn lex(text: &str) -> Result<Vec<Spanned>, ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line, mut col) = (0usize, 1usize, 1usize);
    // Advances over `n` chars, keeping line/column.
    let advance = |i: &mut usize, line: &mut usize, col: &mut usize, n: usize| {
        for _ in 0..n {
            if chars[*i] == '\n' {
                *line += 1;
                *col = 1;
            } else {
                *col += 1;
            }
            *i += 1;
        }
    };
    let err = |line, column, reason: String| ParseError {
        line,
        column,
        reason,
    };
    while i < chars.len() {
        let c = chars[i];
        let (l0, c0) = (line, col);
        if matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{c}') {
            advance(&mut i, &mut line, &mut col, 1);
            continue;
        }
        if c == '-' && chars.get(i + 1) == Some(&'-') {
            let mut n = 0;
            while i + n < chars.len() && chars[i + n] != '\n' && chars[i + n] != '\r' {
                n += 1;
            }
            advance(&mut i, &mut line, &mut col, n);
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'*') {
            let mut n = 2;
            loop {
                if i + n + 1 >= chars.len() {
                    return Err(err(l0, c0, "unterminated comment".into()));
                }
                if chars[i + n] == '*' && chars[i + n + 1] == '/' {
                    n += 2;
                    break;
                }
                n += 1;
            }
            advance(&mut i, &mut line, &mut col, n);
            continue;
        }
        let (tok, n) = if c == '\'' {
            let mut s = String::new();
            let mut n = 1;
            loop {
                match chars.get(i + n) {
                    None => return Err(err(l0, c0, "unterminated string literal".into())),
                    Some('\'') if chars.get(i + n + 1) == Some(&'\'') => {
                        s.push('\'');
                        n += 2;
                    }
                    Some('\'') => {
                        n += 1;
                        break;
                    }
                    Some(&ch) => {
                        s.push(ch);
                        n += 1;
                    }
                }
            }
            (Tok::Str(s), n)
        } else if c.is_ascii_alphabetic() || c == '_' || c == '$' {
            let mut n = 1;
            while chars
                .get(i + n)
                .is_some_and(|ch| ch.is_ascii_alphanumeric() || *ch == '_' || *ch == '$')
            {
                n += 1;
            }
            let word: String = chars[i..i + n].iter().collect();
            let tok = KEYWORDS
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(&word))
                .map_or(Tok::Ident(word), |(_, kw)| Tok::Kw(*kw));
            (tok, n)
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            lex_number(&chars[i..]).ok_or_else(|| err(l0, c0, "malformed number".into()))?
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let sym = match (c, two.as_str()) {
                (_, "<>") => "<>",
                (_, "<=") => "<=",
                (_, ">=") => ">=",
                ('=', _) => "=",
                ('<', _) => "<",
                ('>', _) => ">",
                ('(', _) => "(",
                (')', _) => ")",
                (',', _) => ",",
                ('+', _) => "+",
                ('-', _) => "-",
                _ => return Err(err(l0, c0, format!("unexpected character {c:?}"))),
            };
            (Tok::Sym(sym), sym.len())
        };
        out.push(Spanned {
            tok,
            line: l0,
            column: c0,
        });
        advance(&mut i, &mut line, &mut col, n);
    }
    out.push(Spanned {
        tok: Tok::Eof,
        line,
        column: col,
    });
    Ok(out)
}

/// A number at the start of `s`: DECIMAL (`0` | `[1-9][0-9]*`, optional `L`) or FLOATING_POINT
/// (`d+.d*[e]`, `.d+[e]`, `d+e`), the longest that matches. Returns the token and its length.
fn lex_number(s: &[char]) -> Option<(Tok, usize)> {
    let digits = |from: usize| {
        let mut n = from;
        while s.get(n).is_some_and(char::is_ascii_digit) {
            n += 1;
        }
        n
    };
    let exponent = |from: usize| -> Option<usize> {
        if !matches!(s.get(from), Some('e' | 'E')) {
            return None;
        }
        let mut n = from + 1;
        if matches!(s.get(n), Some('+' | '-')) {
            n += 1;
        }
        let end = digits(n);
        (end > n).then_some(end)
    };
    let int_end = digits(0);
    let text = |n: usize| s[..n].iter().collect::<String>();
    if int_end == 0 {
        // `.5`
        let end = digits(1);
        let end = exponent(end).unwrap_or(end);
        return Some((Tok::Float(text(end)), end));
    }
    if s.get(int_end) == Some(&'.') {
        let end = digits(int_end + 1);
        let end = exponent(end).unwrap_or(end);
        return Some((Tok::Float(text(end)), end));
    }
    if let Some(end) = exponent(int_end) {
        return Some((Tok::Float(text(end)), end));
    }
    // DECIMAL: "0" alone, or no leading zero.
    let end = if s[0] == '0' { 1 } else { int_end };
    let end = if matches!(s.get(end), Some('l' | 'L')) {
        end + 1
    } else {
        end
    };
    Some((Tok::Int(text(end)), end))
}

/// A parsed node and the depth of its tree.
struct Parsed {
    node: Node,
    depth: usize,
}

struct Parser {
    toks: Vec<Spanned>,
    pos: usize,
    nesting: usize,
}

/// Compiles an expression, or says why and where it is refused.
pub fn parse(text: &str) -> Result<Expression, ParseError> {
    if text.len() > EXPRESSION_MAX_BYTES {
        return Err(ParseError {
            line: 1,
            column: 1,
            reason: format!(
                "the expression is {} bytes, more than the {EXPRESSION_MAX_BYTES} accepted",
                text.len()
            ),
        });
    }
    let mut p = Parser {
        toks: lex(text)?,
        pos: 0,
        nesting: 0,
    };
    let top = p.or()?;
    let top = p.as_boolean(top)?;
    if p.peek() != &Tok::Eof {
        return Err(p.unexpected("the end of the expression"));
    }
    Ok(Expression {
        root: top.node,
        text: text.to_owned(),
    })
}

fn is_boolean(n: &Node) -> bool {
    match n {
        Node::Lit(l) => matches!(l, Literal::Bool(_) | Literal::Null),
        Node::Prop(_) | Node::Neg(_) => false,
        Node::BoolCast(_)
        | Node::Not(_)
        | Node::And(_)
        | Node::Or(_)
        | Node::Eq(..)
        | Node::Cmp(..)
        | Node::Between { .. }
        | Node::In { .. }
        | Node::Str { .. } => true,
    }
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos].tok
    }

    fn peek2(&self) -> &Tok {
        &self.toks[(self.pos + 1).min(self.toks.len() - 1)].tok
    }

    fn bump(&mut self) -> Tok {
        let t = self.toks[self.pos].tok.clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    /// An error at the current token.
    fn error_here(&self, reason: String) -> ParseError {
        let s = &self.toks[self.pos];
        ParseError {
            line: s.line,
            column: s.column,
            reason,
        }
    }

    /// An error at the token at index `at` (an operator, found before its operands were parsed).
    fn error_at(&self, at: usize, reason: String) -> ParseError {
        let s = &self.toks[at];
        ParseError {
            line: s.line,
            column: s.column,
            reason,
        }
    }

    /// An error at the token before the current one (the operator just consumed).
    fn error_before(&self, reason: String) -> ParseError {
        let s = &self.toks[self.pos.saturating_sub(1)];
        ParseError {
            line: s.line,
            column: s.column,
            reason,
        }
    }

    fn unexpected(&self, expected: &str) -> ParseError {
        self.error_here(format!(
            "Encountered {}, was expecting {expected}",
            describe(self.peek())
        ))
    }

    fn expect_sym(&mut self, sym: &'static str) -> Result<(), ParseError> {
        if self.peek() == &Tok::Sym(sym) {
            self.bump();
            Ok(())
        } else {
            Err(self.unexpected(&format!("\"{sym}\"")))
        }
    }

    fn eat_kw(&mut self, kw: Kw) -> bool {
        if self.peek() == &Tok::Kw(kw) {
            self.bump();
            true
        } else {
            false
        }
    }

    /// Builds a node from children, refusing trees deeper than [`DEPTH_MAX`].
    fn node(&self, node: Node, child_depth: usize) -> Result<Parsed, ParseError> {
        let depth = child_depth + 1;
        if depth > DEPTH_MAX {
            return Err(self.error_before(format!(
                "the expression is nested more than {DEPTH_MAX} levels deep"
            )));
        }
        Ok(Parsed { node, depth })
    }

    fn as_boolean(&self, p: Parsed) -> Result<Parsed, ParseError> {
        if is_boolean(&p.node) {
            return Ok(p);
        }
        if matches!(p.node, Node::Prop(_)) {
            return self.node(Node::BoolCast(Box::new(p.node)), p.depth);
        }
        Err(self.error_before(format!(
            "Expression will not result in a boolean value: {}",
            show(&p.node)
        )))
    }

    /// AND/OR chains become one n-ary node.
    fn logic(&mut self, kw: Kw) -> Result<Parsed, ParseError> {
        let sub = |p: &mut Parser| {
            if kw == Kw::Or {
                p.and()
            } else {
                p.equality()
            }
        };
        let first = sub(self)?;
        if self.peek() != &Tok::Kw(kw) {
            return Ok(first);
        }
        let first = self.as_boolean(first)?;
        let mut depth = first.depth;
        let mut items = vec![first.node];
        while self.eat_kw(kw) {
            let next = sub(self)?;
            let next = self.as_boolean(next)?;
            depth = depth.max(next.depth);
            items.push(next.node);
        }
        let node = if kw == Kw::Or {
            Node::Or(items)
        } else {
            Node::And(items)
        };
        self.node(node, depth)
    }

    fn or(&mut self) -> Result<Parsed, ParseError> {
        self.logic(Kw::Or)
    }

    fn and(&mut self) -> Result<Parsed, ParseError> {
        self.logic(Kw::And)
    }

    fn equality(&mut self) -> Result<Parsed, ParseError> {
        let mut left = self.comparison()?;
        loop {
            match self.peek().clone() {
                Tok::Sym(op @ ("=" | "<>")) => {
                    let at = self.pos;
                    self.bump();
                    let right = self.comparison()?;
                    check_equal_operand(&left.node).map_err(|r| self.error_at(at, r))?;
                    check_equal_operand(&right.node).map_err(|r| self.error_at(at, r))?;
                    if let (Node::Lit(l), Node::Lit(r)) = (&left.node, &right.node) {
                        if matches!(l, Literal::Bool(_)) && !matches!(r, Literal::Bool(_)) {
                            return Err(self.error_at(
                                at,
                                format!(
                                    "'{}' cannot be compared with '{}'",
                                    show(&left.node),
                                    show(&right.node)
                                ),
                            ));
                        }
                    }
                    let depth = left.depth.max(right.depth);
                    let eq =
                        self.node(Node::Eq(Box::new(left.node), Box::new(right.node)), depth)?;
                    left = if op == "<>" {
                        self.node(Node::Not(Box::new(eq.node)), eq.depth)?
                    } else {
                        eq
                    };
                }
                Tok::Kw(Kw::Is) => {
                    self.bump();
                    let negated = self.eat_kw(Kw::Not);
                    if !self.eat_kw(Kw::Null) {
                        return Err(self.unexpected("\"NULL\""));
                    }
                    let null = Box::new(Node::Lit(Literal::Null));
                    let eq = self.node(Node::Eq(Box::new(left.node), null), left.depth)?;
                    left = if negated {
                        self.node(Node::Not(Box::new(eq.node)), eq.depth)?
                    } else {
                        eq
                    };
                }
                _ => return Ok(left),
            }
        }
    }

    fn comparison(&mut self) -> Result<Parsed, ParseError> {
        let mut left = self.unary()?;
        loop {
            let at = self.pos;
            let negated = self.peek() == &Tok::Kw(Kw::Not)
                && matches!(
                    self.peek2(),
                    Tok::Kw(Kw::Between | Kw::In | Kw::Contains | Kw::StartsWith | Kw::EndsWith)
                );
            if negated {
                self.bump();
            }
            left = match self.peek().clone() {
                Tok::Sym(op @ (">" | ">=" | "<" | "<=")) if !negated => {
                    self.bump();
                    let right = self.unary()?;
                    let order = match op {
                        ">" => Order::Gt,
                        ">=" => Order::Ge,
                        "<" => Order::Lt,
                        _ => Order::Le,
                    };
                    self.order(at, order, left, right)?
                }
                Tok::Kw(Kw::Between) => {
                    self.bump();
                    let low = self.unary()?;
                    if !self.eat_kw(Kw::And) {
                        return Err(self.unexpected("\"AND\""));
                    }
                    let high = self.unary()?;
                    self.between(at, left, low, high, negated)?
                }
                Tok::Kw(Kw::In) => {
                    self.bump();
                    let Node::Prop(prop) = left.node else {
                        return Err(self.error_at(
                            at,
                            format!(
                                "Expected a property for In expression, got: {}",
                                show(&left.node)
                            ),
                        ));
                    };
                    self.expect_sym("(")?;
                    let mut values = vec![self.string()?];
                    while self.peek() == &Tok::Sym(",") {
                        self.bump();
                        values.push(self.string()?);
                    }
                    self.expect_sym(")")?;
                    self.node(
                        Node::In {
                            prop,
                            values,
                            negated,
                        },
                        left.depth,
                    )?
                }
                Tok::Kw(kw @ (Kw::Contains | Kw::StartsWith | Kw::EndsWith)) => {
                    self.bump();
                    let pattern = self.string()?;
                    let op = match kw {
                        Kw::Contains => StrOp::Contains,
                        Kw::StartsWith => StrOp::StartsWith,
                        _ => StrOp::EndsWith,
                    };
                    let node = Node::Str {
                        op,
                        left: Box::new(left.node),
                        pattern,
                        negated,
                    };
                    self.node(node, left.depth)?
                }
                _ => return Ok(left),
            };
        }
    }

    fn string(&mut self) -> Result<String, ParseError> {
        match self.peek().clone() {
            Tok::Str(s) => {
                self.bump();
                Ok(s)
            }
            _ => Err(self.unexpected("a string literal")),
        }
    }

    fn order(
        &self,
        at: usize,
        order: Order,
        left: Parsed,
        right: Parsed,
    ) -> Result<Parsed, ParseError> {
        check_less_than_operand(&left.node).map_err(|r| self.error_at(at, r))?;
        check_less_than_operand(&right.node).map_err(|r| self.error_at(at, r))?;
        let depth = left.depth.max(right.depth);
        self.node(
            Node::Cmp(order, Box::new(left.node), Box::new(right.node)),
            depth,
        )
    }

    /// `v BETWEEN lo AND hi` = `v >= lo AND v <= hi`; NOT BETWEEN = `v < lo OR v > hi`.
    fn between(
        &self,
        at: usize,
        value: Parsed,
        low: Parsed,
        high: Parsed,
        negated: bool,
    ) -> Result<Parsed, ParseError> {
        if !negated {
            if let (Node::Lit(lo), Node::Lit(hi)) = (&low.node, &high.node) {
                if matches!(lo, Literal::Null) || matches!(hi, Literal::Null) {
                    return Err(self.error_at(
                        at,
                        "Illegal values of between, values can not be null!".into(),
                    ));
                }
                let below = super::eval::compare(hi.as_value(), lo.as_value())
                    .map_err(|e| self.error_at(at, e.0))?;
                if below < 0 {
                    return Err(self.error_at(at, format!(
                        "Illegal values of between, left value({}) must less than or equal to right value({})",
                        show(&low.node),
                        show(&high.node)
                    )));
                }
            }
        }
        for n in [&value.node, &low.node, &high.node] {
            check_less_than_operand(n).map_err(|r| self.error_at(at, r))?;
        }
        let depth = value.depth.max(low.depth).max(high.depth);
        self.node(
            Node::Between {
                value: Box::new(value.node),
                low: Box::new(low.node),
                high: Box::new(high.node),
                negated,
            },
            depth,
        )
    }

    fn unary(&mut self) -> Result<Parsed, ParseError> {
        let nests = matches!(self.peek(), Tok::Sym("+" | "-" | "(") | Tok::Kw(Kw::Not));
        if nests {
            self.nesting += 1;
            if self.nesting > NESTING_MAX {
                return Err(self.error_here(format!(
                    "the expression is nested more than {NESTING_MAX} levels deep"
                )));
            }
        }
        let r = self.unary_inner();
        if nests {
            self.nesting -= 1;
        }
        r
    }

    fn unary_inner(&mut self) -> Result<Parsed, ParseError> {
        match self.peek() {
            Tok::Sym("+") => {
                self.bump();
                self.unary()
            }
            Tok::Sym("-") => {
                self.bump();
                let inner = self.unary()?;
                self.node(Node::Neg(Box::new(inner.node)), inner.depth)
            }
            Tok::Kw(Kw::Not) => {
                self.bump();
                let inner = self.unary()?;
                let inner = self.as_boolean(inner)?;
                self.node(Node::Not(Box::new(inner.node)), inner.depth)
            }
            _ => self.primary(),
        }
    }

    fn primary(&mut self) -> Result<Parsed, ParseError> {
        let lit = |l| {
            Ok(Parsed {
                node: Node::Lit(l),
                depth: 1,
            })
        };
        match self.peek().clone() {
            Tok::Sym("(") => {
                self.bump();
                let inner = self.or()?;
                self.expect_sym(")")?;
                Ok(inner)
            }
            Tok::Ident(name) => {
                self.bump();
                Ok(Parsed {
                    node: Node::Prop(name),
                    depth: 1,
                })
            }
            Tok::Str(s) => {
                self.bump();
                lit(Literal::Str(s))
            }
            Tok::Kw(Kw::True) => {
                self.bump();
                lit(Literal::Bool(true))
            }
            Tok::Kw(Kw::False) => {
                self.bump();
                lit(Literal::Bool(false))
            }
            Tok::Kw(Kw::Null) => {
                self.bump();
                lit(Literal::Null)
            }
            Tok::Int(text) => {
                self.bump();
                let digits = text.trim_end_matches(['l', 'L']);
                let v: i64 = digits.parse().map_err(|_| {
                    self.error_before(format!("integer literal {text} does not fit 64 bits"))
                })?;
                lit(match i32::try_from(v) {
                    Ok(i) => Literal::Int(i),
                    Err(_) => Literal::Long(v),
                })
            }
            Tok::Float(text) => {
                self.bump();
                let v: f64 = text
                    .parse()
                    .map_err(|_| self.error_before(format!("malformed number {text}")))?;
                if v.is_infinite() {
                    return Err(self.error_before(format!(
                        "Float value must be smaller than Double.MAX_VALUE: {text}"
                    )));
                }
                if v < f64::from_bits(1) {
                    return Err(self.error_before(format!(
                        "Float value must be larger than Double.MIN_VALUE: {text}"
                    )));
                }
                lit(Literal::Double(v))
            }
            _ => Err(self.unexpected("a literal, a property name or \"(\"")),
        }
    }
}

/// Java `checkEqualOperand`: NULL cannot be compared with `=`/`<>`.
fn check_equal_operand(n: &Node) -> Result<(), String> {
    if matches!(n, Node::Lit(Literal::Null)) {
        return Err("'NULL' cannot be compared.".into());
    }
    Ok(())
}

/// Java `checkLessThanOperand`: only numbers, properties and non-boolean expressions are ordered.
fn check_less_than_operand(n: &Node) -> Result<(), String> {
    match n {
        Node::Lit(Literal::Int(_) | Literal::Long(_) | Literal::Double(_)) => Ok(()),
        Node::Lit(_) => Err(format!("Value '{}' cannot be compared.", show(n))),
        n if is_boolean(n) => Err(format!("Value '{}' cannot be compared.", show(n))),
        _ => Ok(()),
    }
}

/// A short rendering of a node for error messages.
fn show(n: &Node) -> String {
    match n {
        Node::Lit(Literal::Null) => "NULL".into(),
        Node::Lit(Literal::Bool(b)) => if *b { "TRUE" } else { "FALSE" }.into(),
        Node::Lit(Literal::Int(i)) => i.to_string(),
        Node::Lit(Literal::Long(i)) => i.to_string(),
        Node::Lit(Literal::Double(d)) => d.to_string(),
        Node::Lit(Literal::Str(s)) => format!("'{s}'"),
        Node::Prop(p) => p.clone(),
        _ => "(expression)".into(),
    }
}
