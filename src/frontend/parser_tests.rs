//! Tests of the parser: tree shapes, precedence, error spans and recovery.

use super::*;

/// A compact rendering of the tree: `(op lhs rhs)` for operators, so a
/// test states the shape (and precedence) in one line.
fn sx(e: &Expr) -> String {
    use ExprKind::*;
    match &e.kind {
        Int(v) => v.to_string(),
        Str(s) => format!("{s:?}"),
        Ident(n) => n.clone(),
        Builtin(b) => b.name(),
        Positional(n) => format!("${n}"),
        PositionalCount => "$#".into(),
        Var(n) => format!("${n}"),
        Map(m) => map_sx(m),
        Call { name, args, .. } => format!("{name}({})", list(args)),
        FnCall { func, args, .. } => format!("{}({})", func.name(), list(args)),
        Binary { op, lhs, rhs } => format!("({} {} {})", op.symbol(), sx(lhs), sx(rhs)),
        Unary { op, expr } => {
            let sym = op.symbol();
            format!("({sym} {})", sx(expr))
        }
        Ternary { cond, then, els } => format!("(? {} {} {})", sx(cond), sx(then), sx(els)),
        Field { base, field, arrow, .. } => format!("{}{}{field}", sx(base), if *arrow { "->" } else { "." }),
        Index { base, index } => format!("(at {} {})", sx(base), sx(index)),
        Cast { ty, expr } => format!("(cast {} {})", ty_sx(ty), sx(expr)),
        IncDec { target, inc, prefix } => {
            let op = if *inc { "++" } else { "--" };
            if *prefix {
                format!("({op} {})", sx(target))
            } else {
                format!("({} {op})", sx(target))
            }
        }
        Sizeof(SizeofArg::Type(t)) => format!("sizeof(type {})", ty_sx(t)),
        Sizeof(SizeofArg::Expr(e)) => format!("sizeof({})", sx(e)),
        Offsetof { ty, members } => format!("offsetof({}, {})", ty_sx(ty), members.join(".")),
        Tuple { elems, names } if names.is_empty() => format!("(tuple {})", list(elems)),
        Tuple { elems, names } => {
            let fields: Vec<String> = names.iter().zip(elems).map(|(n, e)| format!("{n}={}", sx(e))).collect();
            format!("(record {})", fields.join(", "))
        }
    }
}

fn list(es: &[Expr]) -> String {
    es.iter().map(sx).collect::<Vec<_>>().join(", ")
}

fn map_sx(m: &MapRef) -> String {
    if m.keys.is_empty() {
        m.display_name()
    } else {
        format!("{}[{}]", m.display_name(), list(&m.keys))
    }
}

fn ty_sx(t: &TypeName) -> String {
    let tag = t.tag.as_ref().map(|t| format!("{t} ")).unwrap_or_default();
    format!("{tag}{}{}", t.name, "*".repeat(t.pointers as usize))
}

fn stmt_sx(s: &Stmt) -> String {
    let op = |op: &Option<BinOp>| op.map(|o| o.symbol()).unwrap_or("");
    match &s.kind {
        StmtKind::Expr(e) => sx(e),
        StmtKind::AssignMap { map, op: o, value } => format!("{} {}= {}", map_sx(map), op(o), sx(value)),
        StmtKind::AssignVar { name, op: o, value, .. } => format!("${name} {}= {}", op(o), sx(value)),
        StmtKind::If { cond, then, els } => match els {
            Some(els) => format!("if {} {} else {}", sx(cond), block_sx(then), block_sx(els)),
            None => format!("if {} {}", sx(cond), block_sx(then)),
        },
        StmtKind::Loop(Loop::While { cond, body }) => format!("while {} {}", sx(cond), block_sx(body)),
        StmtKind::Loop(Loop::Unroll { count, body }) => format!("unroll {} {}", sx(count), block_sx(body)),
        StmtKind::Loop(Loop::For { var, iter: ForIter::Range { start, end }, body, .. }) => {
            format!("for ${var} : {}..{} {}", sx(start), sx(end), block_sx(body))
        }
        StmtKind::Loop(Loop::For { var, iter: ForIter::Map(m), body, .. }) => {
            format!("for ${var} : {} {}", map_sx(m), block_sx(body))
        }
        StmtKind::Jump(j) => format!("{j:?}"),
    }
}

