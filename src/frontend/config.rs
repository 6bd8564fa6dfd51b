//! `config = { key = value; ... }`: settings a script carries with it, as
//! current bpftrace reads them. trace takes the ones it has an equivalent
//! for; every other key is a diagnostic at the key (bpftrace's own keys
//! that trace lacks say so), never silently ignored.

use crate::diag::Diagnostic;
use crate::frontend::ast::{ConfigEntry, ConfigValue};
use crate::frontend::types::{StackMode, MAX_STR_SIZE};

/// What a config block sets; `None` where it says nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// Entries of each map (as `--max-map-keys`).
    pub max_map_keys: Option<u32>,
    /// Most probes the program may attach (as `--max-probes`).
    pub max_probes: Option<usize>,
    /// Bytes `str()` reads by default (bpftrace's `max_strlen`, 64).
    pub max_strlen: Option<u32>,
    /// How `ustack` and `kstack` print without a mode of their own.
    pub stack_mode: Option<StackMode>,
}

/// bpftrace's config keys that trace does not take (yet).
const NOT_SUPPORTED: &[&str] = &[
    "cache_user_symbols",
    "cpp_demangle",
    "lazy_symbolication",
    "license",
    "log_size",
    "max_bpf_progs",
    "max_cat_bytes",
    "max_type_res_iterations",
    "missing_probes",
    "on_stack_limit",
    "perf_rb_pages",
    "print_maps_on_exit",
    "show_debug_info",
    "str_trunc_trailer",
    "symbol_source",
    "use_blazesym",
];

const SUPPORTED: &[&str] = &["max_map_keys", "max_probes", "max_strlen", "stack_mode"];

/// The settings of a program's config entries (later entries win).
pub fn read(entries: &[ConfigEntry]) -> Result<Settings, Vec<Diagnostic>> {
    let mut s = Settings::default();
    let mut diags = Vec::new();
    for e in entries {
        // bpftrace accepts its environment variables' names too.
        let key = e.key.strip_prefix("BPFTRACE_").map_or(e.key.clone(), str::to_ascii_lowercase);
        let int = |lo: i64, hi: i64| match e.value {
            ConfigValue::Int(v) if (lo..=hi).contains(&v) => Ok(v),
            _ => Err(Diagnostic::error(format!("config `{}` takes an integer from {lo} to {hi}", e.key))
                .at(e.value_span, "out of range or not an integer")),
        };
        let result = match key.as_str() {
            "max_map_keys" => int(1, 16_777_216).map(|v| s.max_map_keys = Some(v as u32)),
            "max_probes" => int(1, 1_000_000).map(|v| s.max_probes = Some(v as usize)),
            // The buffer holds the string and its NUL.
            "max_strlen" => int(1, i64::from(MAX_STR_SIZE)).map(|v| s.max_strlen = Some(v as u32)),
            "stack_mode" => match &e.value {
                ConfigValue::Word(w) => {
                    match [StackMode::Bpftrace, StackMode::Perf, StackMode::Raw].into_iter().find(|m| m.name() == w) {
                        Some(m) => {
                            s.stack_mode = Some(m);
                            Ok(())
                        }
                        None => Err(Diagnostic::error(format!("unknown stack mode `{w}`"))
                            .at(e.value_span, "not a stack mode")
                            .note("stack modes: bpftrace, perf, raw")),
                    }
                }
                _ => Err(Diagnostic::error("config `stack_mode` takes a word: bpftrace, perf or raw")
                    .at(e.value_span, "not a stack mode")),
            },
            k if NOT_SUPPORTED.contains(&k) => {
                Err(Diagnostic::error(format!("config `{}` is bpftrace's, but trace does not support it yet", e.key))
                    .at(e.key_span, "not supported")
                    .note(format!("trace's config keys: {}", SUPPORTED.join(", "))))
            }
            _ => Err(Diagnostic::error(format!("unknown config key `{}`", e.key))
                .at(e.key_span, "unknown key")
                .note(format!("trace's config keys: {}", SUPPORTED.join(", ")))),
        };
        if let Err(d) = result {
            diags.push(d);
        }
    }
    if diags.is_empty() {
        Ok(s)
    } else {
        Err(diags)
    }
}
