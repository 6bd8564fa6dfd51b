//! Which compile unit holds what, learned as lazily as possible.
//!
//! [`State`] lives as long as the [`DebugInfo`](super::DebugInfo) and holds
//! only owned data: the list of unit headers, parsed abbreviation tables, the
//! address → unit tables, one [`UnitIndex`] per unit walked so far, and the
//! converted types. [`Ctx`] is one query's view: a `gimli::Dwarf` borrowing
//! the mapped sections, plus the `gimli::Unit`s built during the query.
//!
//! A unit is *walked* (counted in `State::parsed`) when its top-level DIEs
//! are read to build its index; namespaces are descended into, and for C++
//! and Rust so are classes (nested types), but function bodies never are.
//! Reading a unit's header or root DIE (for its address ranges) is not a
//! walk: it costs a few bytes per unit.

use super::{Error, Result, TypeTag};
use crate::frontend::types::Type;
use gimli::{constants as dw, AttributeValue, DebugInfoOffset, UnitOffset};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;

pub(super) type R<'a> = gimli::EndianSlice<'a, gimli::RunTimeEndian>;
pub(super) type Unit<'a> = gimli::Unit<R<'a>>;

/// A DIE: the index of its unit in [`State::units`] and its offset there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct DieRef {
    pub unit: usize,
    pub off: UnitOffset,
}

/// C's name spaces: ordinary identifiers (typedefs, base types) and tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Ns {
    Ordinary,
    Struct,
    Union,
    Enum,
}

struct UnitInfo {
    /// Offset of the unit header in `.debug_info`.
    start: usize,
    end: usize,
}

#[derive(Default)]
pub(super) struct State {
    /// All units in file order; listed on first need (headers only).
    units: Option<Vec<UnitInfo>>,
    /// DWARF 5 type units (`DW_FORM_ref_sig8` targets) by signature.
    type_sigs: HashMap<u64, DieRef>,
    abbrevs: HashMap<usize, Arc<gimli::Abbreviations>>,
    langs: HashMap<usize, Option<gimli::DwLang>>,
    /// (begin, end, unit) from `.debug_aranges`, sorted.
    aranges: Option<Vec<(u64, u64, usize)>>,
    /// The same from root DIEs of units that aranges does not list.
    root_ranges: Option<Vec<(u64, u64, usize)>>,
    indexes: HashMap<usize, UnitIndex>,
    /// Walked units in the order they were walked.
    walked: Vec<usize>,
    /// Converted types by global DIE offset.
    pub types: HashMap<usize, Type>,
    pub parsed: usize,
}

/// What one walked unit defines.
#[derive(Default)]
struct UnitIndex {
    /// Subprogram definitions by entry address (each range start).
    by_addr: HashMap<u64, UnitOffset>,
    /// Subprogram definitions by `DW_AT_name` and `DW_AT_linkage_name`.
    by_name: HashMap<String, UnitOffset>,
    /// Complete type definitions (declarations skipped) by name.
    types: HashMap<(Ns, String), UnitOffset>,
}

/// One query's view of the DWARF; see the module docs.
pub(super) struct Ctx<'a> {
    pub dwarf: gimli::Dwarf<R<'a>>,
    pub st: &'a mut State,
    units: HashMap<usize, Rc<Unit<'a>>>,
    /// Records whose fields are still to be converted (see `convert.rs`).
    pub pending: Vec<(Rc<crate::frontend::types::Record>, DieRef)>,
}

impl<'a> Ctx<'a> {
    pub fn new(file: &'a super::locate::DebugFile, st: &'a mut State) -> Result<Ctx<'a>> {
        let endian = file.endian;
        let mut dwarf =
            gimli::Dwarf::load(|id| -> Result<R<'a>> { Ok(gimli::EndianSlice::new(file.section(id)?, endian)) })?;
        dwarf.file_type = gimli::DwarfFileType::Main;
        Ok(Ctx { dwarf, st, units: HashMap::new(), pending: Vec::new() })
    }

    fn list_units(&mut self) -> Result<usize> {
        if let Some(u) = &self.st.units {
            return Ok(u.len());
        }
        let mut units = Vec::new();
        let mut headers = self.dwarf.units();
        while let Some(h) = headers.next()? {
            let Some(start) = h.offset().as_debug_info_offset() else { continue };
            if let gimli::UnitType::Type { type_signature, type_offset } = h.type_() {
                self.st.type_sigs.insert(type_signature.0, DieRef { unit: units.len(), off: type_offset });
            }
            units.push(UnitInfo { start: start.0, end: start.0.saturating_add(h.length_including_self()) });
        }
        let n = units.len();
        self.st.units = Some(units);
        Ok(n)
    }

