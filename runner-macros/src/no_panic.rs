//! Property tests: the expansion never panics, whatever tokens it is given.
//!
//! Three sources of input: arbitrary token trees (for the attribute's
//! arguments and for the item), random options on valid functions, and
//! random edits of valid functions. Each property runs a bounded number of
//! cases so the whole file takes a few seconds.

use std::str::FromStr;

use proc_macro2::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};
use proptest::prelude::*;
use quote::quote;

use crate::scope;
use crate::test_attr;

/// Words the generated token trees are made of: keywords and names the
/// macro looks at, plus a few others.
const IDENTS: &[&str] = &[
    "fn",
    "async",
    "move",
    "const",
    "unsafe",
    "pub",
    "run",
    "runner",
    "rt",
    "self",
    "Self",
    "crate",
    "super",
    "struct",
    "impl",
    "mod",
    "trait",
    "let",
    "return",
    "loop",
    "match",
    "if",
    "else",
    "for",
    "in",
    "where",
    "dyn",
    "debug",
    "worker_threads",
    "close_timeout",
    "virtual_time",
    "auto_advance",
    "shared",
    "timeout",
    "test",
    "tokio",
    "main",
    "x",
    "f",
    "true",
    "false",
    "await",
    "static",
    "type",
    "use",
    "extern",
];

/// Punctuation characters proc-macro2 accepts.
const PUNCTS: &[char] = &[
    '!', ':', ',', ';', '=', '#', '&', '|', '-', '>', '<', '.', '?', '*', '+', '@', '\'', '/', '%',
    '^', '~', '$',
];

/// String literal contents, some valid option values and some not.
const STRINGS: &[&str] = &[
    "200ms",
    "0ms",
    "5s",
    "0s",
    "2 minutes",
    "",
    "rt",
    "::runner",
    "a::<b>",
    "1",
    "fn",
    "{",
];

/// A token tree as proptest generates it.
#[derive(Clone, Debug)]
enum Tok {
    Ident(usize),
    Punct(usize, bool),
    Int(u64),
    Negative(i64),
    Float(f64),
    Str(usize),
    Char(char),
    Group(usize, Vec<Tok>),
}

impl Tok {
    fn into_token_tree(self) -> TokenTree {
        let span = Span::call_site();
        match self {
            Tok::Ident(i) => {
                let word = IDENTS[i % IDENTS.len()];
                TokenTree::Ident(Ident::new(word, span))
            }
            Tok::Punct(i, joint) => {
                let spacing = if joint {
                    Spacing::Joint
                } else {
                    Spacing::Alone
                };
                TokenTree::Punct(Punct::new(PUNCTS[i % PUNCTS.len()], spacing))
            }
            Tok::Int(n) => TokenTree::Literal(Literal::u64_unsuffixed(n)),
            Tok::Negative(n) => TokenTree::Literal(Literal::i64_unsuffixed(n)),
            Tok::Float(x) => TokenTree::Literal(Literal::f64_unsuffixed(x)),
            Tok::Str(i) => TokenTree::Literal(Literal::string(STRINGS[i % STRINGS.len()])),
            Tok::Char(c) => TokenTree::Literal(Literal::character(c)),
            Tok::Group(d, inner) => {
                let delimiter = [
                    Delimiter::Parenthesis,
                    Delimiter::Brace,
                    Delimiter::Bracket,
                    Delimiter::None,
                ][d % 4];
                TokenTree::Group(Group::new(delimiter, stream(inner)))
            }
        }
    }
}

fn stream(toks: Vec<Tok>) -> TokenStream {
    toks.into_iter().map(Tok::into_token_tree).collect()
}

fn tok() -> impl Strategy<Value = Tok> {
    let leaf = prop_oneof![
        6 => any::<usize>().prop_map(Tok::Ident),
        4 => (any::<usize>(), any::<bool>()).prop_map(|(i, joint)| Tok::Punct(i, joint)),
        1 => any::<u64>().prop_map(Tok::Int),
        1 => any::<i64>().prop_map(Tok::Negative),
        1 => (-1e6f64..1e6).prop_map(Tok::Float),
        2 => any::<usize>().prop_map(Tok::Str),
        1 => any::<char>().prop_map(Tok::Char),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        (any::<usize>(), prop::collection::vec(inner, 0..8))
            .prop_map(|(d, toks)| Tok::Group(d, toks))
    })
}

fn toks() -> impl Strategy<Value = Vec<Tok>> {
    prop::collection::vec(tok(), 0..16)
}

