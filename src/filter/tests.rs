//! The evaluator's table (expression, properties, matches?) with the Java quirks it pins, the parser's
//! refusals with their positions, and property tests: any input parses or fails cleanly, never
//! overflowing the stack.

use proptest::prelude::*;

use super::*;

fn props(pairs: &[(&str, &str)]) -> String {
    let mut s = String::new();
    for (k, v) in pairs {
        s.push_str(k);
        s.push('\u{1}');
        s.push_str(v);
        s.push('\u{2}');
    }
    s
}

#[test]
fn evaluation_table() {
    let m = &[
        ("a", "5"),
        ("s", "abc"),
        ("f", "5.5"),
        ("t", "true"),
        ("TAGS", "TagA"),
        ("big", "3000000000"),
    ];
    // (expression, matches the properties `m`)
    let rows: &[(&str, bool)] = &[
        ("a = 5", true),
        ("a = '5'", true),
        ("a > 4", true),
        ("a >= 5 AND a <= 5", true),
        ("a < 5", false),
        ("a <> 5", false),
        ("a <> 6", true),
        ("a > 4.5", true),
        ("a BETWEEN 1 AND 10", true),
        ("a BETWEEN 6 AND 10", false),
        ("a NOT BETWEEN 6 AND 10", true),
        ("a NOT BETWEEN 1 AND 10", false),
        ("s = 'abc'", true),
        ("s = 'ABC'", false),
        ("s IN ('x', 'abc')", true),
        ("s NOT IN ('x', 'abc')", false),
        ("s NOT IN ('x', 'y')", true),
        ("a IN ('5')", true),
        ("TAGS = 'TagA'", true),
        ("TAGS IN ('TagB', 'TagA') AND a > 1", true),
        ("tags = 'TagA'", false), // property names are case-sensitive
        // missing properties: null, so neither a condition nor its negation matches
        ("missing = 1", false),
        ("missing <> 1", false),
        ("NOT (missing = 1)", false),
        ("missing IN ('a')", false),
        ("missing NOT IN ('a')", false),
        ("missing BETWEEN 1 AND 2", false),
        ("missing NOT BETWEEN 1 AND 2", false),
        ("missing > 1", false),
        ("missing IS NULL", true),
        ("missing IS NOT NULL", false),
        ("a IS NOT NULL", true),
        ("a IS NULL", false),
        ("missing = 1 OR a = 5", true),
        ("missing = 1 AND a = 5", false),
        ("NOT (missing = 1 OR a = 4)", false),
        ("NOT (missing = 1 AND a = 4)", true), // null AND false = false
        // Java quirks: a null on the right of = is FALSE (not null); two missing properties are equal
        ("5 = missing", false),
        ("5 <> missing", true),
        ("missing = other", true),
        // conversions: a failed one means not matched, wherever it happens
        ("f > 5", false), // Integer.valueOf("5.5") fails
        ("f > 5.0", true),
        ("f = 5.5", true),
        ("s > 1", false),
        ("s > 1 OR a = 5", false), // the error aborts the whole expression
        ("a = 5 OR s > 1", true),  // ... unless OR already knew
        ("big > 5", false),        // does not fit an int
        ("big > 5000000000", false),
        ("big < 5000000000", true),
        ("big > 5.0", true),
        ("a > s", false), // strings compared as doubles: "abc" fails
        ("f > a", true),  // "5.5" > "5" as doubles
        ("t = TRUE", true),
        ("s = TRUE", false), // Boolean.valueOf("abc") = false
        ("s = FALSE", true),
        ("TRUE = t", false), // Java casts TRUE to String: error
        ("TRUE = missing", false),
        ("t", false), // a property as a boolean: only a Boolean is TRUE, a string is FALSE
        ("NOT t", true),
        ("TRUE", true),
        ("FALSE", false),
        ("NOT FALSE", true),
        ("NULL", false),
        ("a = 5.0", true),
        ("-a = -5", false), // negating a string gives null
        ("a = -(-5)", true),
        ("a > -1", true),
        ("a = 5L", true),
        (
            "a = 5 AND (s = 'x' OR s = 'abc') AND NOT (TAGS = 'TagB')",
            true,
        ),
        ("s CONTAINS 'b'", true),
        ("s NOT CONTAINS 'b'", false),
        ("s STARTSWITH 'ab'", true),
        ("s ENDSWITH 'bc'", true),
        ("s NOT ENDSWITH 'x'", true),
        ("missing CONTAINS 'x'", false),
        ("missing NOT CONTAINS 'x'", false),
        ("a = 5 -- a comment", true),
        ("/* c */ a = 5", true),
        ("A = 5", false),
        ("a = 5 and s = 'abc'", true), // keywords are case-insensitive
        ("(a = 5) = TRUE", true),
        ("s = 'it''s'", false),
    ];
    let p = props(m);
    for (expr, want) in rows {
        let e = parse(expr).unwrap_or_else(|err| panic!("{expr}: {err}"));
        assert_eq!(e.matches_properties(&p), *want, "{expr}");
        assert_eq!(e.text(), *expr);
    }
    let quote = props(&[("s", "it's")]);
    assert!(parse("s = 'it''s'").unwrap().matches_properties(&quote));
}

