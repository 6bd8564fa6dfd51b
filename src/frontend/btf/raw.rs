//! The BTF encoding itself: the header, the one pass that finds where each
//! type entry starts, entries and their trailing records, and strings.
//!
//! Everything here reads the file as untrusted: every offset and length is
//! checked against the section it claims to be in (with checked
//! arithmetic), a string must end in a NUL inside the string section, and
//! an entry of a kind this reader does not know stops the index (its size
//! is unknowable, so nothing after it could be found). The only allocation
//! proportional to the input is the offset table, one `u32` per entry,
//! bounded by the type section's length / 12.
//!
//! Layout (`Documentation/bpf/btf.rst`): a 24-byte header (magic `0xeB9F`,
//! version 1, flags, `hdr_len`, then offset and length of the type and
//! string sections relative to the header's end); type ids are assigned in
//! order from 1 (0 is `void`), each entry a 12-byte `btf_type` (name offset,
//! info word, size-or-type) followed by a kind-specific tail. Split BTF
//! (kernel modules) numbers its types after its base's last id and its
//! string offsets after the base's string section.

use super::Bad;
use std::ops::Range;

pub(super) const HEADER_LEN: usize = 24;
const MAGIC: u16 = 0xeb9f;

/// The kinds of type entry (`BTF_KIND_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Int,
    Ptr,
    Array,
    Struct,
    Union,
    Enum,
    Fwd,
    Typedef,
    Volatile,
    Const,
    Restrict,
    Func,
    FuncProto,
    Var,
    Datasec,
    Float,
    DeclTag,
    TypeTag,
    Enum64,
}

impl Kind {
    fn from_raw(k: u32) -> Option<Kind> {
        use Kind::*;
        const KINDS: [Kind; 19] = [
            Int, Ptr, Array, Struct, Union, Enum, Fwd, Typedef, Volatile, Const, Restrict, Func, FuncProto, Var,
            Datasec, Float, DeclTag, TypeTag, Enum64,
        ];
        KINDS.get(usize::try_from(k).ok()?.checked_sub(1)?).copied()
    }

    /// Bytes of the tail that follows the 12-byte entry, for `vlen` items.
    fn tail_len(self, vlen: u16) -> usize {
        let vlen = vlen as usize;
        match self {
            Kind::Int | Kind::Var | Kind::DeclTag => 4,
            Kind::Array => 12,
            Kind::Struct | Kind::Union | Kind::Datasec | Kind::Enum64 => 12 * vlen,
            Kind::Enum | Kind::FuncProto => 8 * vlen,
            _ => 0,
        }
    }

    /// Modifiers a type is looked through for: qualifiers and type tags.
    pub(super) fn is_modifier(self) -> bool {
        matches!(self, Kind::Const | Kind::Volatile | Kind::Restrict | Kind::TypeTag)
    }
}

/// Where the parts of one BTF blob are, and the start of every entry.
pub(super) struct Layout {
    /// The type section, as a range of the blob.
    types: Range<usize>,
    /// The string section, as a range of the blob.
    strings: Range<usize>,
    /// Each entry's offset inside the type section, in id order.
    offsets: Vec<u32>,
    /// The id of the first entry: 1, or after the base's last for split BTF.
    pub first_id: u32,
    /// The string offset the section starts at (the base's length for split BTF).
    pub str_base: u32,
}

/// One type entry, with its tail.
#[derive(Clone, Copy, Debug)]
pub(super) struct Entry<'a> {
    pub id: u32,
    pub name_off: u32,
    pub kind: Kind,
    pub vlen: u16,
    pub kflag: bool,
    /// `size` for ints, records, enums, floats and sections; `type` (an id)
    /// for the others.
    pub size_or_type: u32,
    tail: &'a [u8],
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    let end = at.checked_add(4)?;
    Some(u32::from_le_bytes(b.get(at..end)?.try_into().ok()?))
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    let end = at.checked_add(2)?;
    Some(u16::from_le_bytes(b.get(at..end)?.try_into().ok()?))
}

/// A `len`-byte section at `off` after the header, as a range of the blob.
fn section(data: &[u8], hdr_len: usize, off: u32, len: u32, what: &str) -> Result<Range<usize>, Bad> {
    let start = hdr_len.checked_add(off as usize);
    let end = start.and_then(|s| s.checked_add(len as usize));
    match (start, end) {
        (Some(s), Some(e)) if e <= data.len() => Ok(s..e),
        _ => Err(Bad::Malformed(format!(
            "the {what} section (offset {off}, {len} bytes after a {hdr_len}-byte header) runs past the end of the \
             {}-byte file",
            data.len()
        ))),
    }
}