    /// The unit containing `.debug_info` offset `off`.
    fn unit_containing(&mut self, off: usize) -> Result<usize> {
        self.list_units()?;
        let units = self.st.units.as_deref().unwrap_or(&[]);
        let i = units.partition_point(|u| u.start <= off);
        match i.checked_sub(1) {
            Some(i) if off < units[i].end => Ok(i),
            _ => Err(Error::Malformed(format!("reference to 0x{off:x} is outside every unit"))),
        }
    }

    /// The gimli unit `idx`, built once per query (abbreviations once ever).
    pub fn unit(&mut self, idx: usize) -> Result<Rc<Unit<'a>>> {
        if let Some(u) = self.units.get(&idx) {
            return Ok(u.clone());
        }
        self.list_units()?;
        let start = self.st.units.as_ref().and_then(|u| u.get(idx)).map(|u| u.start);
        let start = start.ok_or_else(|| Error::Malformed(format!("no unit number {idx}")))?;
        let header = self.dwarf.debug_info.header_from_offset(DebugInfoOffset(start))?;
        let abbrev_off = header.debug_abbrev_offset().0;
        let abbrevs = match self.st.abbrevs.get(&abbrev_off) {
            Some(a) => a.clone(),
            None => {
                let a = Arc::new(header.abbreviations(&self.dwarf.debug_abbrev)?);
                self.st.abbrevs.insert(abbrev_off, a.clone());
                a
            }
        };
        let (unit, lang) = make_unit(&self.dwarf, header, abbrevs)?;
        self.st.langs.insert(idx, lang);
        let unit = Rc::new(unit);
        self.units.insert(idx, unit.clone());
        Ok(unit)
    }

    /// The source language of unit `idx` (`DW_AT_language`).
    pub fn lang(&mut self, idx: usize) -> Result<Option<gimli::DwLang>> {
        if let Some(l) = self.st.langs.get(&idx) {
            return Ok(*l);
        }
        self.unit(idx)?;
        Ok(self.st.langs.get(&idx).copied().flatten())
    }

    /// The global `.debug_info` offset of a DIE: the key of the type cache.
    pub fn global(&self, die: DieRef) -> usize {
        let start = self.st.units.as_ref().and_then(|u| u.get(die.unit)).map_or(0, |u| u.start);
        start.wrapping_add(die.off.0)
    }

    /// Resolve a reference-class attribute value found in unit `from`.
    pub fn resolve(&mut self, from: usize, value: AttributeValue<R<'a>>) -> Result<Option<DieRef>> {
        Ok(Some(match value {
            AttributeValue::UnitRef(off) => DieRef { unit: from, off },
            AttributeValue::DebugInfoRef(DebugInfoOffset(off)) => {
                let unit = self.unit_containing(off)?;
                let start = self.st.units.as_ref().and_then(|u| u.get(unit)).map_or(0, |u| u.start);
                DieRef { unit, off: UnitOffset(off - start) }
            }
            AttributeValue::DebugTypesRef(sig) => {
                self.list_units()?;
                match self.st.type_sigs.get(&sig.0) {
                    Some(r) => *r,
                    // DWARF 4 `.debug_types` is not read: the type stays unknown.
                    None => return Ok(None),
                }
            }
            AttributeValue::DebugInfoRefSup(_) => {
                return Err(Error::Unsupported(
                    "references into a supplementary (dwz) debug file are not supported".into(),
                ))
            }
            _ => return Ok(None),
        }))
    }

    /// Which unit's code contains `addr`.
    fn unit_for_address(&mut self, addr: u64) -> Result<Option<usize>> {
        if self.st.aranges.is_none() {
            let mut table = Vec::new();
            let mut headers = self.dwarf.debug_aranges.headers();
            while let Some(h) = headers.next()? {
                let off = h.debug_info_offset().0;
                let unit = self.unit_containing(off)?;
                let mut entries = h.entries();
                while let Some(e) = entries.next()? {
                    let r = e.range();
                    if r.begin < r.end {
                        table.push((r.begin, r.end, unit));
                    }
                }
            }
            table.sort_unstable();
            self.st.aranges = Some(table);
        }
        if let Some(u) = lookup(self.st.aranges.as_deref().unwrap_or(&[]), addr) {
            return Ok(Some(u));
        }
        if self.st.root_ranges.is_none() {
            let listed: HashSet<usize> = self.st.aranges.iter().flatten().map(|r| r.2).collect();
            let mut table = Vec::new();
            for idx in 0..self.list_units()? {
                if listed.contains(&idx) {
                    continue;
                }
                let unit = self.unit(idx)?;
                if !matches!(unit.header.type_(), gimli::UnitType::Compilation | gimli::UnitType::Partial) {
                    continue;
                }
                let mut cursor = unit.entries();
                let Some((_, root)) = cursor.next_dfs()? else { continue };
                let mut ranges = self.dwarf.die_ranges(&unit, root)?;
                while let Some(r) = ranges.next()? {
                    if r.begin < r.end {
                        table.push((r.begin, r.end, idx));
                    }
                }
            }
            table.sort_unstable();
            self.st.root_ranges = Some(table);
        }
        Ok(lookup(self.st.root_ranges.as_deref().unwrap_or(&[]), addr))
    }

    /// The subprogram DIE describing the function `name` whose symbol is at
    /// `addr`; see the module docs of `mod.rs` for the order of attempts.
    pub fn find_function(&mut self, name: &str, addr: Option<u64>) -> Result<Option<DieRef>> {
        if let Some(addr) = addr {
            if let Some(unit) = self.unit_for_address(addr)? {
                let ix = self.walk(unit)?;
                // By address first: an alias (`malloc`) is described under
                // the name it was defined with (`__libc_malloc`).
                let off = ix.by_addr.get(&addr).or_else(|| ix.by_name.get(name));
                // A unit covering the address but not describing a function
                // there is assembly: scanning every other unit would not help.
                return Ok(off.map(|&off| DieRef { unit, off }));
            }
        }
        for &unit in &self.st.walked {
            if let Some(&off) = self.st.indexes.get(&unit).and_then(|ix| ix.by_name.get(name)) {
                return Ok(Some(DieRef { unit, off }));
            }
        }
        for unit in 0..self.list_units()? {
            if self.st.indexes.contains_key(&unit) {
                continue;
            }
            if let Some(&off) = self.walk(unit)?.by_name.get(name) {
                return Ok(Some(DieRef { unit, off }));
            }
        }
        Ok(None)
    }

    /// The first complete definition of a type called `name` (in the tag
    /// name space `tag`, or ordinary names then tags).
    pub fn find_type(&mut self, name: &str, tag: Option<TypeTag>) -> Result<Option<DieRef>> {
        let spaces: &[Ns] = match tag {
            Some(TypeTag::Struct) => &[Ns::Struct],
            Some(TypeTag::Union) => &[Ns::Union],
            Some(TypeTag::Enum) => &[Ns::Enum],
            None => &[Ns::Ordinary, Ns::Struct, Ns::Union, Ns::Enum],
        };
        let key = |ns: Ns| (ns, name.to_string());
        let find = |ix: &UnitIndex| spaces.iter().find_map(|&ns| ix.types.get(&key(ns)).copied());
        for &unit in &self.st.walked {
            if let Some(off) = self.st.indexes.get(&unit).and_then(find) {
                return Ok(Some(DieRef { unit, off }));
            }
        }
        for unit in 0..self.list_units()? {
            if self.st.indexes.contains_key(&unit) {
                continue;
            }
            if let Some(off) = find(self.walk(unit)?) {
                return Ok(Some(DieRef { unit, off }));
            }
        }
        Ok(None)
    }

    /// Walk unit `idx` once, building its index.
    fn walk(&mut self, idx: usize) -> Result<&UnitIndex> {
        if !self.st.indexes.contains_key(&idx) {
            let unit = self.unit(idx)?;
            let nested = matches!(
                self.lang(idx)?,
                Some(dw::DW_LANG_C_plus_plus | dw::DW_LANG_C_plus_plus_03 | dw::DW_LANG_C_plus_plus_11)
                    | Some(dw::DW_LANG_C_plus_plus_14 | dw::DW_LANG_Rust)
            );
            let mut ix = UnitIndex::default();
            let mut unnamed = Vec::new();
            {
                let mut tree = unit.entries_tree(None)?;
                let root = tree.root()?;
                walk_children(self, &unit, root, "", nested, &mut ix, &mut unnamed)?;
            }
            // Concrete instances of inline functions and out-of-line C++
            // member definitions carry their name on the DIE they refer to.
            for (off, origin) in unnamed {
                if let Some(origin) = self.resolve(idx, origin)? {
                    for n in self.names(origin)? {
                        ix.by_name.entry(n).or_insert(off);
                    }
                }
            }
            self.st.parsed += 1;
            self.st.walked.push(idx);
            self.st.indexes.insert(idx, ix);
        }
        self.st.indexes.get(&idx).ok_or_else(|| Error::Malformed("unit index vanished".into()))
    }

    /// `DW_AT_name` and `DW_AT_linkage_name` of a DIE, following
    /// `DW_AT_specification`/`DW_AT_abstract_origin` (a few links at most).
    fn names(&mut self, mut die: DieRef) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for _ in 0..4 {
            let unit = self.unit(die.unit)?;
            let entry = unit.entry(die.off)?;
            let mut next = None;
            let mut attrs = entry.attrs();
            while let Some(a) = attrs.next()? {
                match a.name() {
                    dw::DW_AT_name | dw::DW_AT_linkage_name | dw::DW_AT_MIPS_linkage_name => {
                        out.push(self.string(&unit, a.value())?)
                    }
                    dw::DW_AT_specification | dw::DW_AT_abstract_origin => next = Some(a.value()),
                    _ => {}
                }
            }
            match next {
                Some(v) if out.is_empty() => match self.resolve(die.unit, v)? {
                    Some(d) => die = d,
                    None => break,
                },
                _ => break,
            }
        }
        Ok(out)
    }

    /// A string-class attribute value as text.
    pub fn string(&self, unit: &Unit<'a>, value: AttributeValue<R<'a>>) -> Result<String> {
        Ok(self.dwarf.attr_string(unit, value)?.to_string_lossy().into_owned())
    }
}

