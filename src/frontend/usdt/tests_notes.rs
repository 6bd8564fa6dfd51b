//! Malformed `.note.stapsdt` sections, made by replacing the USDT test
//! target's notes with hand-written ones (`objcopy --update-section`): each
//! is an error naming the file, the section and what is wrong, never "no
//! USDT probes". A file whose notes section holds no notes still has none.

use super::tests::build_usdt;
use super::*;
use crate::frontend::ast::AttachPoint;
use crate::frontend::elf::test_support::temp_dir;
use crate::frontend::probes::{expand, ProbeContext};
use crate::source::Span;
use std::process::Command;

/// A stapsdt note holding `desc`.
fn note(desc: &[u8]) -> Vec<u8> {
    sized(b"stapsdt", desc.len() as u32, desc)
}

/// One 64-bit little-endian note: owner `name`, type 3, `desc`, with
/// `descsz` written as given (a lie, when it is not `desc.len()`).
fn sized(name: &[u8], descsz: u32, desc: &[u8]) -> Vec<u8> {
    let mut n = Vec::new();
    n.extend((name.len() as u32 + 1).to_le_bytes());
    n.extend(descsz.to_le_bytes());
    n.extend(3u32.to_le_bytes());
    n.extend(name);
    n.push(0);
    n.resize(n.len().next_multiple_of(4), 0);
    n.extend(desc);
    n.resize(n.len().next_multiple_of(4), 0);
    n
}

/// A stapsdt description: three addresses, then the strings as given
/// (NULs included by the caller).
fn desc(pc: u64, semaphore: u64, strings: &[u8]) -> Vec<u8> {
    let mut d = Vec::new();
    for a in [pc, 0, semaphore] {
        d.extend(a.to_le_bytes());
    }
    d.extend(strings);
    d
}

/// The USDT target with its `.note.stapsdt` replaced by `section`.
fn with_notes(tag: &str, section: &[u8]) -> PathBuf {
    let exe = build_usdt("-O0");
    let notes = temp_dir().join(format!("usdt-notes-{tag}"));
    let out = temp_dir().join(format!("usdt-bad-{tag}"));
    std::fs::write(&notes, section).expect("write");
    let status = Command::new("objcopy")
        .arg(format!("--update-section=.note.stapsdt={}", notes.display()))
        .arg(&exe)
        .arg(&out)
        .status()
        .expect("run objcopy");
    assert!(status.success(), "objcopy for {tag}");
    out
}

/// The address of a real probe site, so that only what is under test is
/// wrong with a note.
fn real_pc() -> u64 {
    open(&build_usdt("-O0")).expect("notes").sites[0].vaddr
}

#[test]
fn malformed_notes_are_errors_that_say_what_is_wrong() {
    let pc = real_pc();
    let good = note(&desc(pc, 0, b"p\0n\0-4@%edi\0"));
    let cases: Vec<(&str, Vec<u8>, String)> = vec![
        ("short", note(&desc(pc, 0, b"")[..20]), "note 1: 20 bytes, too short for its three 8-byte addresses".into()),
        ("nul", note(&desc(pc, 0, b"p\0probe")), "note 1: the probe name has no terminating NUL".into()),
        (
            "args",
            [good.clone(), note(&desc(pc, 0, b"p\0m\0-4@%edi"))].concat(),
            "note 2: the argument string has no terminating NUL".into(),
        ),
        ("empty", note(&desc(pc, 0, b"\0n\0")), "note 1: an empty provider".into()),
        // Sizes that run past the section.
        (
            "descsz",
            [good.clone(), sized(b"stapsdt", 0xffff_ff00, &desc(pc, 0, b"p\0n\0\0"))].concat(),
            "note 2: Invalid ELF note descsz".into(),
        ),
        ("cut", good[..good.len() - 12].to_vec(), "note 1: Invalid ELF note descsz".into()),
        ("header", vec![8, 0, 0, 0, 29], "note 1: ELF note is too short".into()),
        // Addresses that are in no segment.
        (
            "pc",
            note(&desc(0xdead_0000_0000, 0, b"p\0n\0\0")),
            "note 1 (p:n): its address 0xdead00000000 is in no loadable segment".into(),
        ),
        (
            "sem",
            note(&desc(pc, 0xdead_0000_0000, b"p\0n\0\0")),
            "note 1 (p:n): its semaphore 0xdead00000000 is in no loadable segment".into(),
        ),
    ];
    for (tag, section, why) in cases {
        let path = with_notes(tag, &section);
        let e = open(&path).expect_err(tag);
        assert!(matches!(e, UsdtError::Note { .. }), "{tag}: {e:?}");
        assert_eq!(e.to_string(), format!("{}: malformed USDT note in .note.stapsdt: {why}", path.display()), "{tag}");
        // The attach point reports it, not "no USDT probes".
        let text = format!("usdt:{}:p:n", path.display());
        let ap = AttachPoint { text: text.clone(), span: Span::new(0, 5, 5 + text.len()) };
        let d = expand(&ap, &ProbeContext::default()).expect_err("an error");
        assert_eq!(d.message, e.to_string(), "{tag}");
    }
    // The well-formed note alone reads, with its argument.
    let sites = open(&with_notes("good", &good)).expect("a good note").sites.clone();
    assert_eq!((sites.len(), sites[0].name.as_str(), sites[0].args_text.as_str()), (1, "n", "-4@%edi"));
}

#[test]
fn a_notes_section_without_notes_has_no_probes() {
    // Other owners' notes are not ours to judge; an empty section is empty.
    let other = sized(b"GNU", 4, &[1, 2, 3, 4]);
    for (tag, section) in [("none", Vec::new()), ("other", other)] {
        let path = with_notes(tag, &section);
        assert!(open(&path).expect(tag).sites.is_empty(), "{tag}");
        let text = format!("usdt:{}:p:n", path.display());
        let ap = AttachPoint { text: text.clone(), span: Span::new(0, 5, 5 + text.len()) };
        let d = expand(&ap, &ProbeContext::default()).expect_err("an error");
        assert!(d.message.ends_with("has no USDT probes"), "{tag}: {}", d.message);
    }
}
