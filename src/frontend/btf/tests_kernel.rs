//! The reader against the running kernel's `/sys/kernel/btf/vmlinux`:
//! signatures and layouts any kernel of the last years has. Skipped, with
//! the reason, where the kernel publishes no BTF (CI has it).

use super::*;
use crate::frontend::types::Field;

fn kernel() -> Option<Rc<Btf>> {
    let path = Path::new(SYSFS_BTF).join("vmlinux");
    let available = match path.exists() {
        true => Ok(()),
        false => Err(format!("{} does not exist (a kernel without CONFIG_DEBUG_INFO_BTF)", path.display())),
    };
    if crate::testing::skip_unless(available, "kernel BTF") {
        return None;
    }
    Some(vmlinux().expect("vmlinux BTF reads"))
}

fn field(rec: &Record, name: &str) -> Field {
    rec.field(name).unwrap_or_else(|| panic!("{} has no {name}: {:?}", rec.name, rec.field_names()))
}

fn record(t: &Type) -> Rc<Record> {
    match t {
        Type::Record(r) => r.clone(),
        Type::Ptr { to, .. } => record(to),
        other => panic!("not a record: {other:?}"),
    }
}

#[test]
fn vfs_read_has_bpftraces_signature() {
    let Some(btf) = kernel() else { return };
    let f = btf.function("vfs_read").unwrap().expect("vfs_read is in BTF");
    assert!(f.btf_id > 0 && f.btf_id < btf.type_count() + 1);
    assert!(matches!(f.linkage, Linkage::Global | Linkage::Static));
    let params: Vec<(&str, &str)> = f.params.iter().map(|p| (p.name.as_str(), p.c_type.as_str())).collect();
    assert_eq!(params, [("file", "struct file *"), ("buf", "char *"), ("count", "size_t"), ("pos", "loff_t *")]);
    assert_eq!(f.ret_c_type, "ssize_t");
    assert_eq!(f.ret, Type::I64);
    assert_eq!(f.params[2].ty, Type::U64);
    // gcc-built kernels carry no `user` tags: `buf` reads as a kernel pointer.
    // (The kernel builds with -funsigned-char since 6.2.)
    assert!(matches!(&f.params[1].ty, Type::Ptr { to, user: false } if to.c_size() == 1 && to.is_int()));
    assert_eq!(
        signature_lines(&f),
        ["    struct file * file", "    char * buf", "    size_t count", "    loff_t * pos", "    ssize_t retval"]
    );
    // The pointee is lazy: no fields until asked.
    let file = record(&f.params[0].ty);
    assert_eq!(file.name, "file");
    assert!(file.fields.get().is_none() || !file.fields().is_empty());
    btf.complete(&file).unwrap();
    assert!(file.field("f_path").is_some());
    assert!(btf.function("no_such_function_anywhere").unwrap().is_none());
}

#[test]
fn task_struct_converts_what_it_holds_not_the_kernel() {
    let Some(btf) = kernel() else { return };
    let task = btf.struct_by_name("task_struct").unwrap().expect("struct task_struct");
    let pid = field(&task, "pid");
    assert_eq!(pid.ty, Type::Int { size: 4, signed: true });
    assert!((256..task.size).contains(&pid.offset), "pid at {}", pid.offset);
    let comm = field(&task, "comm");
    assert!(matches!(&comm.ty, Type::Array { elem, len: 16 } if elem.c_size() == 1 && elem.is_int()), "{comm:?}");
    assert_eq!(crate::frontend::passes::dwarf_types::value_type(&comm.ty), Type::Str { size: 16 });
    // `real_parent` points back at task_struct: the same record.
    let parent = record(&field(&task, "real_parent").ty);
    assert!(Rc::ptr_eq(&parent, &task));
    // Laziness: a tiny part of the kernel's types was converted.
    assert!(btf.converted_types() < 3000, "{} of {} types converted", btf.converted_types(), btf.type_count());
    let mm = record(&field(&task, "mm").ty);
    assert!(mm.fields.get().is_none(), "mm_struct is only pointed to");
    btf.complete(&mm).unwrap();
    assert!(mm.field("pgd").is_some());
    // The named type is the same cached record.
    let again = btf.named_type("struct task_struct", None).unwrap().unwrap();
    assert!(Rc::ptr_eq(&record(&again), &task));
}

