//! The `files` target: mutated copies of the built binaries (see
//! `targets.rs`: DWARF plain and compressed three ways, USDT notes, a
//! shared library, a stripped binary with its debug link) read by every
//! reader of binaries trace has, then used by the compiler:
//!
//! * `frontend::elf::open`, then lookups of every function, globs, the
//!   status of data and imported names, addresses in and out of segments,
//!   and the other direction (`symbol_at`, `vaddr_of_offset`), as the
//!   symbolizer of stacks uses it;
//! * `frontend::dwarf::load`, then `function` (and its C prototype) for
//!   the functions the symbol table names, and `named_type` of the
//!   targets' types;
//! * `frontend::usdt::open`, every site;
//! * `probes::list` and `trace::compile` of programs whose attach points
//!   name the mutant (DWARF-typed arguments, USDT operands, wildcards).
//!
//! Each input is written to the worker's own directory under
//! `target/fuzz-work/` with the base binary's name (so `db-stripped` still
//! finds `db.debug` beside it) and read on a fresh thread: the readers
//! cache per thread and per file, and a thread that exits drops those
//! caches and their mappings, so no input sees a stale index of the
//! previous one. Compressed sections' claimed sizes are left as the
//! mutations make them: the reader must bound a false claim itself.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::check;
use crate::driver::Target;
use crate::elfmut;
use crate::rng::Rng;
use trace::frontend::elf::SymbolStatus;
use trace::frontend::{dwarf, elf, probes, usdt};
use trace::source::SourceMap;
use trace::CompileOptions;

pub struct Files {
    /// Base binaries: name and bytes.
    bases: Vec<(String, Vec<u8>)>,
    /// `db.debug`, put beside every mutant for `db-stripped`'s link.
    debug: Vec<u8>,
    /// Where this worker writes its inputs (made on first use).
    work: OnceLock<PathBuf>,
    work_root: PathBuf,
}

pub struct Input {
    pub base: usize,
    pub bytes: Vec<u8>,
    /// What was done to the base, for the reproducer's description.
    pub ops: Vec<String>,
}

/// Names looked up whatever the symbol table says.
const NAMES: &[&str] = &[
    "snapshot",
    "db_get",
    "main",
    "shards",
    "inspect_value",
    "make_node",
    "usdtlib_work",
    "printf",
    "_start",
    "nosuch",
];
/// Types asked of the DWARF.
const TYPES: &[&str] = &[
    "db_shard_t",
    "struct db_shard_t",
    "db_version_t",
    "struct value",
    "union value",
    "enum kind",
    "struct node",
    "int",
    "size_t",
    "long unsigned int",
];

impl Files {
    pub fn new(dir: &Path, names: &[&str], work_root: PathBuf) -> Result<Files, String> {
        let read = |name: &str| std::fs::read(dir.join(name)).map_err(|e| format!("cannot read {name}: {e}"));
        let bases = names.iter().map(|n| Ok((n.to_string(), read(n)?))).collect::<Result<Vec<_>, String>>()?;
        Ok(Files { bases, debug: read("db.debug")?, work: OnceLock::new(), work_root })
    }

    fn work(&self) -> Result<&Path, String> {
        if let Some(w) = self.work.get() {
            return Ok(w);
        }
        let dir = self.work_root.join(std::process::id().to_string());
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        std::fs::write(dir.join("db.debug"), &self.debug).map_err(|e| format!("cannot write db.debug: {e}"))?;
        Ok(self.work.get_or_init(|| dir))
    }
}

impl Target for Files {
    type Input = Input;

    fn name(&self) -> &'static str {
        "files"
    }

    fn generate(&self, rng: &mut Rng) -> Input {
        let base = rng.below(self.bases.len());
        let mut bytes = self.bases[base].1.clone();
        let others: Vec<&[u8]> = self.bases.iter().map(|(_, b)| b.as_slice()).collect();
        let n = if rng.chance(1, 10) { rng.range(4, 16) } else { rng.range(1, 3) };
        let ops = (0..n).map(|_| elfmut::mutate(rng, &mut bytes, &others)).collect();
        Input { base, bytes, ops }
    }

    fn run(&self, input: &Input) -> Result<&'static str, String> {
        let path = self.work()?.join(&self.bases[input.base].0);
        std::fs::write(&path, &input.bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        // A fresh thread per input (see the module docs), with the main
        // thread's stack size, as trace reads binaries on its main thread.
        let reader = std::thread::Builder::new().stack_size(8 << 20).spawn(move || exercise(&path));
        let found = match reader.map_err(|e| format!("cannot start a thread: {e}"))?.join() {
            Ok(found) => found?,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        Ok(match found {
            (true, true) => "symbols and DWARF",
            (true, false) => "symbols, no DWARF",
            (false, true) => "DWARF without symbols",
            (false, false) => "refused",
        })
    }

    fn reproducer(&self, input: &Input) -> (&'static str, Vec<u8>, String) {
        let how = format!(
            "trace -lv 'uprobe:{{}}:*'; trace -lv 'usdt:{{}}:*'  (a mutant of {}: {})",
            self.bases[input.base].0,
            input.ops.join("; ")
        );
        ("elf", input.bytes.clone(), how)
    }
}

