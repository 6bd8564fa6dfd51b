//! The program-wide map table: every `@map`'s key types and value kind.
//!
//! Maps are shared by all probes, so their types are unified across the
//! whole program: the first use decides, and a later use that disagrees is
//! a diagnostic pointing at both. String slots grow to the largest string
//! stored in them so every key compares byte-for-byte.
//!
//! In the REPL the table outlives each line: maps that already exist in the
//! kernel are marked [`MapInfo::live`], and a line that would change their
//! layout (a longer string slot) gets a diagnostic instead.

use crate::diag::Diagnostic;
use crate::frontend::types::{AggKind, StackType, Type};
use crate::source::Span;
use std::collections::BTreeMap;

/// What a map's values are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapValue {
    /// Aggregated per CPU by `count()`, `hist()`, ...
    Agg(AggKind),
    /// A plain integer (`@x = 5`, `@x++`).
    Int { signed: bool },
    /// A plain string of this buffer size.
    Str { size: u32 },
    /// A stack (`@last = ustack`).
    Stack(StackType),
    /// A symbol (`@where = usym(reg("ip"))`).
    Sym { user: bool },
    /// A tuple, record, struct, union or array, of the type in
    /// [`MapInfo::composite`].
    Composite,
}

/// What kind of integers a map holds: pointers of one type keep their
/// type when read back; any other integer assigned makes them plain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PointerValue {
    /// No integer assigned yet.
    Unseen,
    /// Every integer assigned so far was this pointer type.
    Ptr(Type),
    /// Plain integers, or pointers of different types.
    Plain,
}

#[derive(Clone, Debug)]
pub struct MapInfo {
    /// Without the `@` ("" for the anonymous map).
    pub name: String,
    /// Key slot types: `Type::Int` or `Type::Str`. Empty for `@x`.
    pub keys: Vec<Type>,
    /// `None` while only reads have been seen.
    pub value: Option<MapValue>,
    /// Where the map was first assigned (or first seen).
    pub span: Span,
    /// Where it was read, for the "never assigned" diagnostic.
    pub read_at: Option<Span>,
    /// False while the map has only been used whole (`print(@m)`,
    /// `clear(@m)`): the first keyed use decides its keys.
    pub keys_known: bool,
    /// The map exists in the kernel (created by an earlier REPL line), so
    /// its layout is fixed: string slots cannot grow.
    pub live: bool,
    /// Whether the map's integer values are all one pointer type, so a
    /// read keeps it (`@p = (int32 *)arg0; *(@p + 1)`).
    pub pointer: PointerValue,
    /// The value type of a [`MapValue::Composite`] map.
    pub composite: Option<Type>,
}

impl MapInfo {
    pub fn display_name(&self) -> String {
        format!("@{}", self.name)
    }