#[test]
fn lookup_closure_and_properties_string_agree() {
    let e = parse("k = 'v' AND n > 2").unwrap();
    let f = |name: &str| match name {
        "k" => Some("v"),
        "n" => Some("3"),
        _ => None,
    };
    assert!(e.matches(&f));
    assert!(e.matches_properties(&props(&[("k", "v"), ("n", "3")])));
    assert!(!e.matches_properties(&props(&[("k", "v"), ("n", "2")])));
}

#[test]
fn refusals_say_why_and_where() {
    // (expression, column of the error, part of the reason)
    let rows: &[(&str, usize, &str)] = &[
        ("", 1, "Encountered the end of the expression"),
        ("a =", 4, "Encountered the end"),
        ("a = 1 b", 7, "was expecting the end"),
        ("a > 'x'", 3, "cannot be compared"),
        ("a > TRUE", 3, "cannot be compared"),
        ("(a = 1) > 2", 9, "cannot be compared"),
        ("a NOT BETWEEN 'x' AND 2", 3, "cannot be compared"),
        ("a = NULL", 3, "'NULL' cannot be compared"),
        ("a <> NULL", 3, "'NULL' cannot be compared"),
        ("TRUE = 'x'", 6, "cannot be compared with"),
        ("a BETWEEN 5 AND 1", 3, "Illegal values of between"),
        ("a BETWEEN NULL AND 1", 3, "can not be null"),
        ("'x' IN ('a')", 5, "Expected a property"),
        ("a IN (1)", 7, "a string literal"),
        ("a = 0.0", 5, "Double.MIN_VALUE"),
        ("5", 1, "will not result in a boolean"),
        ("'x'", 1, "will not result in a boolean"),
        ("a = 'x", 5, "unterminated string"),
        ("a # 1", 3, "unexpected character"),
        ("a = 99999999999999999999", 5, "does not fit 64 bits"),
        ("a IS 5", 6, "\"NULL\""),
        ("a = 1 AND\n b ==", 5, "Encountered \"=\""),
        ("/* open", 1, "unterminated comment"),
    ];
    for (expr, column, reason) in rows {
        let err = parse(expr).expect_err(expr);
        assert!(err.reason.contains(reason), "{expr}: {err}");
        assert_eq!(err.column, *column, "{expr}: {err}");
        assert!(err.to_string().contains("column"), "{expr}");
    }
    assert_eq!(parse("a = 1 AND\n b ==").unwrap_err().line, 2);
}

#[test]
fn long_and_deep_expressions_are_refused_not_overflowed() {
    let huge = format!("a IN ({})", vec!["'x'"; 20_000].join(","));
    assert!(huge.len() >= 64 << 10);
    assert!(parse(&huge).unwrap_err().reason.contains("bytes"));
    let at_limit = format!("a = '{}'", "x".repeat(EXPRESSION_MAX_BYTES - 6));
    assert_eq!(at_limit.len(), EXPRESSION_MAX_BYTES);
    assert!(parse(&at_limit).is_ok());
    for open in ["(", "NOT ", "- ", "+"] {
        let deep = format!("{}a = 1", open.repeat(3_000));
        let err = parse(&deep).unwrap_err();
        assert!(err.reason.contains("nested"), "{open}: {err}");
    }
    let ok = format!(
        "{}a = 1{}",
        "(".repeat(NESTING_MAX - 1),
        ")".repeat(NESTING_MAX - 1)
    );
    assert!(parse(&ok)
        .unwrap()
        .matches_properties(&props(&[("a", "1")])));
    // Chained comparisons deepen the tree without recursion in the parser: bounded by DEPTH_MAX.
    let chain = format!("a{}", " = a".repeat(2_000));
    assert!(parse(&chain).unwrap_err().reason.contains("nested"));
    // Long AND chains are flat: wide, not deep.
    let wide = vec!["a = 1"; 1_500].join(" AND ");
    assert!(parse(&wide)
        .unwrap()
        .matches_properties(&props(&[("a", "1")])));
    // BETWEEN does not copy its operand: nested negated BETWEENs stay small.
    let mut nested = "a".to_string();
    for _ in 0..25 {
        nested = format!("-({nested} BETWEEN 1 AND 2)");
    }
    assert!(parse(&format!("{nested} IS NULL")).is_ok());
}