fn lookup(table: &[(u64, u64, usize)], addr: u64) -> Option<usize> {
    let i = table.partition_point(|r| r.0 <= addr);
    // Ranges of different units do not overlap, but a zero-size entry or a
    // producer's slop might: look back a little.
    table[..i].iter().rev().take(4).find(|r| addr < r.1).map(|r| r.2)
}

/// `gimli::Unit::new` without the line program (which would need
/// `.debug_line` decompressed and parsed for nothing); also the language.
fn make_unit<'a>(
    dwarf: &gimli::Dwarf<R<'a>>,
    header: gimli::UnitHeader<R<'a>>,
    abbreviations: Arc<gimli::Abbreviations>,
) -> Result<(Unit<'a>, Option<gimli::DwLang>)> {
    let encoding = header.encoding();
    let mut unit = gimli::Unit {
        abbreviations,
        name: None,
        comp_dir: None,
        low_pc: 0,
        str_offsets_base: gimli::DebugStrOffsetsBase::default_for_encoding_and_file(encoding, dwarf.file_type),
        addr_base: gimli::DebugAddrBase(0),
        loclists_base: gimli::DebugLocListsBase::default_for_encoding_and_file(encoding, dwarf.file_type),
        rnglists_base: gimli::DebugRngListsBase::default_for_encoding_and_file(encoding, dwarf.file_type),
        line_program: None,
        dwo_id: None,
        header,
    };
    let mut lang = None;
    let mut low_pc = None;
    {
        let mut cursor = unit.header.entries(&unit.abbreviations);
        let Some((_, root)) = cursor.next_dfs()? else {
            return Err(Error::Malformed("a unit without a root DIE".into()));
        };
        let mut attrs = root.attrs();
        while let Some(a) = attrs.next()? {
            match (a.name(), a.value()) {
                (dw::DW_AT_language, AttributeValue::Language(l)) => lang = Some(l),
                (dw::DW_AT_low_pc, v) => low_pc = Some(v),
                (dw::DW_AT_str_offsets_base, AttributeValue::DebugStrOffsetsBase(b)) => unit.str_offsets_base = b,
                (dw::DW_AT_addr_base | dw::DW_AT_GNU_addr_base, AttributeValue::DebugAddrBase(b)) => unit.addr_base = b,
                (dw::DW_AT_loclists_base, AttributeValue::DebugLocListsBase(b)) => unit.loclists_base = b,
                (dw::DW_AT_rnglists_base | dw::DW_AT_GNU_ranges_base, AttributeValue::DebugRngListsBase(b)) => {
                    unit.rnglists_base = b
                }
                _ => {}
            }
        }
    }
    // Resolved last: DW_FORM_addrx needs the address base read above.
    if let Some(v) = low_pc {
        unit.low_pc = dwarf.attr_address(&unit, v)?.unwrap_or(0);
    }
    Ok((unit, lang))
}