fn block_sx(b: &Block) -> String {
    format!("{{ {} }}", b.stmts.iter().map(stmt_sx).collect::<Vec<_>>().join("; "))
}

fn expr(src: &str) -> String {
    match parse_expr(src, 0) {
        Ok(e) => sx(&e),
        Err(d) => panic!("{src}: {d:?}"),
    }
}

fn stmts(src: &str) -> String {
    match parse_stmts(src, 0) {
        Ok(s) => s.iter().map(stmt_sx).collect::<Vec<_>>().join("; "),
        Err(d) => panic!("{src}: {d:?}"),
    }
}

fn program(src: &str) -> Program {
    parse_program(src, 0).unwrap_or_else(|d| panic!("{src}: {d:?}"))
}

/// Each probe as `attach,attach /pred/ { body }`.
fn probes(src: &str) -> Vec<String> {
    program(src)
        .probes
        .iter()
        .map(|p| {
            let attach: Vec<&str> = p.attach.iter().map(|a| a.text.as_str()).collect();
            let pred = p.pred.as_ref().map(|e| format!(" /{}/", sx(e))).unwrap_or_default();
            format!("{}{pred} {}", attach.join(","), block_sx(&p.body))
        })
        .collect()
}

/// The first diagnostic's message, primary label and byte range.
fn error(parse: Result<(), Vec<Diagnostic>>) -> (String, String, std::ops::Range<usize>) {
    let diags = parse.expect_err("expected a syntax error");
    let d = &diags[0];
    let (span, label) = d.primary.clone().expect("error without a span");
    (d.message.clone(), label, span.range())
}

fn program_error(src: &str) -> (String, String, std::ops::Range<usize>) {
    error(parse_program(src, 0).map(|_| ()))
}

#[test]
fn tuples_records_and_their_elements() {
    assert_eq!(expr("(1, \"a\", (2, 3))"), "(tuple 1, \"a\", (tuple 2, 3))");
    assert_eq!(expr("(1)"), "1");
    assert_eq!(expr("(a = 1, b = $x)"), "(record a=1, b=$x)");
    assert_eq!(expr("$t.0.1 + $r.a"), "(+ $t.0.1 $r.a)");
    assert_eq!(stmts("@m[(1, 2), 3] = (4, 5)"), "@m[(tuple 1, 2), 3] = (tuple 4, 5)");
}

#[test]
fn precedence_and_associativity() {
    assert_eq!(expr("1 + 2 * 3"), "(+ 1 (* 2 3))");
    assert_eq!(expr("(1 + 2) * 3"), "(* (+ 1 2) 3)");
    assert_eq!(expr("a || b && c"), "(|| a (&& b c))");
    assert_eq!(expr("-x * y"), "(* (- x) y)");
    assert_eq!(expr("a - b - c"), "(- (- a b) c)");
    assert_eq!(expr("a | b ^ c & d == e < f << g + h"), "(| a (^ b (& c (== d (< e (<< f (+ g h)))))))");
    assert_eq!(expr("a % b / c != d >= e >> f"), "(!= (/ (% a b) c) (>= d (>> e f)))");
    assert_eq!(expr("!~*&x"), "(! (~ (* (& x))))");
    assert_eq!(expr("a ? b : c ? d : e"), "(? a b (? c d e))");
    assert_eq!(expr("x > 1 ? y + 1 : z"), "(? (> x 1) (+ y 1) z)");
    assert_eq!(expr("-1"), "-1");
    assert_eq!(expr("-9223372036854775808"), "-9223372036854775808");
    assert_eq!(expr("*p->a"), "(* p->a)");
}

