//! How aggregate values print: tuples `(1, two)`, structs, unions and
//! named records `{ .a = 1, .b = two }` (empty: `{  }`), arrays `[1,2,3]`,
//! nested as they are, in bpftrace's text format.
//!
//! As map keys bpftrace 0.17 prints structs compactly
//! (`@[{.sid=0,.name=shard-0}]`); current bpftrace, which adds named
//! records, prints record keys like values, so records keep the spaced
//! form there.

use super::value::Scalar;

/// The text of an aggregate as a value (`print`, a map's value).
pub fn value_text(v: &Scalar) -> String {
    match v {
        Scalar::Tuple(items) => format!("({})", items.iter().map(value_text).collect::<Vec<_>>().join(", ")),
        Scalar::Struct { fields, .. } if fields.is_empty() => "{  }".into(),
        Scalar::Struct { fields, .. } => {
            let items: Vec<String> = fields.iter().map(|(n, v)| format!(".{n} = {}", value_text(v))).collect();
            format!("{{ {} }}", items.join(", "))
        }
        Scalar::Array(items) => format!("[{}]", items.iter().map(value_text).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

/// The text of an aggregate as (part of) a map key.
pub fn key_text(v: &Scalar) -> String {
    match v {
        Scalar::Tuple(items) => format!("({})", items.iter().map(key_text).collect::<Vec<_>>().join(", ")),
        Scalar::Struct { record: true, .. } => value_text(v),
        Scalar::Struct { fields, .. } => {
            let items: Vec<String> = fields.iter().map(|(n, v)| format!(".{n}={}", key_text(v))).collect();
            format!("{{{}}}", items.join(","))
        }
        Scalar::Array(items) => format!("[{}]", items.iter().map(key_text).collect::<Vec<_>>().join(",")),
        Scalar::Ptr(p) => format!("{p:#x}"),
        other => other.key_text(),
    }
}

/// The parts of an aggregate in order (for sorting keys); `None` for a
/// plain value.
pub fn parts(v: &Scalar) -> Option<Vec<Scalar>> {
    match v {
        Scalar::Tuple(items) | Scalar::Array(items) => Some(items.clone()),
        Scalar::Struct { fields, .. } => Some(fields.iter().map(|(_, v)| v.clone()).collect()),
        _ => None,
    }
}

/// `v` with every string inside it passed through `show` (escaping for a
/// terminal); `None` when nothing changes.
pub fn map_strings(v: &Scalar, show: &dyn Fn(&str) -> std::borrow::Cow<'_, str>) -> Option<Scalar> {
    let each = |items: &[Scalar]| -> Option<Vec<Scalar>> {
        let shown: Vec<Option<Scalar>> = items.iter().map(|x| map_strings(x, show)).collect();
        if shown.iter().all(Option::is_none) {
            return None;
        }
        Some(items.iter().zip(shown).map(|(x, s)| s.unwrap_or_else(|| x.clone())).collect())
    };
    match v {
        Scalar::Str(s) => match show(s) {
            std::borrow::Cow::Owned(o) => Some(Scalar::Str(o)),
            std::borrow::Cow::Borrowed(_) => None,
        },
        Scalar::Tuple(items) => each(items).map(Scalar::Tuple),
        Scalar::Array(items) => each(items).map(Scalar::Array),
        Scalar::Struct { fields, record } => {
            let values: Vec<Scalar> = fields.iter().map(|(_, v)| v.clone()).collect();
            let shown = each(&values)?;
            let fields = fields.iter().zip(shown).map(|((n, _), v)| (n.clone(), v)).collect();
            Some(Scalar::Struct { fields, record: *record })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Scalar {
        Scalar::Str(v.into())
    }

    #[test]
    fn tuples_structs_and_arrays_print_as_bpftrace_does() {
        let t = Scalar::Tuple(vec![Scalar::Int(1), s("ab"), Scalar::Tuple(vec![Scalar::Int(3), s("x")])]);
        assert_eq!(value_text(&t), "(1, ab, (3, x))");
        let inner = Scalar::Struct { fields: vec![("epoch".into(), Scalar::UInt(1))], record: false };
        let st = Scalar::Struct {
            fields: vec![
                ("sid".into(), Scalar::Int(0)),
                ("name".into(), s("shard-0")),
                ("v".into(), inner),
                ("a".into(), Scalar::Array(vec![Scalar::Int(1), Scalar::Int(2)])),
                ("p".into(), Scalar::Ptr(255)),
            ],
            record: false,
        };
        assert_eq!(value_text(&st), "{ .sid = 0, .name = shard-0, .v = { .epoch = 1 }, .a = [1,2], .p = 255 }");
        assert_eq!(key_text(&st), "{.sid=0,.name=shard-0,.v={.epoch=1},.a=[1,2],.p=0xff}");
        assert_eq!(value_text(&Scalar::Struct { fields: vec![], record: false }), "{  }");
        let rec = Scalar::Struct { fields: vec![("a".into(), Scalar::Int(1))], record: true };
        assert_eq!(key_text(&rec), "{ .a = 1 }");
    }

    #[test]
    fn strings_inside_are_shown_through_the_policy() {
        let t = Scalar::Tuple(vec![Scalar::Int(1), s("a\nb")]);
        let shown = map_strings(&t, &|x: &str| std::borrow::Cow::Owned(x.replace('\n', "\\n")));
        assert_eq!(shown.map(|v| value_text(&v)), Some("(1, a\\nb)".to_string()));
        assert_eq!(map_strings(&Scalar::Int(1), &|x: &str| std::borrow::Cow::Borrowed(x)), None);
    }
}
