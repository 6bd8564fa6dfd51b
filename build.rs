//! Build step: generate the parser from `grammar/trace.lalrpop`.
fn main() {
    lalrpop::Configuration::new().set_in_dir("grammar").process().expect("lalrpop grammar failed to build");
}