#[test]
fn file_path_dentry_name_chain_resolves() {
    let Some(btf) = kernel() else { return };
    let file = btf.struct_by_name("file").unwrap().unwrap();
    let path = field(&file, "f_path");
    let dentry = record(&field(&record(&path.ty), "dentry").ty);
    btf.complete(&dentry).unwrap();
    let d_name = field(&dentry, "d_name");
    let qstr = record(&d_name.ty);
    assert_eq!(qstr.name, "qstr");
    let name = field(&qstr, "name");
    assert!(matches!(&name.ty, Type::Ptr { to, user: false } if to.c_size() == 1));
    // qstr's anonymous union of { hash; len; } and hash_len is flattened.
    assert_eq!(field(&qstr, "hash").offset, 0);
    assert_eq!(field(&qstr, "len").offset, 4);
    assert_eq!(field(&qstr, "hash_len").offset, 0);
    assert_eq!(field(&qstr, "hash_len").ty, Type::U64);
    assert_eq!(qstr.field_names(), ["hash", "len", "hash_len", "name"]);
}

#[test]
fn bitfields_enums_and_typedefs() {
    let Some(btf) = kernel() else { return };
    let skb = btf.struct_by_name("sk_buff").unwrap().unwrap();
    let bits: Vec<Field> = {
        let mut all = Vec::new();
        let mut stack: Vec<Rc<Record>> = vec![skb.clone()];
        while let Some(r) = stack.pop() {
            for f in r.fields() {
                match (&f.ty, f.name.is_empty()) {
                    (Type::Record(inner), true) => stack.push(inner.clone()),
                    _ if f.bitfield.is_some() => all.push(f.clone()),
                    _ => {}
                }
            }
        }
        all
    };
    assert!(bits.len() > 5, "sk_buff has bitfields: {bits:?}");
    for f in &bits {
        let (shift, width) = f.bitfield.unwrap();
        assert!(width >= 1 && (shift as u32 + width as u32) <= f.ty.c_size() * 8, "{f:?}");
        assert!(f.offset + f.ty.c_size() <= skb.size, "{f:?}");
    }
    let pkt_type = skb.field("pkt_type").expect("sk_buff.pkt_type");
    assert_eq!(pkt_type.bitfield.map(|b| b.1), Some(3));

    assert_eq!(btf.named_type("enum pid_type", None).unwrap(), Some(Type::U32));
    assert_eq!(btf.named_type("size_t", None).unwrap(), Some(Type::U64));
    assert_eq!(btf.named_type("loff_t", None).unwrap(), Some(Type::I64));
    assert_eq!(btf.named_type("unsigned int", None).unwrap(), Some(Type::U32));
    assert!(btf.named_type("no_such_type_t", None).unwrap().is_none());
    // A typedef of an anonymous struct takes the typedef's name.
    let atomic = btf.named_type("atomic_t", None).unwrap().unwrap();
    assert_eq!(record(&atomic).name, "atomic_t");
    assert_eq!(field(&record(&atomic), "counter").ty, Type::Int { size: 4, signed: true });
}

#[test]
fn function_names_and_tracepoint_records() {
    let Some(btf) = kernel() else { return };
    let names = btf.function_names().unwrap();
    assert!(names.len() > 10_000, "{} functions", names.len());
    assert!(names.contains(&"vfs_read") && names.contains(&"do_sys_openat2"));
    let raw = btf.struct_by_name("trace_event_raw_sched_switch").unwrap().expect("sched_switch's record");
    assert_eq!(field(&raw, "prev_comm").ty.c_size(), 16);
    assert!(raw.field("next_pid").is_some());
    assert_eq!(btf.module_name(), "vmlinux");
    assert!(matches!(module("no_such_module_xyz"), Ok(None)));
    assert!(matches!(module("../etc"), Err(BtfError::BadModuleName { .. })));
    assert!(Rc::ptr_eq(&module("vmlinux").unwrap().unwrap(), &btf));
}