impl Layout {
    /// Check the header and record where every entry starts. `base` is
    /// (the base's next id, the base's string length) for split BTF.
    pub(super) fn read(data: &[u8], base: Option<(u32, u32)>) -> Result<Layout, Bad> {
        if data.len() < HEADER_LEN {
            return Err(Bad::Malformed(format!(
                "the file is {} bytes, shorter than the {HEADER_LEN}-byte header",
                data.len()
            )));
        }
        let short = || Bad::Malformed("the header is cut short".into());
        let magic = le16(data, 0).ok_or_else(short)?;
        if magic == MAGIC.swap_bytes() {
            return Err(Bad::Unsupported("big-endian BTF (this reader reads little-endian BTF only)".into()));
        }
        if magic != MAGIC {
            return Err(Bad::Malformed(format!("bad magic 0x{magic:04x} (BTF starts with 0xeb9f): not a BTF file")));
        }
        let version = data.get(2).copied().ok_or_else(short)?;
        if version != 1 {
            return Err(Bad::Unsupported(format!("version {version} (this reader knows version 1)")));
        }
        let hdr_len = le32(data, 4).ok_or_else(short)? as usize;
        if hdr_len < HEADER_LEN || hdr_len > data.len() {
            return Err(Bad::Malformed(format!("header length {hdr_len} (at least {HEADER_LEN}, within the file)")));
        }
        let word = |i: usize| le32(data, 8 + 4 * i).ok_or_else(short);
        let types = section(data, hdr_len, word(0)?, word(1)?, "type")?;
        let strings = section(data, hdr_len, word(2)?, word(3)?, "string")?;
        let (first_id, str_base) = base.unwrap_or((1, 0));
        let s = &data[strings.clone()];
        if base.is_none() && s.first() != Some(&0) {
            return Err(Bad::Malformed("the string section does not start with an empty string".into()));
        }
        if !s.is_empty() && s.last() != Some(&0) {
            return Err(Bad::Malformed("the string section does not end in a NUL".into()));
        }
        if str_base.checked_add(u32::try_from(s.len()).map_err(|_| short())?).is_none() {
            return Err(Bad::Malformed("string offsets past 4 GiB".into()));
        }
        let offsets = index(&data[types.clone()], first_id)?;
        Ok(Layout { types, strings, offsets, first_id, str_base })
    }

    /// How many entries this blob has (not counting its base's).
    pub(super) fn count(&self) -> u32 {
        self.offsets.len() as u32
    }

    /// The id after this blob's last entry.
    pub(super) fn next_id(&self) -> u32 {
        self.first_id.saturating_add(self.count())
    }

    /// The length of the string section (what split BTF's offsets follow).
    pub(super) fn str_len(&self) -> u32 {
        (self.strings.end - self.strings.start) as u32
    }

    /// The entry `id`, which must be one of this blob's own.
    pub(super) fn entry<'a>(&self, data: &'a [u8], id: u32) -> Result<Entry<'a>, Bad> {
        let missing = || Bad::Malformed(format!("type id {id} does not exist (the last is {})", self.next_id() - 1));
        let i = id.checked_sub(self.first_id).ok_or_else(missing)?;
        let off = *self.offsets.get(i as usize).ok_or_else(missing)? as usize;
        let types = data.get(self.types.clone()).ok_or_else(missing)?;
        let cut = || Bad::Malformed(format!("type {id} is cut short"));
        let info = le32(types, off + 4).ok_or_else(cut)?;
        let kind = Kind::from_raw((info >> 24) & 0x1f).ok_or_else(cut)?;
        let vlen = (info & 0xffff) as u16;
        let start = off + 12;
        let tail = types.get(start..start + kind.tail_len(vlen)).ok_or_else(cut)?;
        Ok(Entry {
            id,
            name_off: le32(types, off).ok_or_else(cut)?,
            kind,
            vlen,
            kflag: info >> 31 == 1,
            size_or_type: le32(types, off + 8).ok_or_else(cut)?,
            tail,
        })
    }

    /// The name offset and kind of every own entry, in id order, without
    /// building entries: the loop name lookups scan.
    pub(super) fn names<'a>(&'a self, data: &'a [u8]) -> impl Iterator<Item = (u32, u32, Option<Kind>)> + 'a {
        let types = data.get(self.types.clone()).unwrap_or(&[]);
        self.offsets.iter().enumerate().map(move |(i, &off)| {
            let off = off as usize;
            let name = le32(types, off).unwrap_or(0);
            let kind = le32(types, off + 4).and_then(|info| Kind::from_raw((info >> 24) & 0x1f));
            (self.first_id + i as u32, name, kind)
        })
    }

    /// The string at `off` of this blob's own section (`off` counted from
    /// the section's start, i.e. already less the base's length).
    pub(super) fn string<'a>(&self, data: &'a [u8], off: u32) -> Result<&'a str, Bad> {
        let s = data.get(self.strings.clone()).unwrap_or(&[]);
        let bad = |why: &str| Bad::Malformed(format!("string offset {} {why}", off as u64 + self.str_base as u64));
        let rest = s.get(off as usize..).filter(|r| !r.is_empty()).ok_or_else(|| bad("is past the string section"))?;
        let len = rest.iter().position(|&b| b == 0).ok_or_else(|| bad("has no NUL before the section ends"))?;
        std::str::from_utf8(&rest[..len]).map_err(|_| bad("is not UTF-8"))
    }

    /// Whether the string at `off` of this blob's own section (already
    /// less the base's length) is exactly `name`: its bytes, then a NUL.
    pub(super) fn string_is(&self, data: &[u8], off: u32, name: &[u8]) -> bool {
        let s = data.get(self.strings.clone()).unwrap_or(&[]);
        let at = off as usize;
        match at.checked_add(name.len()).and_then(|end| Some((s.get(at..end)?, s.get(end)?))) {
            Some((bytes, &nul)) => nul == 0 && bytes == name,
            None => false,
        }
    }
}