#[test]
fn java_double_follows_double_value_of() {
    for (s, want) in [
        ("5", Some(5.0)),
        (" 5.5 ", Some(5.5)),
        ("-1e3", Some(-1000.0)),
        (".5", Some(0.5)),
        ("5.", Some(5.0)),
        ("1d", Some(1.0)),
        ("Infinity", Some(f64::INFINITY)),
        ("inf", None),
        ("abc", None),
        ("", None),
        ("0x10", None),
    ] {
        assert_eq!(eval::java_double(s), want, "{s:?}");
    }
    assert!(eval::java_double("NaN").unwrap().is_nan());
}

/// A generator of valid expressions (depth-limited) for the property tests.
fn expr_strategy() -> impl Strategy<Value = String> {
    let ident = prop::sample::select(vec!["a", "b", "TAGS", "x_1", "$p"]);
    let num = prop_oneof![
        (-1000i64..1000).prop_map(|n| n.to_string()),
        (1u32..1000).prop_map(|n| format!("{n}.5")),
    ];
    let leaf = prop_oneof![
        (
            ident.clone(),
            prop::sample::select(vec!["=", "<>", ">", ">=", "<", "<="]),
            num.clone()
        )
            .prop_map(|(i, op, n)| format!("{i} {op} {n}")),
        (ident.clone(), "[a-z']{0,4}")
            .prop_map(|(i, s)| format!("{i} = '{}'", s.replace('\'', "''"))),
        ident.clone().prop_map(|i| format!("{i} IS NULL")),
        ident.clone().prop_map(|i| format!("{i} IS NOT NULL")),
        (ident.clone(), "[a-z]{1,3}").prop_map(|(i, s)| format!("{i} IN ('{s}', 'q')")),
        (ident, 0i32..10).prop_map(|(i, lo)| format!("{i} BETWEEN {lo} AND {}", lo + 5)),
        Just("TRUE".to_string()),
    ];
    leaf.prop_recursive(6, 64, 4, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) AND ({b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} OR {b}")),
            inner.prop_map(|a| format!("NOT ({a})")),
        ]
    })
}

proptest! {
    #[test]
    fn any_input_parses_or_fails_cleanly(s in ".{0,200}") {
        let _ = parse(&s);
    }

    #[test]
    fn token_soup_parses_or_fails_cleanly(
        toks in prop::collection::vec(prop::sample::select(vec![
            "a", "b", "=", "<>", "<", ">=", "(", ")", "NOT", "AND", "OR", "BETWEEN", "IN", "IS",
            "NULL", "TRUE", "1", "2.5", "'s'", ",", "-", "+", "CONTAINS", "--", "/*", "*/",
        ]), 0..300)
    ) {
        let text = toks.join(" ");
        if let Ok(e) = parse(&text) {
            let _ = e.matches_properties("a\u{1}1\u{2}b\u{1}s\u{2}");
        }
    }

    #[test]
    fn generated_expressions_parse_and_evaluate(e in expr_strategy(), a in -10i32..10, b in "[a-z]{0,3}") {
        let compiled = parse(&e).map_err(|err| TestCaseError::fail(format!("{e}: {err}")))?;
        let p = props(&[("a", &a.to_string()), ("b", &b)]);
        let once = compiled.matches_properties(&p);
        // NOT of a selector that matched can never match too (three-valued logic).
        let negated = parse(&format!("NOT ({e})")).unwrap();
        prop_assert!(!(once && negated.matches_properties(&p)), "{}", e);
    }
}
