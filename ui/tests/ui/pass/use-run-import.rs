//! `use runner::run;` at the top of a module makes nothing ambiguous: the
//! attribute rewrites the `run!` calls of its body, whatever is imported.
#![deny(warnings)]
#![allow(unused_imports)] // every `run!` below is rewritten, so the import is unused

use runner::run;

#[runner::scope]
fn add() -> u8 {
    run!(async { 1 }) + runner::run!(async { 2 }) + ::runner::run!(async { 3 })
}

mod glob {
    use runner::*;

    #[runner::scope]
    pub(crate) fn twice() -> u8 {
        run!(async { 1 }) * 2
    }
}

fn main() {
    assert_eq!(add(), 6);
    assert_eq!(glob::twice(), 2);
}
