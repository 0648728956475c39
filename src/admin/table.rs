//! Plain text tables for people: a header row and left-aligned columns two spaces apart.

/// Renders `rows` under `headers`; each row has one cell per header (missing cells are blank).
pub fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(widths.len()) {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, w) in widths.iter().enumerate() {
            let c = cells.get(i).copied().unwrap_or("");
            l.push_str(c);
            if i + 1 < widths.len() {
                l.push_str(&" ".repeat(w - c.chars().count() + 2));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(headers.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up() {
        let t = render(
            &["#Topic", "#QID"],
            &[
                vec!["T".into(), "0".into()],
                vec!["LongTopic".into(), "12".into()],
            ],
        );
        assert_eq!(t, "#Topic     #QID\nT          0\nLongTopic  12\n");
    }
}