    pub fn value_type(&self) -> Type {
        match self.value {
            Some(MapValue::Int { signed }) => Type::Int { size: 8, signed },
            Some(MapValue::Str { size }) => Type::Str { size },
            Some(MapValue::Stack(st)) => Type::Stack(st),
            Some(MapValue::Sym { user }) => Type::Sym { user },
            Some(MapValue::Agg(k)) => Type::Agg(k),
            Some(MapValue::Composite) => self.composite.clone().unwrap_or_default(),
            None => Type::I64,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct MapTable {
    pub maps: BTreeMap<String, MapInfo>,
}

impl MapTable {
    pub fn get(&self, name: &str) -> Option<&MapInfo> {
        self.maps.get(name)
    }

    /// Record that `@name[keys]` is used; unify the key types.
    pub fn use_keys(&mut self, name: &str, keys: &[Type], span: Span, report: bool, diags: &mut Vec<Diagnostic>) {
        let info = self.maps.entry(name.to_string()).or_insert_with(|| MapInfo {
            name: name.to_string(),
            keys: keys.to_vec(),
            value: None,
            span,
            read_at: None,
            keys_known: true,
            live: false,
            pointer: PointerValue::Unseen,
            composite: None,
        });
        if !info.keys_known {
            info.keys = keys.to_vec();
            info.keys_known = true;
            return;
        }
        if info.keys.len() != keys.len() {
            if report {
                diags.push(
                    Diagnostic::error(format!(
                        "map @{name} is used with {} key(s) here but {} elsewhere",
                        keys.len(),
                        info.keys.len()
                    ))
                    .at(span, "different number of keys")
                    .also(info.span, "first used here"),
                );
            }
            return;
        }
        for (slot, ty) in info.keys.iter_mut().zip(keys) {
            match (&*slot, ty) {
                (Type::Int { .. }, Type::Int { .. }) => {}
                (Type::Str { size: a }, Type::Str { size: b }) if info.live && b > a => {
                    if report {
                        diags.push(live_string_too_long(name, "keys", *a, *b, span, info.span));
                    }
                }
                (Type::Str { size: a }, Type::Str { size: b }) => {
                    *slot = Type::Str { size: (*a).max(*b) };
                }
                (a, b) if a == b => {}
                // A live map's tuple keys keep their layout: what fits is fine.
                (a, b) if super::aggregates::unify(a, b).is_some_and(|u| !info.live || u == *a) => {
                    *slot = super::aggregates::unify(a, b).unwrap_or_default();
                }
                (a, b) => {
                    if report {
                        diags.push(
                            Diagnostic::error(format!("map @{name} key type mismatch: {a} vs {b}"))
                                .at(span, format!("key is {b} here"))
                                .also(info.span, format!("key is {a} here")),
                        );
                    }
                }
            }
        }
    }

    /// Record an assignment of `value` to the map; unify the value kind.
    pub fn assign(&mut self, name: &str, value: MapValue, span: Span, report: bool, diags: &mut Vec<Diagnostic>) {
        let Some(info) = self.maps.get_mut(name) else { return };
        match (info.value, value) {
            (None, v) => {
                info.value = Some(v);
                info.span = span;
            }
            (Some(MapValue::Int { signed: a }), MapValue::Int { signed: b }) => {
                info.value = Some(MapValue::Int { signed: a && b });
            }
            (Some(MapValue::Str { size: a }), MapValue::Str { size: b }) if info.live && b > a => {
                if report {
                    diags.push(live_string_too_long(name, "values", a, b, span, info.span));
                }
            }
            (Some(MapValue::Str { size: a }), MapValue::Str { size: b }) => {
                info.value = Some(MapValue::Str { size: a.max(b) });
            }
            (Some(a), b) if a == b => {}
            (Some(a), b) => {
                if report {
                    diags.push(
                        Diagnostic::error(format!(
                            "map @{name} holds {} but is assigned {} here",
                            describe(a),
                            describe(b)
                        ))
                        .at(span, format!("{} assigned here", describe(b)))
                        .also(info.span, format!("{} assigned here", describe(a))),
                    );
                }
            }
        }
    }

    /// Record the type of an integer assigned to `@name`: a pointer keeps
    /// its type while every assignment agrees.
    pub fn note_integer(&mut self, name: &str, ty: &Type) {
        let Some(info) = self.maps.get_mut(name) else { return };
        info.pointer = match (&info.pointer, ty) {
            (PointerValue::Unseen, Type::Ptr { .. }) => PointerValue::Ptr(ty.clone()),
            (PointerValue::Ptr(p), t) if p == t => return,
            _ => PointerValue::Plain,
        };
    }

    /// `print(@m)`, `clear(@m)`, `zero(@m)`: the map as a whole, whatever
    /// its keys turn out to be.
    pub fn use_whole(&mut self, name: &str, span: Span) {
        self.maps.entry(name.to_string()).or_insert_with(|| MapInfo {
            name: name.to_string(),
            keys: Vec::new(),
            value: None,
            span,
            read_at: Some(span),
            keys_known: false,
            live: false,
            pointer: PointerValue::Unseen,
            composite: None,
        });
    }

    /// Grow the string slots (keys and values) of the maps `which` picks
    /// to at least `min` bytes.
    pub fn widen_strings(&mut self, which: impl Fn(&str) -> bool, min: u32) {
        for info in self.maps.iter_mut().filter(|(n, _)| which(n)).map(|(_, info)| info) {
            for key in &mut info.keys {
                if let Type::Str { size } = key {
                    *size = (*size).max(min);
                }
                *key = super::aggregates::widen_strings(key, min);
            }
            if let Some(MapValue::Str { size }) = &mut info.value {
                *size = (*size).max(min);
            }
            info.composite = info.composite.as_ref().map(|t| super::aggregates::widen_strings(t, min));
        }
    }

    pub fn note_read(&mut self, name: &str, span: Span) {
        if let Some(info) = self.maps.get_mut(name) {
            info.read_at.get_or_insert(span);
        }
    }

    /// Final checks once every probe has been typed.
    pub fn finish(&mut self, diags: &mut Vec<Diagnostic>) {
        for info in self.maps.values() {
            if info.value.is_none() {
                let at = info.read_at.unwrap_or(info.span);
                diags.push(
                    Diagnostic::error(format!("map @{} is used but never assigned", info.name))
                        .at(at, "read here")
                        .note("assign it somewhere, e.g. `@x = 0;` or `@x = count();`"),
                );
            }
        }
    }
}

/// A string longer than a live map's slot: the running probes' layout wins.
fn live_string_too_long(name: &str, what: &str, have: u32, want: u32, span: Span, first: Span) -> Diagnostic {
    Diagnostic::error(format!("map @{name} is live with {what} of at most {have} bytes; this string needs {want}"))
        .at(span, format!("a {want}-byte string"))
        .also(first, format!("@{name} was created here with {have}-byte {what}"))
        .note(format!("shorten it to fit, e.g. `str(x, {have})`, or use a new map"))
}

/// A one-line description of a map's type, as `.maps` shows it:
/// `@[int, string[16]] count()`.
pub fn describe_map(info: &MapInfo) -> String {
    let keys: Vec<String> = info.keys.iter().map(|k| k.to_string()).collect();
    let keys = if keys.is_empty() { String::new() } else { format!("[{}]", keys.join(", ")) };
    let value = match info.value {
        None => "unassigned".to_string(),
        Some(MapValue::Agg(_)) => info.value.map(describe).unwrap_or_default(),
        Some(_) => info.value_type().to_string(),
    };
    format!("{}{keys} {value}", info.display_name())
}

fn describe(v: MapValue) -> String {
    match v {
        MapValue::Agg(AggKind::Lhist { min, max, step }) => format!("lhist(.., {min}, {max}, {step})"),
        MapValue::Agg(k) => format!("{}()", k.name()),
        MapValue::Int { .. } => "an integer".into(),
        MapValue::Str { .. } => "a string".into(),
        MapValue::Stack(st) => format!("{}", Type::Stack(st)),
        MapValue::Sym { user } => format!("{}", Type::Sym { user }),
        MapValue::Composite => "a tuple, record or struct".into(),
    }
}
