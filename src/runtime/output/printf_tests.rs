//! Tests for `printf.rs`; expected strings are bpftrace 0.17's output where
//! it supports the format, glibc's `printf` otherwise.

use super::*;
use crate::frontend::printf::parse_format;

fn fmt(f: &str, args: &[Scalar]) -> String {
    match parse_format(f) {
        Ok(pieces) => render(&pieces, args),
        Err(e) => panic!("{f:?}: {e}"),
    }
}
fn i(v: i64) -> Scalar {
    Scalar::Int(v)
}
fn s(v: &str) -> Scalar {
    Scalar::Str(v.to_string())
}

#[test]
fn the_common_combination() {
    // printf("[%-16s][%05d][%x][%lu][%lld][%c][%p][%5.2s][%%]\n", ...)
    assert_eq!(
        fmt(
            "[%-16s][%05d][%x][%lu][%lld][%c][%p][%5.2s][%%]\n",
            &[s("hello"), i(42), i(255), i(123), i(-5), i(65), i(4096), s("abcdef")]
        ),
        "[hello           ][00042][ff][123][-5][A][0x1000][   ab][%]\n"
    );
}

#[test]
fn int_conversions_read_a_c_int_without_length() {
    // Oracle: printf("[%d] ...", -42, 97, 5000000000, (uint64)5000000000, 0)
    let args = [i(-42), i(97), i(5_000_000_000), Scalar::UInt(5_000_000_000), i(0)];
    let row = |spec: &str| fmt(&vec![format!("[{spec}]"); 5].join(" "), &args);
    assert_eq!(row("%d"), "[-42] [97] [705032704] [705032704] [0]");
    assert_eq!(row("%u"), "[4294967254] [97] [705032704] [705032704] [0]");
    assert_eq!(row("%x"), "[ffffffd6] [61] [2a05f200] [2a05f200] [0]");
    assert_eq!(row("%X"), "[FFFFFFD6] [61] [2A05F200] [2A05F200] [0]");
    assert_eq!(row("%o"), "[37777777726] [141] [5201371000] [5201371000] [0]");
    assert_eq!(row("%lx"), "[ffffffffffffffd6] [61] [12a05f200] [12a05f200] [0]");
    assert_eq!(row("%lX"), "[FFFFFFFFFFFFFFD6] [61] [12A05F200] [12A05F200] [0]");
    assert_eq!(row("%lo"), "[1777777777777777777726] [141] [45201371000] [45201371000] [0]");
    assert_eq!(row("%ho"), "[177726] [141] [171000] [171000] [0]");
    assert_eq!(row("%hhu"), "[214] [97] [0] [0] [0]");
    assert_eq!(row("%hhx"), "[d6] [61] [0] [0] [0]");
    assert_eq!(row("%.5x"), "[ffffffd6] [00061] [2a05f200] [2a05f200] [00000]");
    assert_eq!(row("%08x"), "[ffffffd6] [00000061] [2a05f200] [2a05f200] [00000000]");
    assert_eq!(row("%-8x|"), "[ffffffd6|] [61      |] [2a05f200|] [2a05f200|] [0       |]");
    assert_eq!(row("%.0d"), "[-42] [97] [705032704] [705032704] []");
    assert_eq!(row("%5.0d"), "[  -42] [   97] [705032704] [705032704] [     ]");
    assert_eq!(row("%10.4d"), "[     -0042] [      0097] [ 705032704] [ 705032704] [      0000]");
    assert_eq!(row("%-010.4d"), "[-0042     ] [0097      ] [705032704 ] [705032704 ] [0000      ]");
}

#[test]
fn length_modifiers() {
    // Oracle, each with -42.
    for (spec, want) in [
        ("%hd", "-42"),
        ("%hhd", "-42"),
        ("%ld", "-42"),
        ("%lld", "-42"),
        ("%zd", "-42"),
        ("%jd", "-42"),
        ("%lu", "18446744073709551574"),
        ("%zu", "18446744073709551574"),
        ("%llx", "ffffffffffffffd6"),
        ("%jx", "ffffffffffffffd6"),
        ("%hu", "65494"),
        ("%hx", "ffd6"),
        ("%-5d", "-42  "),
        ("%05d", "-0042"),
        ("%.3d", "-042"),
        ("%8.3d", "    -042"),
        ("%-08d", "-42     "),
        ("%lp", "0xffffffffffffffd6"),
    ] {
        assert_eq!(fmt(spec, &[i(-42)]), want, "{spec}");
    }
    // Truncation then sign extension: 70000 as short, 300 as char.
    assert_eq!(fmt("%hd %hhd %hhu", &[i(70000), i(300), i(300)]), "4464 44 44");
    assert_eq!(fmt("%hd", &[i(0x8000)]), "-32768");
    assert_eq!(fmt("%ld %lu", &[i(i64::MIN), Scalar::UInt(u64::MAX)]), "-9223372036854775808 18446744073709551615");
    assert_eq!(fmt("%d", &[Scalar::UInt(u64::MAX)]), "-1");
}