/// Index the children of `node`: subprogram definitions, type definitions,
/// and (recursively) namespaces and, when `nested`, classes.
fn walk_children<'a>(
    cx: &mut Ctx<'a>,
    unit: &Unit<'a>,
    node: gimli::EntriesTreeNode<'_, '_, '_, R<'a>>,
    prefix: &str,
    nested: bool,
    ix: &mut UnitIndex,
    unnamed: &mut Vec<(UnitOffset, AttributeValue<R<'a>>)>,
) -> Result<()> {
    let mut children = node.children();
    while let Some(child) = children.next()? {
        let entry = child.entry();
        let tag = entry.tag();
        let ns = match tag {
            dw::DW_TAG_subprogram => {
                index_subprogram(cx, unit, entry, prefix, ix, unnamed)?;
                continue;
            }
            dw::DW_TAG_namespace => None,
            dw::DW_TAG_structure_type | dw::DW_TAG_class_type => Some(Ns::Struct),
            dw::DW_TAG_union_type => Some(Ns::Union),
            dw::DW_TAG_enumeration_type => Some(Ns::Enum),
            dw::DW_TAG_typedef | dw::DW_TAG_base_type => Some(Ns::Ordinary),
            _ => continue,
        };
        let mut name = None;
        let mut declaration = false;
        let mut attrs = entry.attrs();
        while let Some(a) = attrs.next()? {
            match a.name() {
                dw::DW_AT_name => name = Some(cx.string(unit, a.value())?),
                dw::DW_AT_declaration => declaration = matches!(a.value(), AttributeValue::Flag(true)),
                _ => {}
            }
        }
        let off = entry.offset();
        match ns {
            None => {
                // An anonymous namespace's names are usable unqualified.
                let inner = match &name {
                    Some(n) => format!("{prefix}{n}::"),
                    None => prefix.to_string(),
                };
                walk_children(cx, unit, child, &inner, nested, ix, unnamed)?;
            }
            Some(ns) => {
                let Some(name) = name else { continue };
                if !declaration {
                    ix.types.entry((ns, format!("{prefix}{name}"))).or_insert(off);
                }
                if nested && ns != Ns::Ordinary {
                    walk_children(cx, unit, child, &format!("{prefix}{name}::"), nested, ix, unnamed)?;
                }
            }
        }
    }
    Ok(())
}

