//! The binary as untrusted input: compressed sections whose headers lie,
//! debuglinks that name paths, and debug-file candidates that are not
//! plausible debug files. Built from the types target of `tests.rs`, then
//! edited byte by byte.

use super::locate::{crc32, MAX_DEBUG_FILE};
use super::tests::{built, dir, sh};
use super::*;
use object::{Object, ObjectSection};

/// The `-g -O0` types target with its debug sections compressed by objcopy
/// (`zlib`, `zlib-gnu` or `zstd`).
fn compressed(how: &str) -> PathBuf {
    let _ = built("types-g_-O0", "gcc -g -O0 -o types-g_-O0 types.c");
    built(&format!("types-{how}"), &format!("objcopy --compress-debug-sections={how} types-g_-O0 types-{how}"))
}

/// A copy of `bin` whose compressed `.debug_info` claims `size` bytes
/// uncompressed: the `Elf64_Chdr`'s `ch_size`, or for `.zdebug_info` the
/// big-endian size after `ZLIB`.
fn claiming(bin: &Path, size: u64, name: &str) -> PathBuf {
    let mut bytes = std::fs::read(bin).expect("read");
    let file = object::File::parse(&*bytes).expect("parse");
    let (at, gnu) = match file.section_by_name(".zdebug_info") {
        Some(s) => (s.file_range().expect("in the file").0 as usize + 4, true),
        None => {
            (file.section_by_name(".debug_info").and_then(|s| s.file_range()).expect("section").0 as usize + 8, false)
        }
    };
    drop(file);
    let size = if gnu { size.to_be_bytes() } else { size.to_le_bytes() };
    bytes[at..at + 8].copy_from_slice(&size);
    let path = dir().join(name);
    std::fs::write(&path, &bytes).expect("write");
    path
}

/// The uncompressed size of the binary's `.debug_info`.
fn real_size(bin: &Path) -> u64 {
    let bytes = std::fs::read(bin).expect("read");
    let file = object::File::parse(&*bytes).expect("parse");
    file.section_by_name(".debug_info").expect("section").compressed_file_range().expect("range").uncompressed_size
}

#[test]
fn a_compressed_section_that_lies_about_its_size_is_malformed() {
    for how in ["zlib", "zlib-gnu", "zstd"] {
        let bin = compressed(how);
        let real = real_size(&bin);
        // 3 GiB claimed (the old reader allocated and zeroed all of it);
        // one byte less than the truth; more than any section may have.
        let cases = [
            (3 << 30, format!("decompresses to {real} bytes, but its header claims 3221225472")),
            (real - 1, format!("decompresses to more than the {} bytes its header claims", real - 1)),
            (5 << 30, "claims 5368709120 bytes uncompressed, more than the 4294967296 a section may have".into()),
        ];
        for (i, (claim, why)) in cases.into_iter().enumerate() {
            let lying = claiming(&bin, claim, &format!("lying-{how}-{i}"));
            if how == "zlib-gnu" && claim > u32::MAX as u64 {
                // The GNU header's size is 4 bytes, with 4 zero bytes before
                // it that `object` checks: refused when the file is opened.
                let e = load(&lying).err().expect("a bad header");
                assert!(e
                    .to_string()
                    .ends_with("section .debug_info: malformed: Invalid GNU compressed section header"));
                continue;
            }
            let d = load(&lying).expect("headers parse").expect("a .debug_info");
            let e = d.function("many").expect_err("a lying header");
            assert!(matches!(e, DwarfError::Section { section: ".debug_info", .. }), "{how}: {e:?}");
            let text = e.to_string();
            assert!(text.contains(&format!("lying-{how}-{i}: section .debug_info: malformed")), "{how}: {text}");
            assert!(text.ends_with(&why), "{how}: {text}");
        }
        // The truth still reads.
        let honest = claiming(&bin, real, &format!("honest-{how}"));
        assert_eq!(tests::func(&info(&honest), "db_log_rotate").params[0].c_type, "db_shard_t *");
    }
}

fn info(path: &Path) -> Rc<DebugInfo> {
    tests::info(path)
}

/// `.gnu_debuglink` contents: the name, NUL, padding to 4, the CRC.
fn debuglink(name: &[u8], crc: u32) -> Vec<u8> {
    let mut d = name.to_vec();
    d.push(0);
    d.resize(d.len().next_multiple_of(4), 0);
    d.extend(crc.to_le_bytes());
    d
}

/// In `dl-{tag}/bin/`, the stripped types target with a hand-made debuglink
/// section naming `link`, with the CRC of its real debug file,
/// `dl-{tag}/secret/types.debug`. (One binary per tag: [`lookup`] caches
/// its answer while the binary is unchanged.)
fn linked(tag: &str, link: &[u8]) -> PathBuf {
    linked_with(tag, |crc| debuglink(link, crc))
}

