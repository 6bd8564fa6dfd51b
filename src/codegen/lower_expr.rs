//! Lowering of expressions: arithmetic, builtins, strings, casts.

use super::insn::{AluOp, JmpOp, Size};
use super::ir::*;
use super::lower::{is_signed, Lower, Val, VarHome};
use super::program::{event, round8};
use crate::arch;
use crate::codegen::helpers;
use crate::frontend::ast::*;
use crate::frontend::builtins::{Builtin, Function, Half, Value};
use crate::frontend::printf::DEFAULT_TIME_FORMAT;
use crate::frontend::probes::{Memory, NamedArgs, NumberedArgs, ReturnValue};
use crate::frontend::tracefs::TpField;
use crate::frontend::types::Type;

impl Lower<'_, '_> {
    /// Lower an expression that type checking says is an integer.
    pub fn int(&mut self, e: &Expr) -> VReg {
        match self.expr(e) {
            Val::Int(r) => r,
            Val::Mem { .. } => {
                self.internal("a string where type checking expects an integer");
                self.imm(0)
            }
        }
    }

    pub fn expr(&mut self, e: &Expr) -> Val {
        match &e.kind {
            ExprKind::Int(v) => Val::Int(self.imm(*v)),
            ExprKind::Str(s) => self.str_literal(s),
            ExprKind::Positional(_) | ExprKind::PositionalCount => {
                self.internal("a positional parameter that type checking did not replace")
            }
            ExprKind::Var(name) => match self.vars.get(name).copied() {
                Some(VarHome::Reg(r, _)) => {
                    let c = self.vreg();
                    self.emit(IrInsn::Mov { dst: c, src: r });
                    Val::Int(c)
                }
                Some(VarHome::Mem { off, size }) => {
                    // Laid out as its final type; read as this use's type.
                    let home = self.var_types.get(name).cloned().unwrap_or_default();
                    self.convert(Val::Mem { off, size }, &home, &e.ty)
                }
                None => self.internal(format!("${name} has no home")),
            },
            ExprKind::Ident(name) => self.internal(format!("the name `{name}` was not resolved")),
            ExprKind::Builtin(b) => self.builtin(*b, e),
            ExprKind::Map(m) => self.read_map(m),
            ExprKind::FnCall { func, args, .. } => self.call(*func, args, e),
            ExprKind::Call { name, .. } => self.internal(format!("the call `{name}()` was not resolved")),
            ExprKind::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs, e),
            ExprKind::Unary { op: UnOp::Deref, .. } => self.read_lvalue(e),
            ExprKind::Unary { op, expr } => {
                let r = self.int(expr);
                match op {
                    UnOp::Neg => self.emit(IrInsn::Alu { op: AluOp::Neg, dst: r, src: Operand::Imm(0) }),
                    UnOp::BitNot => self.emit(IrInsn::Alu { op: AluOp::Xor, dst: r, src: Operand::Imm(-1) }),
                    _ => {
                        let out = self.bool_of(r, JmpOp::Jeq);
                        return Val::Int(out);
                    }
                }
                Val::Int(r)
            }
            ExprKind::Ternary { cond, then, els } => self.ternary(cond, then, els, &e.ty),
            ExprKind::Field { base, field, .. } if matches!(base.ty, Type::Args) => {
                match self.spec.context().named_args {
                    Some(NamedArgs::Tracepoint(tp)) => {
                        match tp.format.fields.iter().find(|f| f.name == *field).cloned() {
                            Some(f) => self.tp_field(&f, &e.ty),
                            None => self.internal(format!("tracepoint field `{field}` is not in the format")),
                        }
                    }
                    Some(NamedArgs::Parameters { .. }) => self.uprobe_arg(field, e),
                    None => self.internal("`args` in a probe without arguments"),
                }
            }
            ExprKind::Field { base, .. } | ExprKind::Index { base, .. } if self.in_scratch(base) => self.value_part(e),
            ExprKind::Index { base, index } if base.ty.is_str() => match base.ty {
                Type::Str { size } => self.dynamic_element(base, index, &Type::Int { size: 1, signed: true }, size),
                _ => self.internal("a string index"),
            },
            ExprKind::Field { .. } | ExprKind::Index { .. } => self.read_lvalue(e),
            ExprKind::Tuple { elems, .. } => self.tuple(elems, &e.ty),
            ExprKind::Cast { expr, .. } => {
                let r = self.int(expr);
                self.extend(r, &e.ty);
                Val::Int(r)
            }
            ExprKind::IncDec { target, inc, prefix } => self.incdec(target, *inc, *prefix),
            // Replaced by constants in type checking.
            ExprKind::Sizeof(_) | ExprKind::Offsetof { .. } => {
                self.internal("sizeof/offsetof left for code generation")
            }
        }
    }

    /// Sign- or zero-extend the low `size` bytes of `r` to 64 bits.
    pub fn extend(&mut self, r: VReg, ty: &Type) {
        if let Type::Int { size, signed } = ty {
            if *size < 8 {
                let sh = 64 - 8 * *size as i32;
                self.emit(IrInsn::Alu { op: AluOp::Lsh, dst: r, src: Operand::Imm(sh) });
                let op = if *signed { AluOp::Arsh } else { AluOp::Rsh };
                self.emit(IrInsn::Alu { op, dst: r, src: Operand::Imm(sh) });
            }
        }
    }

    /// `1` if `r op 0` holds, else `0`.
    fn bool_of(&mut self, r: VReg, op: JmpOp) -> VReg {
        let out = self.imm(1);
        let done = self.label();
        self.emit(IrInsn::Branch { op, a: r, b: Operand::Imm(0), target: done });
        self.emit(IrInsn::LoadImm { dst: out, imm: 0 });
        self.emit(IrInsn::Label(done));
        out
    }

    pub fn str_literal(&mut self, s: &str) -> Val {
        let size = round8(s.len() as u32 + 1);
        let off = self.alloc(size);
        let mut bytes = s.as_bytes().to_vec();
        bytes.resize(size as usize, 0);
        for (i, chunk) in bytes.chunks(8).enumerate() {
            let v = i64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
            let src = match i32::try_from(v) {
                Ok(small) => Operand::Imm(small),
                Err(_) => Operand::Reg(self.imm(v)),
            };
            self.store_scratch(off + 8 * i as u32, src);
        }
        Val::Mem { off, size }
    }

    /// A builtin variable, computed as its row of the builtins table says.
    fn builtin(&mut self, b: Builtin, e: &Expr) -> Val {
        let call = |l: &mut Self, helper: i32| {
            let r = l.vreg();
            l.emit(IrInsn::Call { helper: helper as u32, args: vec![], ret: Some(r) });
            r
        };
        let half = |l: &mut Self, helper: i32, half: Half| {
            let r = call(l, helper);
            match half {
                Half::Upper => l.emit(IrInsn::Alu { op: AluOp::Rsh, dst: r, src: Operand::Imm(32) }),
                Half::Lower => l.extend(r, &Type::U32),
            }
            Val::Int(r)
        };
        match b.var().value {
            Value::PidTgid(h) => half(self, helpers::GET_CURRENT_PID_TGID, h),
            Value::UidGid(h) => half(self, helpers::GET_CURRENT_UID_GID, h),
            Value::Cpu => Val::Int(call(self, helpers::GET_SMP_PROCESSOR_ID)),
            Value::CurrentTask => Val::Int(call(self, helpers::GET_CURRENT_TASK)),
            Value::Nsecs => Val::Int(call(self, helpers::KTIME_GET_NS)),
            Value::Elapsed => {
                let r = call(self, helpers::KTIME_GET_NS);
                let start = self.imm(self.t.opts.start_ns as i64);
                self.emit(IrInsn::Alu { op: AluOp::Sub, dst: r, src: Operand::Reg(start) });
                Val::Int(r)
            }
            Value::Comm => {
                let off = self.alloc(16);
                self.zero(off, 16);
                let dst = self.addr(off);
                let n = self.imm(16);
                self.emit(IrInsn::Call { helper: helpers::GET_CURRENT_COMM as u32, args: vec![dst, n], ret: None });
                Val::Mem { off, size: 16 }
            }
            Value::Arg => {
                let Builtin::Arg(i) = b else { return self.internal(format!("`{}` read as an argument", b.name())) };
                match self.spec.context().numbered_args {
                    Some(NumberedArgs::Usdt(site)) => match site.args.get(i as usize).cloned() {
                        Some(arg) => {
                            let vaddr = site.vaddr;
                            self.usdt_arg(&arg, vaddr)
                        }
                        None => self.internal(format!("`arg{i}` is beyond the probe's arguments")),
                    },
                    Some(NumberedArgs::Slots { count }) if i < count => Val::Int(self.ctx_load(Size::DW, i as i16 * 8)),
                    Some(NumberedArgs::Registers { count }) if i < count => match arch::int_arg_offset(i as usize) {
                        Some(off) => Val::Int(self.ctx_load(Size::DW, off as i16)),
                        None => self.internal(format!("no register for `arg{i}`")),
                    },
                    _ => self.internal(format!("`arg{i}` in a probe without it")),
                }
            }
            Value::Retval => {
                // Typed by the function's return type: an `int` -1 is
                // 0xffffffff in rax and must read as -1.
                let off = match self.spec.context().retval {
                    Some(ReturnValue::Slot(n)) => n as i16 * 8,
                    _ => arch::RETURN_OFFSET as i16,
                };
                let r = self.ctx_load(Size::DW, off);
                self.extend(r, &e.ty);
                Val::Int(r)
            }
            Value::Stack => match e.ty {
                Type::Stack(st) => self.stack(st),
                _ => self.internal(format!("`{}` is not typed as a stack", b.name())),
            },
            Value::Literal => self.internal(format!("`{}` was not replaced by its value", b.name())),
            Value::Record => self.internal(format!("`{}` read as a value", b.name())),
        }
    }

    fn ctx_load(&mut self, size: Size, off: i16) -> VReg {
        let r = self.vreg();
        self.emit(IrInsn::Load { size, dst: r, base: self.ctx, off });
        r
    }

    /// A field of a tracepoint's record, of type `ty` (as type checking
    /// decided it from the field).
    fn tp_field(&mut self, f: &TpField, ty: &Type) -> Val {
        if f.data_loc {
            // __data_loc: a u32 whose low half is the string's offset from
            // the start of the record.
            let size = round8(ty.storage_size());
            let off = self.alloc(size);
            self.zero(off, size);
            let loc = self.ctx_load(Size::W, f.offset as i16);
            self.emit(IrInsn::Alu { op: AluOp::Lsh, dst: loc, src: Operand::Imm(48) });
            self.emit(IrInsn::Alu { op: AluOp::Rsh, dst: loc, src: Operand::Imm(48) });
            let src = self.vreg();
            self.emit(IrInsn::Mov { dst: src, src: self.ctx });
            self.emit(IrInsn::Alu { op: AluOp::Add, dst: src, src: Operand::Reg(loc) });
            let dst = self.addr(off);
            let n = self.imm(size as i64);
            let h = helpers::PROBE_READ_KERNEL_STR as u32;
            self.emit(IrInsn::Call { helper: h, args: vec![dst, n, src], ret: None });
            return Val::Mem { off, size };
        }
        if let Type::Array { elem, len } = ty {
            return self.tp_array(f.offset, elem, *len);
        }
        if let Type::Str { size } = *ty {
            // char name[N]: copied byte by byte, since context reads must be
            // aligned to their size.
            let slot = round8(size);
            let off = self.alloc(slot);
            self.zero(off, slot);
            for i in 0..size {
                let b = self.ctx_load(Size::B, (f.offset + i) as i16);
                self.emit(IrInsn::Store {
                    size: Size::B,
                    base: self.scratch,
                    off: (off + i) as i16,
                    src: Operand::Reg(b),
                });
            }
            return Val::Mem { off, size: slot };
        }
        let size = match f.size {
            1 => Size::B,
            2 => Size::H,
            4 => Size::W,
            _ => Size::DW,
        };
        let r = self.ctx_load(size, f.offset as i16);
        self.extend(r, ty);
        Val::Int(r)
    }

    fn binary(&mut self, op: BinOp, lhs: &Expr, rhs: &Expr, e: &Expr) -> Val {
        if lhs.ty.is_str() && rhs.ty.is_str() {
            return Val::Int(self.str_eq(lhs, rhs, op == BinOp::Eq));
        }
        if lhs.ty.is_aggregate() {
            return Val::Int(self.aggregate_eq(lhs, rhs, op == BinOp::Eq));
        }
        let is_condition = matches!(op, BinOp::LogAnd | BinOp::LogOr)
            || (op.is_comparison() && lhs.ty.is_scalar() && rhs.ty.is_scalar());
        match op {
            // `cond_false` handles exactly these shapes itself, so this
            // cannot recurse back here.
            _ if is_condition => {
                // Materialise a condition as 0/1.
                let out = self.imm(0);
                let f = self.label();
                self.cond_false(e, f);
                self.emit(IrInsn::LoadImm { dst: out, imm: 1 });
                self.emit(IrInsn::Label(f));
                Val::Int(out)
            }
            _ => {
                let a = self.int(lhs);
                let b = self.int(rhs);
                self.binop_into(op, a, b, e.ty.clone());
                Val::Int(a)
            }
        }
    }

    /// `a = a op b` for arithmetic and bitwise operators.
    pub fn binop_into(&mut self, op: BinOp, a: VReg, b: VReg, ty: Type) {
        let alu = match op {
            BinOp::Add => AluOp::Add,
            BinOp::Sub => AluOp::Sub,
            BinOp::Mul => AluOp::Mul,
            BinOp::Div | BinOp::Mod if is_signed(&ty) => {
                self.signed_div_mod(op == BinOp::Div, a, b);
                return;
            }
            BinOp::Div => AluOp::Div,
            BinOp::Mod => AluOp::Mod,
            BinOp::BitAnd => AluOp::And,
            BinOp::BitOr => AluOp::Or,
            BinOp::BitXor => AluOp::Xor,
            BinOp::Shl => AluOp::Lsh,
            BinOp::Shr if is_signed(&ty) => AluOp::Arsh,
            BinOp::Shr => AluOp::Rsh,
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge | BinOp::LogAnd | BinOp::LogOr => {
                self.internal(format!("`{}` lowered as arithmetic", op.symbol()));
                return;
            }
        };
        self.emit(IrInsn::Alu { op: alu, dst: a, src: Operand::Reg(b) });
    }

    /// `a = a / b` (`div`) or `a = a % b`, signed, C's way (the quotient
    /// truncates toward zero, the remainder has the dividend's sign), from
    /// unsigned division of the magnitudes: the signed forms of BPF_DIV and
    /// BPF_MOD are cpu v4 (kernel 6.6), and trace runs on older kernels.
    /// Division by zero gives 0 and the dividend, as in BPF.
    fn signed_div_mod(&mut self, div: bool, a: VReg, b: VReg) {
        let negate = self.imm(0);
        let divisor = self.vreg();
        self.emit(IrInsn::Mov { dst: divisor, src: b });
        let a_done = self.label();
        self.emit(IrInsn::Branch { op: JmpOp::Jsge, a, b: Operand::Imm(0), target: a_done });
        self.emit(IrInsn::Alu { op: AluOp::Neg, dst: a, src: Operand::Imm(0) });
        self.emit(IrInsn::LoadImm { dst: negate, imm: 1 });
        self.emit(IrInsn::Label(a_done));
        let b_done = self.label();
        self.emit(IrInsn::Branch { op: JmpOp::Jsge, a: divisor, b: Operand::Imm(0), target: b_done });
        self.emit(IrInsn::Alu { op: AluOp::Neg, dst: divisor, src: Operand::Imm(0) });
        if div {
            self.emit(IrInsn::Alu { op: AluOp::Xor, dst: negate, src: Operand::Imm(1) });
        }
        self.emit(IrInsn::Label(b_done));
        let op = if div { AluOp::Div } else { AluOp::Mod };
        self.emit(IrInsn::Alu { op, dst: a, src: Operand::Reg(divisor) });
        let done = self.label();
        self.emit(IrInsn::Branch { op: JmpOp::Jeq, a: negate, b: Operand::Imm(0), target: done });
        self.emit(IrInsn::Alu { op: AluOp::Neg, dst: a, src: Operand::Imm(0) });
        self.emit(IrInsn::Label(done));
    }

    /// String (in)equality as 0/1; compares up to the first NUL.
    fn str_eq(&mut self, lhs: &Expr, rhs: &Expr, want_equal: bool) -> VReg {
        let out = self.imm(if want_equal { 0 } else { 1 });
        let differ = self.label();
        // A literal side is compared against its bytes directly.
        let (lit, other) = match (&lhs.kind, &rhs.kind) {
            (_, ExprKind::Str(s)) => (Some(s.clone()), lhs),
            (ExprKind::Str(s), _) => (Some(s.clone()), rhs),
            _ => (None, lhs),
        };
        if let Some(lit) = lit {
            let Val::Mem { off, size } = self.expr(other) else {
                self.internal("a string comparison of something not a string");
                return out;
            };
            let mut bytes = lit.into_bytes();
            bytes.push(0);
            for (i, b) in bytes.iter().enumerate().take(size as usize) {
                let c = self.vreg();
                self.emit(IrInsn::Load { size: Size::B, dst: c, base: self.scratch, off: (off + i as u32) as i16 });
                self.emit(IrInsn::Branch { op: JmpOp::Jne, a: c, b: Operand::Imm(*b as i32), target: differ });
            }
            if bytes.len() > size as usize {
                // The literal is longer than the other buffer can hold.
                self.emit(IrInsn::Jump(differ));
            }
        } else {
            let (Val::Mem { off: a, size: sa }, Val::Mem { off: b, size: sb }) = (self.expr(lhs), self.expr(rhs))
            else {
                self.internal("a string comparison of something not a string");
                return out;
            };
            let equal = self.label();
            for i in 0..sa.min(sb) {
                let ca = self.vreg();
                let cb = self.vreg();
                self.emit(IrInsn::Load { size: Size::B, dst: ca, base: self.scratch, off: (a + i) as i16 });
                self.emit(IrInsn::Load { size: Size::B, dst: cb, base: self.scratch, off: (b + i) as i16 });
                self.emit(IrInsn::Branch { op: JmpOp::Jne, a: ca, b: Operand::Reg(cb), target: differ });
                self.emit(IrInsn::Branch { op: JmpOp::Jeq, a: ca, b: Operand::Imm(0), target: equal });
            }
            self.emit(IrInsn::Label(equal));
        }
        self.emit(IrInsn::LoadImm { dst: out, imm: if want_equal { 1 } else { 0 } });
        self.emit(IrInsn::Label(differ));
        out
    }

    fn ternary(&mut self, cond: &Expr, then: &Expr, els: &Expr, ty: &Type) -> Val {
        let else_label = self.label();
        let end = self.label();
        match ty {
            Type::Str { .. } | Type::Tuple(_) | Type::Record(_) | Type::Array { .. } => {
                let size = ty.slot_size();
                let off = self.alloc(size);
                self.cond_false(cond, else_label);
                let v = self.expr(then);
                let v = self.convert(v, &then.ty, ty);
                self.store_val(off, size, v);
                self.emit(IrInsn::Jump(end));
                self.emit(IrInsn::Label(else_label));
                let v = self.expr(els);
                let v = self.convert(v, &els.ty, ty);
                self.store_val(off, size, v);
                self.emit(IrInsn::Label(end));
                Val::Mem { off, size }
            }
            _ => {
                let out = self.vreg();
                self.cond_false(cond, else_label);
                let v = self.int(then);
                self.emit(IrInsn::Mov { dst: out, src: v });
                self.emit(IrInsn::Jump(end));
                self.emit(IrInsn::Label(else_label));
                let v = self.int(els);
                self.emit(IrInsn::Mov { dst: out, src: v });
                self.emit(IrInsn::Label(end));
                Val::Int(out)
            }
        }
    }

    fn incdec(&mut self, target: &Expr, inc: bool, prefix: bool) -> Val {
        let step = target.ty.pointer_step() as i32;
        let delta = if inc { step } else { -step };
        match &target.kind {
            ExprKind::Var(name) => {
                let Some(VarHome::Reg(r, _)) = self.vars.get(name).copied() else {
                    return self.internal(format!("${name} is not an integer variable"));
                };
                let old = self.vreg();
                self.emit(IrInsn::Mov { dst: old, src: r });
                self.emit(IrInsn::Alu { op: AluOp::Add, dst: r, src: Operand::Imm(delta) });
                if prefix {
                    let new = self.vreg();
                    self.emit(IrInsn::Mov { dst: new, src: r });
                    return Val::Int(new);
                }
                Val::Int(old)
            }
            ExprKind::Map(m) => {
                let d = self.imm(delta as i64);
                let new = self.map_add(m, d);
                if !prefix {
                    self.emit(IrInsn::Alu { op: AluOp::Sub, dst: new, src: Operand::Imm(delta) });
                }
                Val::Int(new)
            }
            _ => self.internal("++/-- on something not a variable or a map"),
        }
    }

    /// A call to a builtin function, as type checking resolved it.
    fn call(&mut self, f: Function, args: &[Expr], e: &Expr) -> Val {
        let map_arg = args.first().and_then(|a| match &a.kind {
            ExprKind::Map(m) => Some(m),
            _ => None,
        });
        match f {
            Function::Str => match args.first() {
                Some(a) if a.ty.is_str() => self.expr(a),
                Some(ptr) => self.read_str(ptr, args.get(1), &e.ty),
                None => self.internal("str() without an argument"),
            },
            Function::Printf => {
                self.printf(args);
                self.void()
            }
            Function::Print => match (args.first(), map_arg) {
                (Some(a), Some(m)) if a.ty == Type::MapHandle => {
                    let lit = |a: Option<&Expr>, d: i64| match a.map(|a| &a.kind) {
                        Some(ExprKind::Int(v)) => *v,
                        _ => d,
                    };
                    let (top, div) = (lit(args.get(1), 0), lit(args.get(2), 1));
                    self.map_event(event::PRINT_MAP, m, &[top, div]);
                    self.void()
                }
                (Some(a), _) => {
                    self.print_value(a);
                    self.void()
                }
                (None, _) => self.internal("print() without an argument"),
            },
            Function::Exit => {
                let code = match args.first().map(|a| &a.kind) {
                    Some(ExprKind::Int(v)) => *v & 0xff,
                    _ => 0,
                };
                self.simple_event(event::EXIT, &[code]);
                self.set_stop_flag(code);
                self.emit(IrInsn::Exit);
                self.void()
            }
            Function::Time => {
                let fmt = match args.first().map(|a| &a.kind) {
                    Some(ExprKind::Str(s)) => s.clone(),
                    _ => DEFAULT_TIME_FORMAT.to_string(),
                };
                self.t.compiled.times.push(fmt);
                let id = self.t.compiled.times.len() as i64 - 1;
                self.simple_event(event::TIME, &[id]);
                self.void()
            }
            Function::Delete | Function::Clear | Function::Zero => {
                let Some(m) = map_arg else { return self.internal(format!("{}() of something not a map", f.name())) };
                match f {
                    Function::Delete => self.delete(m),
                    Function::Clear => self.map_event(event::CLEAR, m, &[]),
                    _ => self.map_event(event::ZERO, m, &[]),
                }
                self.void()
            }
            Function::Ustack | Function::Kstack => match e.ty {
                Type::Stack(st) => self.stack(st),
                _ => self.internal(format!("{}() is not typed as a stack", f.name())),
            },
            Function::Usym | Function::Ksym => match args.first() {
                Some(a) => self.symbol(f == Function::Usym, a),
                None => self.internal(format!("{}() without an argument", f.name())),
            },
            Function::Reg => match args.first() {
                Some(a) => self.register(a),
                None => self.internal("reg() without an argument"),
            },
            Function::Uaddr | Function::Kaddr => {
                self.internal(format!("{}() was not replaced by the address", f.name()))
            }
            Function::Count
            | Function::Sum
            | Function::Avg
            | Function::Min
            | Function::Max
            | Function::Stats
            | Function::Hist
            | Function::Lhist => self.internal(format!("{}() outside a map assignment", f.name())),
        }
    }

    /// `str(ptr[, n])`: a NUL-terminated string read from the probe's
    /// memory into a buffer of the size type checking gave it.
    fn read_str(&mut self, ptr: &Expr, n: Option<&Expr>, ty: &Type) -> Val {
        let size = round8(ty.storage_size());
        let memory = self.pointee_memory(&ptr.ty);
        let ptr = self.int(ptr);
        let len = match n {
            Some(n) if !matches!(n.kind, ExprKind::Int(_)) => {
                // Runtime length: n + 1 for the NUL, capped at the
                // buffer so the verifier sees a bounded size.
                let len = self.int(n);
                self.emit(IrInsn::Alu { op: AluOp::Add, dst: len, src: Operand::Imm(1) });
                let ok = self.label();
                self.emit(IrInsn::Branch { op: JmpOp::Jle, a: len, b: Operand::Imm(size as i32), target: ok });
                self.emit(IrInsn::LoadImm { dst: len, imm: size as i64 });
                self.emit(IrInsn::Label(ok));
                len
            }
            _ => self.imm(ty.storage_size() as i64),
        };
        let off = self.alloc(size);
        self.zero(off, size);
        let dst = self.addr(off);
        let h = read_helpers(memory).1;
        self.emit(IrInsn::Call { helper: h as u32, args: vec![dst, len, ptr], ret: None });
        Val::Mem { off, size }
    }
}

/// The helpers that read memory in `memory`, `(bytes, string)`.
pub(super) fn read_helpers(memory: Memory) -> (i32, i32) {
    match memory {
        Memory::User => (helpers::PROBE_READ_USER, helpers::PROBE_READ_USER_STR),
        Memory::Kernel => (helpers::PROBE_READ_KERNEL, helpers::PROBE_READ_KERNEL_STR),
        // The kernel's compatibility helpers read user memory below the
        // user address limit and kernel memory above it.
        Memory::ByAddress => (helpers::PROBE_READ, helpers::PROBE_READ_STR),
    }
}