/// Named entries by a hash of their name, sorted: (hash, id). Built once
/// a blob has answered enough lookups by scanning (see [`super::Btf`]).
pub(super) struct NameIndex(Vec<(u64, u32)>);

/// FNV-1a: names are short, and the index only narrows the candidates.
pub(super) fn name_hash(name: &[u8]) -> u64 {
    name.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

impl NameIndex {
    pub(super) fn new(mut pairs: Vec<(u64, u32)>) -> NameIndex {
        pairs.sort_unstable();
        NameIndex(pairs)
    }

    /// The ids whose name hashes as `name` does, in id order.
    pub(super) fn candidates(&self, name: &[u8]) -> impl Iterator<Item = u32> + '_ {
        let h = name_hash(name);
        let from = self.0.partition_point(|&(k, _)| k < h);
        self.0[from..].iter().take_while(move |&&(k, _)| k == h).map(|&(_, id)| id)
    }
}

impl Layout {
    /// The bytes of the own string at `off` (less the base's length), up to
    /// its NUL; `None` past the section.
    pub(super) fn string_bytes<'a>(&self, data: &'a [u8], off: u32) -> Option<&'a [u8]> {
        let rest = data.get(self.strings.clone())?.get(off as usize..)?;
        rest.split(|&b| b == 0).next()
    }
}

/// The offset of each entry in the type section `types`: the cheap pass.
fn index(types: &[u8], first_id: u32) -> Result<Vec<u32>, Bad> {
    let mut offsets = Vec::with_capacity(types.len() / 24);
    let mut at = 0usize;
    while at < types.len() {
        let id = first_id as u64 + offsets.len() as u64;
        if id > u32::MAX as u64 {
            return Err(Bad::Malformed("more than 2^32 type ids".into()));
        }
        let (Some(info), Some(_)) = (le32(types, at + 4), le32(types, at + 8)) else {
            return Err(Bad::Malformed(format!("type {id} is cut short by the end of the type section")));
        };
        let raw_kind = (info >> 24) & 0x1f;
        let Some(kind) = Kind::from_raw(raw_kind) else {
            return Err(Bad::Unsupported(format!("type {id} is of kind {raw_kind}, which this reader does not know")));
        };
        let end = (at + 12).checked_add(kind.tail_len((info & 0xffff) as u16));
        match end {
            Some(end) if end <= types.len() => {
                offsets.push(at as u32);
                at = end;
            }
            _ => {
                return Err(Bad::Malformed(format!(
                    "type {id} ({kind:?}, {} items) runs past the end of the type section",
                    info & 0xffff
                )))
            }
        }
    }
    Ok(offsets)
}

impl<'a> Entry<'a> {
    /// The tail split into `n`-byte items, each as little-endian words.
    fn items<const N: usize>(&self) -> impl Iterator<Item = [u32; N]> + 'a {
        self.tail.chunks_exact(4 * N).map(|c| {
            let mut w = [0u32; N];
            for (i, word) in c.chunks_exact(4).enumerate() {
                w[i] = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
            }
            w
        })
    }

    /// An `INT`'s (encoding, bit offset, bits).
    pub fn int(&self) -> (u32, u32, u32) {
        let w = self.items::<1>().next().map_or(0, |w| w[0]);
        ((w >> 24) & 0xf, (w >> 16) & 0xff, w & 0xff)
    }

    /// An `ARRAY`'s (element type, index type, element count).
    pub fn array(&self) -> (u32, u32, u32) {
        self.items::<3>().next().map_or((0, 0, 0), |w| (w[0], w[1], w[2]))
    }

    /// A struct's or union's members: (name offset, type, offset word).
    pub fn members(&self) -> impl Iterator<Item = (u32, u32, u32)> + 'a {
        self.items::<3>().map(|w| (w[0], w[1], w[2]))
    }

    /// An `ENUM`'s or `ENUM64`'s values: (name offset, value), signed when
    /// the kind flag says so.
    pub fn enumerators(&self) -> Vec<(u32, i64)> {
        match self.kind {
            Kind::Enum => {
                self.items::<2>().map(|w| (w[0], if self.kflag { w[1] as i32 as i64 } else { w[1] as i64 })).collect()
            }
            Kind::Enum64 => self.items::<3>().map(|w| (w[0], ((w[2] as u64) << 32 | w[1] as u64) as i64)).collect(),
            _ => Vec::new(),
        }
    }

    /// A function prototype's parameters: (name offset, type).
    pub fn params(&self) -> impl Iterator<Item = (u32, u32)> + 'a {
        self.items::<2>().map(|w| (w[0], w[1]))
    }
}