/// [`linked`] with the section's bytes made from the real file's CRC.
fn linked_with(tag: &str, section: impl Fn(u32) -> Vec<u8>) -> PathBuf {
    let _ = built("types-g_-O0", "gcc -g -O0 -o types-g_-O0 types.c");
    let root = format!("dl-{tag}");
    sh(&format!(
        "rm -rf {root} && mkdir -p {root}/bin {root}/secret && \
         objcopy --only-keep-debug types-g_-O0 {root}/secret/types.debug && \
         objcopy --strip-debug types-g_-O0 {root}/bin/types"
    ));
    let debug = std::fs::read(dir().join(&root).join("secret/types.debug")).expect("read");
    std::fs::write(dir().join(&root).join("link"), section(crc32(&debug))).expect("write");
    sh(&format!("objcopy --add-section .gnu_debuglink={root}/link {root}/bin/types"));
    dir().join(root).join("bin/types")
}

#[test]
fn a_debuglink_naming_a_path_is_refused() {
    // The CRC matches: only the name stands between the binary and a file
    // outside its directories.
    let bin = linked("up", b"../secret/types.debug");
    let found = lookup(&bin).expect("lookup");
    assert!(found.info.is_none(), "followed ../ to {:?}", found.info.map(|d| d.debug_file().to_path_buf()));
    assert_eq!(
        found.notes,
        ["its .gnu_debuglink was refused: `../secret/types.debug` is a path, and a debuglink may only name a file"]
    );
    for (tag, link, why) in [
        ("abs", &b"/etc/passwd"[..], "`/etc/passwd` is a path"),
        ("dots", b"..", "`..` is a path"),
        ("empty", b"", "the name is empty"),
        ("latin1", b"caf\xe9.debug", "`caf\u{fffd}.debug` is not UTF-8"),
    ] {
        let found = lookup(&linked(tag, link)).expect("lookup");
        assert!(found.info.is_none(), "{tag}");
        assert_eq!(found.notes.len(), 1, "{tag}: {:?}", found.notes);
        assert!(found.notes[0].starts_with(&format!("its .gnu_debuglink was refused: {why}")), "{:?}", found.notes);
    }
    // No NUL, or no room for the CRC: the section is malformed.
    let found = lookup(&linked_with("nonul", |_| b"types.debug".to_vec())).expect("lookup");
    assert_eq!(found.notes, ["its .gnu_debuglink section is malformed: the name has no terminating NUL"]);
    let found = lookup(&linked_with("nocrc", |_| b"types.debug\0\0\0".to_vec())).expect("lookup");
    assert_eq!(found.notes, ["its .gnu_debuglink section is malformed: no CRC after the name"]);
    // A plain name beside the binary is followed.
    let bin = linked("plain", b"types.debug");
    sh("cp dl-plain/secret/types.debug dl-plain/bin/types.debug");
    let found = lookup(&bin).expect("lookup");
    assert!(found.info.is_some_and(|d| d.debug_file().ends_with("dl-plain/bin/types.debug")));
}

#[test]
fn debug_file_candidates_are_checked_before_they_are_read() {
    let bin = linked("cand", b"types.debug");
    let beside = dir().join("dl-cand/bin/types.debug");
    // Larger than a debug file may be (sparse: no disk, but the old reader
    // would have paged through all of it for the CRC).
    std::fs::File::create(&beside).and_then(|f| f.set_len(MAX_DEBUG_FILE + 1)).expect("sparse file");
    // Too small to be ELF.
    std::fs::create_dir_all(dir().join("dl-cand/bin/.debug")).expect("mkdir");
    std::fs::write(dir().join("dl-cand/bin/.debug/types.debug"), b"tiny").expect("write");
    let found = lookup(&bin).expect("lookup");
    assert!(found.info.is_none());
    let shown = |p: &str| dir().join(p).display().to_string();
    assert_eq!(
        found.notes,
        [
            format!(
                "{} was not read: 17179869185 bytes is more than a debug file may have (17179869184)",
                shown("dl-cand/bin/types.debug")
            ),
            format!("{} was not read: 4 bytes is too small for an ELF file", shown("dl-cand/bin/.debug/types.debug")),
        ]
    );
    // A FIFO is passed over without being opened (which would block).
    let bin = linked("fifo", b"types.debug");
    sh("mkfifo dl-fifo/bin/types.debug");
    let found = lookup(&bin).expect("lookup");
    assert!(found.info.is_none() && found.notes.is_empty(), "{:?}", found.notes);
    // A file of the wrong CRC is named.
    let bin = linked("crc", b"types.debug");
    sh("cp dl-crc/secret/types.debug dl-crc/bin/types.debug && echo x >> dl-crc/bin/types.debug");
    let found = lookup(&bin).expect("lookup");
    let expected =
        format!("{} is not the file its .gnu_debuglink names (the CRC differs)", shown("dl-crc/bin/types.debug"));
    assert_eq!(found.notes, [expected]);
}