#[test]
fn pointers() {
    let args = [i(-42), i(97), i(5_000_000_000), i(0)];
    let row = |spec: &str| fmt(&vec![format!("[{spec}]"); 4].join(" "), &args);
    assert_eq!(row("%p"), "[0xffffffffffffffd6] [0x61] [0x12a05f200] [(nil)]");
    assert_eq!(row("%5p"), "[0xffffffffffffffd6] [ 0x61] [0x12a05f200] [(nil)]");
    assert_eq!(
        row("%-20p|"),
        "[0xffffffffffffffd6  |] [0x61                |] [0x12a05f200         |] [(nil)               |]"
    );
    assert_eq!(
        row("%020p"),
        "[0x00ffffffffffffffd6] [0x000000000000000061] [0x00000000012a05f200] [               (nil)]"
    );
}

#[test]
fn chars() {
    // Oracle: %c of -42 is the byte 0xd6; we print it as U+00D6.
    let args = [i(-42), i(97), i(5_000_000_000)];
    let row = |spec: &str| fmt(&vec![format!("[{spec}]"); 3].join(" "), &args);
    assert_eq!(row("%c"), "[\u{d6}] [a] []");
    assert_eq!(row("%5c"), "[    \u{d6}] [    a] [    ]");
    assert_eq!(row("%-3c"), "[\u{d6}  ] [a  ] []");
    assert_eq!(fmt("[%05c][%c][%5c]", &[i(97), i(256), i(0)]), "[    a][][    ]");
}

#[test]
fn strings() {
    assert_eq!(fmt("[%s][%10s][%-10s|][%.1s]", &[s(""), s("ab"), s("ab"), s("xyz")]), "[][        ab][ab        |][x]");
    assert_eq!(
        fmt("[%05s][%-05s][%.0s][%5.2s][%-5.2s|]", &[s("ab"), s("cd"), s("zz"), s("abcdef"), s("abcdef")]),
        "[   ab][cd   ][][   ab][ab   |]"
    );
    assert_eq!(fmt("[%-16s]", &[s("abcdef")]), "[abcdef          ]");
    assert_eq!(fmt("[%s]", &[s("a\tb")]), "[a\tb]");
    // Bytes, not characters: "é" is two bytes.
    assert_eq!(fmt("[%.2s][%4s][%.1s]", &[s("é"), s("é"), s("é")]), "[é][  é][]");
    // C stops at a NUL.
    assert_eq!(fmt("[%s]", &[s("ab\0cd")]), "[ab]");
}

#[test]
fn c_flags_beyond_bpftrace_017() {
    assert_eq!(fmt("[%+d][% d][%+d][% 5d][%+05d]", &[i(5), i(5), i(-5), i(5), i(5)]), "[+5][ 5][-5][    5][+0005]");
    assert_eq!(
        fmt("[%#x][%#X][%#x][%#o][%#o][%#.3o]", &[i(255), i(255), i(0), i(8), i(0), i(8)]),
        "[0xff][0XFF][0][010][0][010]"
    );
    assert_eq!(fmt("[%#08x][%-#8x|][%+u]", &[i(255), i(255), i(5)]), "[0x0000ff][0xff    |][5]");
    assert_eq!(fmt("[%i][%5i]", &[i(-7), i(3)]), "[-7][    3]");
    assert_eq!(fmt("[%.d][%+.0d][%+.0d]", &[i(0), i(0), i(1)]), "[][+][+1]");
}

#[test]
fn percent_and_literals() {
    assert_eq!(fmt("100%% done\n", &[]), "100% done\n");
    assert_eq!(fmt("%%d", &[]), "%d");
    assert_eq!(fmt("", &[]), "");
    assert_eq!(fmt("héllo %d wörld", &[i(1)]), "héllo 1 wörld");
}

#[test]
fn mismatched_or_missing_arguments_do_not_panic() {
    assert_eq!(fmt("[%d][%s]", &[s("abc"), i(-3)]), "[abc][-3]");
    assert_eq!(fmt("[%5d][%-5s]", &[s("ab"), Scalar::UInt(7)]), "[   ab][7    ]");
    assert_eq!(fmt("[%d][%-5s][%%]", &[]), "[%d][%-5s][%]");
}

#[test]
fn arguments_are_escaped_not_the_format() {
    let on_terminal = |f: &str, args: &[Scalar]| render_with(&parse_format(f).unwrap(), args, Strings::Escaped);
    // The format's tab and newline are the program's own.
    assert_eq!(on_terminal("a\tb %s\n", &[s("x\x1b]52;c;aGk=\x07y")]), "a\tb x\\x1b]52;c;aGk=\\ay\n");
    // Precision cuts the data, then width pads what is shown.
    assert_eq!(on_terminal("[%.3s][%6s][%-6s]", &[s("\n\nabc"), s("\t"), s("\r")]), "[\\n\\na][    \\t][\\r    ]");
    // %c of a control byte, of a Latin-1 C1 byte, of a plain one.
    assert_eq!(on_terminal("[%c][%c][%3c][%c]", &[i(0x1b), i(0x9b), i(7), i(65)]), "[\\x1b][\\u009b][ \\a][A]");
    // Raw is bpftrace's output.
    assert_eq!(fmt("%s|%c", &[s("\x1b[2J"), i(0x1b)]), "\x1b[2J|\x1b");
    // Integers under %s have nothing to escape.
    assert_eq!(on_terminal("%s", &[i(-3)]), "-3");
}