/// Everything trace does with a binary; whether it found symbols and DWARF.
fn exercise(path: &Path) -> Result<(bool, bool), String> {
    let mut names: Vec<String> = NAMES.iter().map(|n| n.to_string()).collect();
    let symbols = match elf::open(path) {
        Ok(syms) => {
            names.extend(syms.function_names().take(40).map(String::from));
            for n in &names {
                if let SymbolStatus::Function(sym) = syms.status(n) {
                    syms.at_address(sym.vaddr);
                    syms.at_address(sym.vaddr.wrapping_add(sym.size));
                    // Naming stack frames: address to symbol, file offset to address.
                    let _ = syms.symbol_at(sym.vaddr.wrapping_add(1)).map(|s| s.name.len());
                    let _ = syms.symbol_at(sym.vaddr.wrapping_add(sym.size));
                    let _ = syms.vaddr_of_offset(sym.file_offset).and_then(|v| syms.symbol_at(v));
                }
                let _ = syms.address_of(n).map(|a| syms.symbol_at(a.vaddr));
            }
            for offset in [0, 0x1000, 0x3000, u64::MAX] {
                let _ = syms.vaddr_of_offset(offset).map(|v| syms.symbol_at(v));
            }
            let _ = (syms.symbol_at(0), syms.symbol_at(u64::MAX), syms.has_symtab(), syms.is_pie());
            syms.matching("*");
            syms.matching("db_?e*");
            let _ = (syms.needed(), syms.at_address(0), syms.at_address(u64::MAX), syms.path());
            true
        }
        Err(e) => {
            let _ = e.to_string();
            false
        }
    };
    let dwarf = match dwarf::load(path) {
        Ok(Some(info)) => {
            for n in names.iter().take(30) {
                match info.function(n) {
                    Ok(Some(f)) => drop(dwarf::c_prototype(&f)),
                    Ok(None) => {}
                    Err(e) => drop(e.to_string()),
                }
            }
            for t in TYPES {
                if let Err(e) = info.named_type(t, None) {
                    let _ = e.to_string();
                }
            }
            let _ = (info.debug_file(), info.parsed_units(), dwarf::debug_file_of(path));
            true
        }
        Ok(None) => false,
        Err(e) => {
            let _ = e.to_string();
            false
        }
    };
    match usdt::open(path) {
        Ok(f) => f.sites.iter().for_each(|s| drop(format!("{s:?}"))),
        Err(e) => drop(e.to_string()),
    }
    pipeline(path)?;
    Ok((symbols, dwarf))
}

/// `-l` and compiling programs whose attach points name the binary.
fn pipeline(path: &Path) -> Result<(), String> {
    let p = path.display();
    let ctx = probes::ProbeContext::default();
    for pattern in [format!("uprobe:{p}:*"), format!("usdt:{p}:*")] {
        match probes::list(&pattern, &ctx) {
            Ok(names) => drop(names),
            Err(d) => drop(d.message),
        }
    }
    if let Err(d) = probes::list_verbose(&format!("uprobe:{p}:snap*"), &ctx) {
        drop(d.message);
    }
    let programs = [
        format!(
            "uprobe:{p}:snapshot {{ @[args.shard->sid] = count(); printf(\"%s %d\\n\", args.shard->name, args.n); \
             @s = sizeof(struct db_shard_t) + offsetof(db_shard_t, version.epoch); }}"
        ),
        format!("usdt:{p}:* {{ @[probe, arg0] = count(); @v = arg1 + arg2; }}"),
        format!("uretprobe:{p}:db_* {{ @[retval] = count(); }} uprobe:{p}:inspect_value {{ @ = args.v->u.words[1]; }}"),
    ];
    for text in programs {
        let mut sources = SourceMap::new();
        let file = sources.add("<fuzz>", text);
        match trace::compile(&mut sources, file, &CompileOptions::default()) {
            Ok(program) => check::accepted(&sources, &program)?,
            Err(diags) => check::diagnostics(&sources, &diags)?,
        }
    }
    Ok(())
}