fn index_subprogram<'a>(
    cx: &mut Ctx<'a>,
    unit: &Unit<'a>,
    entry: &gimli::DebuggingInformationEntry<'_, '_, R<'a>>,
    prefix: &str,
    ix: &mut UnitIndex,
    unnamed: &mut Vec<(UnitOffset, AttributeValue<R<'a>>)>,
) -> Result<()> {
    let off = entry.offset();
    let mut names = Vec::new();
    let mut origin = None;
    let mut has_code = false;
    let mut attrs = entry.attrs();
    while let Some(a) = attrs.next()? {
        match a.name() {
            dw::DW_AT_name => names.push(format!("{prefix}{}", cx.string(unit, a.value())?)),
            dw::DW_AT_linkage_name | dw::DW_AT_MIPS_linkage_name => names.push(cx.string(unit, a.value())?),
            dw::DW_AT_specification | dw::DW_AT_abstract_origin => origin = Some(a.value()),
            dw::DW_AT_entry_pc => {
                if let Some(pc) = cx.dwarf.attr_address(unit, a.value())? {
                    ix.by_addr.entry(pc).or_insert(off);
                }
            }
            dw::DW_AT_low_pc | dw::DW_AT_ranges => has_code = true,
            _ => {}
        }
    }
    // Declarations and abstract instances (no code) describe no address.
    if !has_code {
        return Ok(());
    }
    let mut ranges = cx.dwarf.die_ranges(unit, entry)?;
    while let Some(r) = ranges.next()? {
        ix.by_addr.entry(r.begin).or_insert(off);
    }
    if names.is_empty() {
        if let Some(o) = origin {
            unnamed.push((off, o));
        }
    }
    for n in names {
        ix.by_name.entry(n).or_insert(off);
    }
    Ok(())
}