#[test]
fn atoms() {
    assert_eq!(expr("0x10 + 010 + 1_000"), "(+ (+ 16 8) 1000)");
    assert_eq!(expr("18446744073709551615"), "-1");
    assert_eq!(expr(r#""a\tb\x41\101\0""#), r#""a\tbAA\0""#);
    assert_eq!(expr("$1 + $# + $x + @ + @m + pid + arg0"), "(+ (+ (+ (+ (+ (+ $1 $#) $x) @) @m) pid) arg0)");
    assert_eq!(expr("@m[1, comm]"), "@m[1, comm]");
    assert_eq!(expr("@[tid]"), "@[tid]");
    assert_eq!(expr("@m[1][2]"), "(at @m[1] 2)");
    assert_eq!(expr("(@m)[2]"), "(at @m 2)");
}

#[test]
fn postfix_fields_calls() {
    assert_eq!(expr("args.x"), "args.x");
    assert_eq!(expr("args->x"), "args->x");
    assert_eq!(expr("args.shard->version.epoch"), "args.shard->version.epoch");
    assert_eq!(expr("a[1].b->c[2]"), "(at (at a 1).b->c 2)");
    assert_eq!(expr("printf(\"%d\\n\", pid)"), r#"printf("%d\n", pid)"#);
    assert_eq!(expr("exit()"), "exit()");
    assert_eq!(expr("str(args.filename, 16)"), "str(args.filename, 16)");
    assert_eq!(expr("@x++ + --$y"), "(+ (@x ++) (-- $y))");
    assert_eq!(expr("-a.b"), "(- a.b)");
}

#[test]
fn casts_versus_parentheses() {
    assert_eq!(expr("(uint32)x"), "(cast uint32 x)");
    assert_eq!(expr("(int8)x + 1"), "(+ (cast int8 x) 1)");
    assert_eq!(expr("(struct foo *)arg0"), "(cast struct foo* arg0)");
    assert_eq!(expr("(union u *)x"), "(cast union u* x)");
    assert_eq!(expr("(enum e)x"), "(cast enum e x)");
    assert_eq!(expr("(db_shard_t *)arg0"), "(cast db_shard_t* arg0)");
    assert_eq!(expr("(uint8 **)p"), "(cast uint8** p)");
    assert_eq!(expr("(unsigned long)x"), "(cast unsigned long x)");
    assert_eq!(expr("((struct s *)arg0)->f"), "(cast struct s* arg0)->f");
    assert_eq!(expr("(int32)-x"), "(cast int32 (- x))");
    assert_eq!(expr("(pid)"), "pid");
    assert_eq!(expr("(x + 1)"), "(+ x 1)");
    assert_eq!(expr("(a * b)"), "(* a b)");
    assert_eq!(expr("(a) * b"), "(* a b)");
}

#[test]
fn sizeof_and_offsetof() {
    assert_eq!(expr("sizeof(uint32)"), "sizeof(type uint32)");
    assert_eq!(expr("sizeof(struct s)"), "sizeof(type struct s)");
    assert_eq!(expr("sizeof(t *)"), "sizeof(type t*)");
    assert_eq!(expr("sizeof(x + 1)"), "sizeof((+ x 1))");
    assert_eq!(expr("offsetof(struct db, a.b)"), "offsetof(struct db, a.b)");
    assert_eq!(expr("offsetof(db_t, c)"), "offsetof(db_t, c)");
}

#[test]
fn statements() {
    assert_eq!(stmts("@m = 1; @m[k1, k2] = 2; $x = 3"), "@m = 1; @m[k1, k2] = 2; $x = 3");
    assert_eq!(
        stmts("@a += 1; @b -= 1; @c *= 1; @d /= 1; @e %= 1; $f &= 1; $g |= 1; $h ^= 1; $i <<= 1; $j >>= 1;"),
        "@a += 1; @b -= 1; @c *= 1; @d /= 1; @e %= 1; $f &= 1; $g |= 1; $h ^= 1; $i <<= 1; $j >>= 1"
    );
    assert_eq!(stmts(";; @x++; ; --$y;"), "(@x ++); (-- $y)");
    assert_eq!(stmts("delete(@m[k]); print(@m, 10)"), "delete(@m[k]); print(@m, 10)");
    assert_eq!(stmts(""), "");
    assert_eq!(
        stmts("if (a) { x() } else if (b) { y(); } else { z(); } w()"),
        "if a { x() } else { if b { y() } else { z() } }; w()"
    );
    assert_eq!(stmts("if (a) { } @x = 1"), "if a {  }; @x = 1");
}

#[test]
fn example_programs() {
    assert_eq!(
        probes("uprobe:./db:snapshot { @calls = count(); @h = hist(arg1); }"),
        ["uprobe:./db:snapshot { @calls = count(); @h = hist(arg1) }"]
    );
    assert_eq!(
        probes(r#"t:syscalls:sys_enter_openat /comm == "db"/ { @[str(args.filename)] = count(); }"#),
        [r#"t:syscalls:sys_enter_openat /(== comm "db")/ { @[str(args.filename)] = count() }"#]
    );
    assert_eq!(
        probes("BEGIN { @=hist(-1); @=hist(2); @=hist(3); @=hist(7); @=hist(20); exit(); }"),
        ["BEGIN { @ = hist(-1); @ = hist(2); @ = hist(3); @ = hist(7); @ = hist(20); exit() }"]
    );
    assert_eq!(
        probes(
            r#"interval:s:1 { printf("%-16s %05d\n", comm, pid); if (@x > 3) { exit(); } else if ($1 == 2) { @y[tid, "a"]++; } }"#
        ),
        [
            r#"interval:s:1 { printf("%-16s %05d\n", comm, pid); if (> @x 3) { exit() } else { if (== $1 2) { (@y[tid, "a"] ++) } } }"#
        ]
    );
    assert_eq!(
        probes(
            "uprobe:./db:db_log_rotate /args.shard->version.epoch > 2/ { @e[args->shard->name] = lhist(args.shard->version.epoch, 0, 100, 10); }"
        ),
        ["uprobe:./db:db_log_rotate /(> args.shard->version.epoch 2)/ { @e[args->shard->name] = lhist(args.shard->version.epoch, 0, 100, 10) }"]
    );
    assert_eq!(
        probes("#!/usr/bin/env trace\nBEGIN, END /1/2/ { } u:libc:malloc{@[comm]=sum(arg0)}\n"),
        ["BEGIN,END /(/ 1 2)/ {  }", "u:libc:malloc { @[comm] = sum(arg0) }"]
    );
}

#[test]
fn spans() {
    let src = "uprobe:./db:f /pid > 10/ { @m[tid] = (uint32)arg0 + 1; }";
    let p = &program(src).probes[0];
    let text = |s: Span| &src[s.range()];
    assert_eq!(text(p.span), src);
    assert_eq!(text(p.attach[0].span), "uprobe:./db:f");
    assert_eq!(text(p.pred.as_ref().map(|e| e.span).unwrap_or_default()), "pid > 10");
    assert_eq!(text(p.body.span), "{ @m[tid] = (uint32)arg0 + 1; }");
    let stmt = &p.body.stmts[0];
    assert_eq!(text(stmt.span), "@m[tid] = (uint32)arg0 + 1");
    let StmtKind::AssignMap { map, value, .. } = &stmt.kind else { panic!("{stmt:?}") };
    assert_eq!(text(map.span), "@m[tid]");
    assert_eq!(text(map.keys[0].span), "tid");
    assert_eq!(text(value.span), "(uint32)arg0 + 1");
    let ExprKind::Binary { lhs, .. } = &value.kind else { panic!() };
    let ExprKind::Cast { ty, .. } = &lhs.kind else { panic!() };
    assert_eq!(text(ty.span), "uint32");

    let src = "printf(\"x\", a->b, $v++)";
    let e = parse_expr(src, 3).unwrap_or_else(|d| panic!("{d:?}"));
    assert_eq!(e.span.file, 3);
    let ExprKind::Call { name_span, args, .. } = &e.kind else { panic!() };
    assert_eq!(&src[name_span.range()], "printf");
    let ExprKind::Field { field_span, .. } = &args[1].kind else { panic!() };
    assert_eq!(&src[field_span.range()], "b");
    assert_eq!(&src[args[2].span.range()], "$v++");

    let s = parse_stmts("  $x = 1", 0).unwrap_or_else(|d| panic!("{d:?}"));
    let StmtKind::AssignVar { name_span, .. } = &s[0].kind else { panic!() };
    assert_eq!(name_span.range(), 2..4);
}

#[test]
fn loops_and_jumps() {
    assert_eq!(
        stmts("while ($i < 3) { $i++; if ($i == 2) { continue } } unroll(2) { break; return }"),
        "while (< $i 3) { ($i ++); if (== $i 2) { Continue } }; unroll 2 { Break; Return }"
    );
    assert_eq!(stmts("for ($i : -1..$n) { }"), "for $i : -1..$n {  }");
    assert_eq!(stmts("for ($kv : @m) { print($kv.0.1) }"), "for $kv : @m { print($kv.0.1) }");
}

#[test]
fn syntax_errors_point_at_the_right_byte() {
    let (msg, label, at) = program_error("BEGIN { @x = 1;");
    assert_eq!(msg, "syntax error: unexpected end of input");
    assert!(label.contains("`}`"), "{label}");
    assert_eq!(at, 15..15);

    let (msg, label, at) = program_error("BEGIN { @x = 1 2; }");
    assert_eq!((msg.as_str(), at), ("syntax error: unexpected `2`", 15..16));
    assert_eq!(label, "expected one of `}`, `;`, operator", "{label}");

    let (msg, label, at) = program_error("BEGIN { @x = ; }");
    assert_eq!((msg.as_str(), label.as_str(), at), ("syntax error: unexpected `;`", "expected expression", 13..14));

    let (msg, _, at) = program_error("BEGIN { printf(\"abc); }");
    assert_eq!((msg.as_str(), at), ("unterminated string", 15..16));

    let (msg, _, at) = program_error("BEGIN { @x = 1 ` 2; }");
    assert_eq!((msg.as_str(), at), ("syntax error: invalid character", 15..16));

    let (msg, label, at) = program_error("BEGIN { @x = 1; } }");
    assert_eq!((msg.as_str(), label.as_str(), at), ("syntax error: unexpected `}`", "expected attach point", 18..19));

    let (msg, label, at) = program_error("BEGIN END { }");
    assert_eq!((msg.as_str(), at), ("syntax error: unexpected `END`", 6..9));
    assert_eq!(label, "expected one of `{`, `,`, `/`");

    let (msg, _, at) = program_error("BEGIN { for ($i : 0..) { } }");
    assert_eq!((msg.as_str(), at), ("syntax error: unexpected `)`", 21..22));

    let (msg, _, at) = program_error("BEGIN { 1 + 2 = 3; }");
    assert_eq!((msg.as_str(), at), ("cannot use `=` here: the target must be a map or a $variable", 8..13));

    let (msg, _, at) = error(parse_expr("a[1, 2]", 0).map(|_| ()));
    assert_eq!((msg.as_str(), at), ("indexing with several keys is only possible on maps", 5..6));

    let (msg, _, at) = error(parse_expr("pid++", 0).map(|_| ()));
    assert_eq!((msg.as_str(), at), ("cannot use `++` here: the target must be a map or a $variable", 0..3));

    let (msg, label, at) = error(parse_expr("", 0).map(|_| ()));
    assert_eq!(
        (msg.as_str(), label.as_str(), at),
        ("syntax error: unexpected end of input", "expected expression", 0..0)
    );

    let (msg, _, at) = error(parse_expr("a b", 0).map(|_| ()));
    assert_eq!((msg.as_str(), at), ("syntax error: unexpected `b`", 2..3));
}

#[test]
fn errors_are_collected() {
    let diags = parse_program("BEGIN { @x = ; @y = 1; $z = = 2; }", 0).expect_err("broken");
    let at: Vec<_> = diags.iter().filter_map(|d| d.primary.as_ref()).map(|(s, _)| s.start).collect();
    assert_eq!(at, [13, 28]);
    let diags = parse_program("BEGIN { ` } END { § }", 0).expect_err("broken");
    assert_eq!(diags.len(), 2);
    // Recovery that closes a body early must not add "expected attach
    // point" errors for the rest of that body.
    let diags = parse_program("BEGIN { if (a b) { x; } @y = 1; } END { @z = }", 0).expect_err("broken");
    let at: Vec<_> = diags.iter().filter_map(|d| d.primary.as_ref()).map(|(s, _)| s.start).collect();
    assert_eq!(at, [14, 45]);
}

/// A small deterministic generator: no dependency, reproducible failures.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Runs every entry point; a failure must explain itself with at least
/// one diagnostic whose span lies inside the source.
fn parse_all(src: &str) {
    let check = |r: Result<(), Vec<Diagnostic>>| {
        if let Err(diags) = r {
            assert!(!diags.is_empty(), "no diagnostics for {src:?}");
            for d in diags {
                let (span, _) = d.primary.expect("diagnostic without a span");
                assert!(span.start <= span.end && span.end as usize <= src.len(), "{span:?} in {src:?}");
            }
        }
    };
    check(parse_program(src, 0).map(|_| ()));
    check(parse_stmts(src, 0).map(|_| ()));
    check(parse_expr(src, 0).map(|_| ()));
}

#[test]
fn never_panics_on_garbage_or_truncation() {
    let valid = [
        "uprobe:./db:snapshot { @calls = count(); @h = hist(arg1); }",
        r#"t:syscalls:sys_enter_openat /comm == "db"/ { @[str(args.filename)] = count(); }"#,
        r#"interval:s:1 { printf("%-16s %05d\n", comm, pid); if (@x > 3) { exit(); } else if ($1 == 2) { @y[tid, "a"]++; } }"#,
        "uprobe:./db:db_log_rotate /args.shard->version.epoch > 2/ { @e[args->shard->name] = lhist(args.shard->version.epoch, 0, 100, 10); }",
        "#!/bin/trace\nBEGIN { $x = (struct s **)arg0; @ = sizeof(uint8) + offsetof(t, a.b); /* c */ } // d",
        "u:libc:malloc { @[\"\\x41\\101é\"] = (db_t *)arg0 ? -1 : ~0x_ff; }",
    ];
    for src in valid {
        for cut in (0..=src.len()).filter(|&i| src.is_char_boundary(i)) {
            parse_all(&src[..cut]);
            parse_all(&src[cut..]);
        }
    }
    // Random bytes biased toward the language's own characters, and
    // random splices of valid programs.
    let alphabet = b"{}()[]/*+-<>=!&|^~?:;,.@$#\"\\ \n\tabcxyz019_";
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..3000 {
        let len = rng.below(60);
        let bytes: Vec<u8> = (0..len)
            .map(|_| if rng.below(8) == 0 { rng.next() as u8 } else { alphabet[rng.below(alphabet.len())] })
            .collect();
        parse_all(&String::from_utf8_lossy(&bytes));
        let a = valid[rng.below(valid.len())].as_bytes();
        let b = valid[rng.below(valid.len())].as_bytes();
        let (i, j) = (rng.below(a.len()), rng.below(b.len()));
        parse_all(&String::from_utf8_lossy(&[&a[..i], &b[j..]].concat()));
    }
    // Deep but legal nesting parses (and drops) fine ...
    assert!(parse_expr(&format!("{}1", "- ~".repeat(300)), 0).is_ok());
    assert!(parse_expr(&format!("{}1{}", "(".repeat(400), ")".repeat(400)), 0).is_ok());
    // ... and pathologically deep input is refused, not a stack overflow.
    parse_all(&"(".repeat(100_000));
    parse_all(&format!("BEGIN {{ @x = {}1; }}", "-".repeat(100_000)));
    parse_all(&format!("BEGIN {}", "{".repeat(100_000)));
}