/// Valid functions, covering the forms and `run!` positions the macro knows.
const VALID_FNS: &[&str] = &[
    "fn main() { let a = run!(first()); run!(second(a)); }",
    "pub fn f() -> std::io::Result<usize> { let c = run!(connect())?; Ok(run!(c.read())?.len()) }",
    "fn m(&self, x: u8) -> u8 { run!(self.get(x)) + run!(async { 1 }) }",
    "pub async fn a(&self, x: &str) -> Result<u8, E> { let n = f(x).await?; Ok(n) }",
    "fn g<T: Clone>(mut self, items: &[T]) -> impl Iterator<Item = T> { for i in items { run!(push(i)); } items.to_vec().into_iter() }",
    "#[test] fn t() { assert_eq!(run!(f()), 1); println!(\"{}\", runner::run!(g())); let v = vec![::runner::run![h()]; 2]; }",
    "fn c() { let ask = |m| run!(echo(m)); ask(1); while run!(more()) { if run! { done() } { break } } }",
    "fn a() { let x = async { run!(f()) }; let y = async move |z| run!(z); spawn!(async { run!(q()) }); }",
    "fn n() { fn inner() { run!(a()) } impl S { fn s(&self) { run!(b()) } } run!(c()) }",
    "async fn bad() -> u8 { run!(one()) }",
    "async fn main() -> ! { loop { g().await } }",
    "const unsafe extern \"C\" fn weird<'a>(x: &'a u8) -> ! where u8: Copy { loop { run!(x) } }",
    "fn e() { run!(); run!(a, b); run!(a(),); rt::run!(z()); }",
    "struct S { x: u8 }",
    "impl S { fn f(&self) {} }",
];

/// Options, valid and invalid, to combine with the valid functions.
const ARGS: &[&str] = &[
    "",
    "debug",
    "debug = false",
    "worker_threads = 2",
    "close_timeout = \"200ms\"",
    "timeout = \"5s\"",
    "crate = \"rt\"",
    "crate = \"::a::b\"",
    "debug, worker_threads = 4, close_timeout = \"1s\", crate = \"rt\"",
    "virtual_time, auto_advance = \"0ms\"",
    "auto_advance = \"1s\"",
    "shared, virtual_time, auto_advance = \"0s\"",
    "debug, debug",
    "worker_threads = \"2\"",
    "close_timeout = \"2 minutes\"",
    "crate = rt",
    "crate = \"a::<b>\"",
    "nope",
    "nope(1, 2)",
    "worker_threads =",
    ", ,",
    "\"debug\"",
    "worker_threads = 99999999999999999999999999",
];

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 1000,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn expand_both(args: TokenStream, item: TokenStream) {
    let _ = scope::expand(args.clone(), item.clone());
    let _ = test_attr::expand(args, item);
}

/// Applies `edits` to the space-separated tokens of `source`: each edit
/// removes, duplicates, swaps or inserts a word at a position.
fn mutate(source: &str, edits: &[(u8, usize, usize)]) -> String {
    let tokens = TokenStream::from_str(source)
        .expect("the corpus parses")
        .to_string();
    let mut words: Vec<String> = tokens.split_whitespace().map(str::to_owned).collect();
    for &(op, at, word) in edits {
        if words.is_empty() {
            break;
        }
        let at = at % words.len();
        match op % 4 {
            0 => {
                words.remove(at);
            }
            1 => words.insert(at, words[at].clone()),
            2 => {
                let next = (at + 1) % words.len();
                words.swap(at, next);
            }
            _ => {
                let pick = word % (IDENTS.len() + PUNCTS.len());
                let new = match IDENTS.get(pick) {
                    Some(ident) => (*ident).to_owned(),
                    None => PUNCTS[pick - IDENTS.len()].to_string(),
                };
                words.insert(at, new);
            }
        }
    }
    words.join(" ")
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_args_and_items_never_panic(args in toks(), item in toks()) {
        expand_both(stream(args), stream(item));
    }

    #[test]
    fn arbitrary_args_on_a_valid_fn_never_panic(args in toks(), which in any::<usize>()) {
        let item = TokenStream::from_str(VALID_FNS[which % VALID_FNS.len()]).unwrap();
        expand_both(stream(args), item);
    }

    #[test]
    fn arbitrary_tokens_in_a_fn_body_never_panic(body in toks(), in_macro in any::<bool>()) {
        let body = stream(body);
        let item = if in_macro {
            quote!(fn f() { assert!(#body); run!(#body); })
        } else {
            quote!(fn f() { #body })
        };
        expand_both(TokenStream::new(), item);
    }

    #[test]
    fn edited_valid_fns_never_panic(
        which in any::<usize>(),
        args in any::<usize>(),
        edits in prop::collection::vec((any::<u8>(), any::<usize>(), any::<usize>()), 1..6),
    ) {
        let source = mutate(VALID_FNS[which % VALID_FNS.len()], &edits);
        let args = mutate(ARGS[args % ARGS.len()], &edits[..1]);
        // Edits may unbalance delimiters; such text is not a token stream.
        if let (Ok(item), Ok(args)) = (TokenStream::from_str(&source), TokenStream::from_str(&args)) {
            expand_both(args, item);
        }
    }

    #[test]
    fn valid_options_on_valid_fns_expand_to_a_fn(which in 0..4usize, args in 0..10usize) {
        // `timeout` is a test option, and a test takes no parameters.
        let test = ARGS[args].starts_with("timeout");
        let item = TokenStream::from_str(VALID_FNS[if test { 0 } else { which }]).unwrap();
        let args = TokenStream::from_str(ARGS[args]).unwrap();
        let out = if test { test_attr::expand(args, item) } else { scope::expand(args, item) };
        prop_assert!(!out.to_string().contains("compile_error"), "{}", out);
        prop_assert!(syn::parse2::<syn::ItemFn>(out.clone()).is_ok(), "{}", out);
    }
}
