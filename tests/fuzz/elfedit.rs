//! Just enough ELF to mutate it with intent: where the headers, sections,
//! symbols and notes are, and their fields, for either class and byte
//! order (a mutation may flip `EI_CLASS` or `EI_DATA`, and the next one
//! then sees the file as the readers under test will).

/// A field: byte offset in the file and width in bytes (1, 2, 4 or 8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    pub at: usize,
    pub width: usize,
}

/// One section header, read.
#[derive(Clone, Debug)]
pub struct Section {
    /// Where its header is.
    pub header: usize,
    pub name: String,
    pub flags: u64,
    pub offset: u64,
    pub size: u64,
}

/// Where things are in one (possibly already damaged) ELF file.
#[derive(Clone, Debug)]
pub struct Layout {
    pub wide: bool,
    pub little: bool,
    pub phoff: u64,
    pub phnum: u64,
    pub sections: Vec<Section>,
}

pub fn read(data: &[u8], f: Field, little: bool) -> Option<u64> {
    let b = data.get(f.at..f.at.checked_add(f.width)?)?;
    let mut v = 0u64;
    for i in 0..f.width {
        let byte = if little { b[f.width - 1 - i] } else { b[i] };
        v = (v << 8) | byte as u64;
    }
    Some(v)
}

pub fn write(data: &mut [u8], f: Field, little: bool, value: u64) {
    let Some(end) = f.at.checked_add(f.width) else { return };
    let Some(b) = data.get_mut(f.at..end) else { return };
    for i in 0..f.width {
        let byte = (value >> (8 * i)) as u8;
        if little {
            b[i] = byte;
        } else {
            b[f.width - 1 - i] = byte;
        }
    }
}

/// The fields of the ELF header that say where everything else is.
pub fn header_fields(wide: bool) -> Vec<Field> {
    let f = |at, width| Field { at, width };
    if wide {
        vec![
            f(16, 2),
            f(18, 2),
            f(24, 8),
            f(32, 8),
            f(40, 8),
            f(52, 2),
            f(54, 2),
            f(56, 2),
            f(58, 2),
            f(60, 2),
            f(62, 2),
        ]
    } else {
        vec![
            f(16, 2),
            f(18, 2),
            f(24, 4),
            f(28, 4),
            f(32, 4),
            f(40, 2),
            f(42, 2),
            f(44, 2),
            f(46, 2),
            f(48, 2),
            f(50, 2),
        ]
    }
}

/// The fields of a section header at `at`.
pub fn section_fields(wide: bool, at: usize) -> Vec<Field> {
    let f = |off: usize, width| Field { at: at.saturating_add(off), width };
    if wide {
        vec![f(0, 4), f(4, 4), f(8, 8), f(16, 8), f(24, 8), f(32, 8), f(40, 4), f(44, 4), f(48, 8), f(56, 8)]
    } else {
        (0..10).map(|i| f(4 * i, 4)).collect()
    }
}

/// The fields of a program header at `at`.
pub fn segment_fields(wide: bool, at: usize) -> Vec<Field> {
    let f = |off: usize, width| Field { at: at.saturating_add(off), width };
    if wide {
        vec![f(0, 4), f(4, 4), f(8, 8), f(16, 8), f(24, 8), f(32, 8), f(40, 8), f(48, 8)]
    } else {
        (0..8).map(|i| f(4 * i, 4)).collect()
    }
}

/// The fields of the symbol at `at` (name, info, other, shndx, value, size).
pub fn symbol_fields(wide: bool, at: usize) -> Vec<Field> {
    let f = |off: usize, width| Field { at: at.saturating_add(off), width };
    if wide {
        vec![f(0, 4), f(4, 1), f(5, 1), f(6, 2), f(8, 8), f(16, 8)]
    } else {
        vec![f(0, 4), f(12, 1), f(13, 1), f(14, 2), f(4, 4), f(8, 4)]
    }
}

/// The fields of a compression header at `at` (type, size, alignment).
pub fn chdr_fields(wide: bool, at: usize) -> Vec<Field> {
    let f = |off: usize, width| Field { at: at.saturating_add(off), width };
    if wide {
        vec![f(0, 4), f(8, 8), f(16, 8)]
    } else {
        vec![f(0, 4), f(4, 4), f(8, 4)]
    }
}

/// The size of a symbol table entry.
pub fn symbol_size(wide: bool) -> usize {
    if wide {
        24
    } else {
        16
    }
}

/// Reads the layout, as far as the file allows; `None` if it is not ELF.
pub fn layout(data: &[u8]) -> Option<Layout> {
    if data.get(..4)? != b"\x7fELF" {
        return None;
    }
    let wide = match data.get(4)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let little = match data.get(5)? {
        1 => true,
        2 => false,
        _ => return None,
    };
    let h = header_fields(wide);
    let r = |f: Field| read(data, f, little);
    let (phoff, shoff, phnum, shentsize, shnum, shstrndx) =
        (r(h[3])?, r(h[4])?, r(h[7])?, r(h[8])?, r(h[9])?, r(h[10])?);
    let mut sections = Vec::new();
    if shentsize >= if wide { 64 } else { 40 } && shoff > 0 && shoff < data.len() as u64 {
        let first = section_fields(wide, shoff as usize);
        // Extended numbering: the count is then the first header's size.
        let count = if shnum == 0 { r(first[5]).unwrap_or(0) } else { shnum };
        let fits = (data.len() as u64 - shoff) / shentsize;
        for i in 0..count.min(fits) {
            // Inside the file: `fits` bounds `i`.
            let at = (shoff + i * shentsize) as usize;
            let f = section_fields(wide, at);
            sections.push(Section {
                header: at,
                name: String::new(),
                flags: r(f[2])?,
                offset: r(f[4])?,
                size: r(f[5])?,
            });
        }
        let strndx = if shstrndx == 0xffff {
            sections.first().and_then(|s| r(section_fields(wide, s.header)[6]))
        } else {
            Some(shstrndx)
        };
        if let Some(strtab) = strndx.and_then(|i| sections.get(i as usize)).cloned() {
            for s in &mut sections {
                let name_off = r(section_fields(wide, s.header)[0]).unwrap_or(u64::MAX);
                s.name = string_at(data, strtab.offset.saturating_add(name_off)).unwrap_or_default();
            }
        }
    }
    Some(Layout { wide, little, phoff, phnum, sections })
}

/// The NUL-terminated string at `at`, if it is there and short.
fn string_at(data: &[u8], at: u64) -> Option<String> {
    let rest = data.get(usize::try_from(at).ok()?..)?;
    let end = rest.iter().take(256).position(|&b| b == 0)?;
    Some(String::from_utf8_lossy(&rest[..end]).into_owned())
}

impl Layout {
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// A section's bytes as a range of the file, if they are in it.
    pub fn range(&self, s: &Section, len: usize) -> Option<std::ops::Range<usize>> {
        let start = usize::try_from(s.offset).ok()?;
        let end = start.checked_add(usize::try_from(s.size).ok()?)?;
        (end <= len && start < end).then_some(start..end)
    }
}
