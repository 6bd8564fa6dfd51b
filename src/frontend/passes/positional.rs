//! Positional parameters: how they read as numbers (as C literals), and
//! inside attach points (`interval:ms:$1`, `uprobe:$1:main`), where
//! bpftrace substitutes the parameter's text before it reads the attach
//! point; so does this, before probes are expanded.

use super::Params;
use crate::diag::Diagnostic;
use crate::frontend::ast::Program;
use crate::source::Span;
use std::borrow::Cow;

/// `program` with every `$N` of its attach points replaced by parameter
/// N's text (and `$#` by their count); a parameter not given is an error
/// at its `$N`.
pub fn in_attach_points<'p>(program: &'p Program, params: &Params) -> Result<Cow<'p, Program>, Vec<Diagnostic>> {
    let uses = |text: &str| text.contains('$');
    if !program.probes.iter().flat_map(|p| &p.attach).any(|a| uses(&a.text)) {
        return Ok(Cow::Borrowed(program));
    }
    let mut program = program.clone();
    let mut diags = Vec::new();
    for ap in program.probes.iter_mut().flat_map(|p| p.attach.iter_mut()).filter(|a| uses(&a.text)) {
        match substitute(&ap.text, params) {
            Ok(text) => ap.text = text,
            Err((at, len, n)) => {
                let start = ap.span.start as usize + at;
                let span = Span::new(ap.span.file, start, start + len);
                let msg = format!("attach point uses ${n}, but only {} parameter(s) were given", params.args.len());
                diags.push(
                    Diagnostic::error(msg)
                        .at(span, "no such parameter")
                        .note("give it after the program: `trace -e '...' VALUE`"),
                );
            }
        }
    }
    if diags.is_empty() {
        Ok(Cow::Owned(program))
    } else {
        Err(diags)
    }
}

/// `text` with `$N` and `$#` replaced; or where a missing `$N` starts, its
/// length and N.
fn substitute(text: &str, params: &Params) -> Result<String, (usize, usize, u32)> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if let Some(tail) = after.strip_prefix('#') {
            out.push_str(&params.args.len().to_string());
            rest = tail;
        } else if digits > 0 {
            let n: u32 = after[..digits].parse().unwrap_or(u32::MAX);
            match params.args.get((n as usize).wrapping_sub(1)) {
                Some(v) => out.push_str(v),
                None => return Err((text.len() - rest.len() + i, digits + 1, n)),
            }
            rest = &after[digits..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// A positional parameter as a number, read as bpftrace reads it: decimal,
/// `0x` hex or leading-`0` octal, with an optional sign.
pub fn parse_int(s: &str) -> Option<i64> {
    let t = s.trim();
    let (negative, digits) = match t.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, t),
    };
    let v = if let Some(h) = digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()?
    } else if digits.len() > 1 && digits.starts_with('0') {
        u64::from_str_radix(&digits[1..], 8).ok()?
    } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse::<u64>().ok()?
    } else {
        return None;
    };
    let v = v as i64;
    Some(if negative { v.wrapping_neg() } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_replace_their_dollar_forms() {
        let params = Params { args: vec!["100".into(), "./db".into()], ..Params::default() };
        assert_eq!(substitute("interval:ms:$1", &params).unwrap(), "interval:ms:100");
        assert_eq!(substitute("uprobe:$2:snapshot", &params).unwrap(), "uprobe:./db:snapshot");
        assert_eq!(substitute("i:s:$#", &params).unwrap(), "i:s:2");
        assert_eq!(substitute("uprobe:/a$b:f", &params).unwrap(), "uprobe:/a$b:f");
        assert_eq!(substitute("i:ms:$3", &params), Err((5, 2, 3)));
    }
}
