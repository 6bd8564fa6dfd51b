//! Where the C text between probes ends, for the lexer: a directive line
//! (with continuations), an `#if 0` block (whose text need not be C), or a
//! declaration up to its `;`. The lexer hands each piece over whole as
//! [`crate::frontend::token::Tok::CText`].

/// The length of an `#if 0` block at the start of `rest`, up to its
/// `#endif` (or `#else`/`#elif`) at the same depth: its text need not be C
/// nor a probe, so none of it is lexed. `None` for any other directive.
pub fn if_zero_len(rest: &str) -> Option<usize> {
    let directive = |line: &str| line.trim_start().strip_prefix('#').map(|d| d.trim_start().to_string());
    let first = directive(rest.lines().next()?)?;
    let cond = first.strip_prefix("if")?;
    if !cond.starts_with([' ', '\t']) || cond.trim().split(['/', ' ']).next() != Some("0") {
        return None;
    }
    let mut depth = 0u32;
    let mut at = 0;
    for line in rest.split_inclusive('\n') {
        if let Some(d) = directive(line) {
            if d.starts_with("if") {
                depth += 1;
            } else if d.starts_with("endif") || ((d.starts_with("else") || d.starts_with("elif")) && depth == 1) {
                if d.starts_with("endif") {
                    depth -= 1;
                }
                if depth <= 1 && !d.starts_with("endif") || depth == 0 {
                    return Some(at + line.trim_end_matches('\n').len());
                }
            }
        }
        at += line.len();
    }
    Some(rest.len())
}

/// Does a C declaration start here (`struct`, `union`, `enum`, `typedef`)?
pub fn starts_c_declaration(rest: &str) -> bool {
    let word_len = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
    matches!(&rest[..word_len], "struct" | "union" | "enum" | "typedef")
}

/// The length of the C text at the start of `rest`: a directive line
/// (with `\` continuations), or a declaration up to its `;` (a struct,
/// union or enum definition also ends at its closing `}` when no `;`
/// follows, so that a forgotten `;` does not swallow the next probe).
pub fn c_text_len(rest: &str, directive: bool) -> usize {
    let typedef = rest.starts_with("typedef");
    let b = rest.as_bytes();
    let mut depth = 0u32;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' if directive => {
                // A continuation: the line break (LF or CRLF) is skipped.
                i += 1;
                if b.get(i) == Some(&b'\r') {
                    i += 1;
                }
            }
            b'\n' if directive => return i,
            b'/' if b.get(i + 1) == Some(&b'/') => {
                i += rest[i..].find('\n').unwrap_or(rest.len() - i);
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += rest[i + 2..].find("*/").map_or(rest.len() - i, |e| e + 4);
                continue;
            }
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < b.len() && b[i] != q && b[i] != b'\n' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' if !directive => depth += 1,
            b'}' if !directive => {
                depth = depth.saturating_sub(1);
                // Declarators or attributes may follow up to the `;`; a
                // `{` first is a probe's body.
                let after = &rest[i + 1..];
                if depth == 0 && !typedef && after.find('{').is_some_and(|b| after.find(';').is_none_or(|s| b < s)) {
                    return i + 1;
                }
            }
            b';' if depth == 0 && !directive => return i + 1,
            _ => {}
        }
        i += 1;
    }
    rest.len()
}
