//! The script's own C definitions in the checker (see `frontend::cdecl`):
//! its types come before the probed binary's DWARF and the kernel's BTF,
//! its enumerators and `#define`s are constants, and a name that may be a
//! header's macro gets told how to define it.

use super::typeck::Cx;
use crate::diag::Diagnostic;
use crate::frontend::ast::{Expr, ExprKind, TypeName};
use crate::frontend::btf;
use crate::frontend::builtins::Builtin;
use crate::frontend::cdecl::Const;
use crate::frontend::types::Type;
use std::rc::Rc;

impl Cx<'_> {
    /// A type named in a cast, `sizeof` or `offsetof` that the script
    /// defines. Its pointers point where the probe's pointers do.
    pub(super) fn script_type(&mut self, ty: &TypeName) -> Option<Type> {
        let mut t = self.dwarf.script.named_type(ty.tag.as_deref(), &ty.name)?;
        for _ in 0..ty.pointers {
            t = Type::Ptr { to: Rc::new(t), user: true };
        }
        Some(t)
    }

    /// A bare name that is one of the script's enumerators or `#define`s
    /// (before builtins: macros are text), or else, when no builtin has
    /// the name, an enumerator of the kernel's BTF (`TCP_ESTABLISHED`):
    /// the expression becomes its value.
    pub(super) fn script_constant(&mut self, e: &mut Expr) -> Option<Type> {
        let ExprKind::Ident(name) = &e.kind else { return None };
        let Some(found) = self.dwarf.script.constant(name) else {
            if Builtin::from_name(name).is_some() {
                return None;
            }
            let v = btf::vmlinux().ok()?.enum_value(name).ok()??;
            e.kind = ExprKind::Int(v);
            return Some(Type::I64);
        };
        match found {
            Ok(Const::Int(v)) => {
                e.kind = ExprKind::Int(v);
                Some(Type::I64)
            }
            Ok(Const::Str(s)) => {
                let size = s.len() as u32 + 1;
                e.kind = ExprKind::Str(s);
                Some(Type::Str { size })
            }
            Err((defined, why)) => {
                let d = Diagnostic::error(format!("the macro `{name}` cannot be used here: {why}"))
                    .at(e.span, "used here")
                    .also(defined, "defined here");
                self.error(d);
                Some(Type::Unknown)
            }
        }
    }

    /// An unknown name in a script that includes headers, or spelled as a
    /// macro: trace does not read headers, say how to define it.
    pub(super) fn header_note(&self, name: &str, d: Diagnostic) -> Diagnostic {
        let headers = &self.dwarf.script.unread_headers;
        let macro_like = name.len() > 1
            && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            && name.chars().any(|c| c.is_ascii_uppercase());
        if headers.is_empty() && !macro_like {
            return d;
        }
        let from = match headers.first() {
            Some((h, _)) => format!("a macro from <{h}> or another header"),
            None => "a macro from a C header".to_string(),
        };
        d.note(format!("if `{name}` is {from}: trace does not read header files, so it is not known"))
            .note(format!("define it in the script with its value, e.g. `#define {name} 0`"))
    }
}
