//! `#[runner::scope]`: checks the function, rewrites its `run!` calls and
//! wraps its body so that one runner lives exactly as long as the body.
//!
//! ```text
//! #[runner::scope(worker_threads = 2)]
//! fn name(args) -> Ret { body }
//! ```
//!
//! becomes
//!
//! ```text
//! fn name(args) -> Ret {
//!     let __runner_owner = ::runner::__private::Runner::builder().worker_threads(2).build();
//!     let __runner_scope: &::runner::__private::Runner = &__runner_owner;
//!     let __runner_entered = ::runner::__private::Runner::enter(__runner_scope);
//!     let __runner_ret: Ret = { body, with run!(f) as Runner::run(__runner_scope, f) };
//!     #[allow(unreachable_code)] // after a body that never ends
//!     return __runner_ret;
//! }
//! ```
//!
//! The body keeps its own block, so its locals, and the temporaries of its
//! tail expression, are dropped at the end of the `let`, before the guard
//! and the runner; a `return`, a `?` or a panic drops them in the same
//! order. The body reaches the runner only through a reference, which a
//! `move` closure copies. The hidden names are `Span::mixed_site()`, so the
//! body can neither see them nor clash with them.
//!
//! `fn main` and `#[runner::test]` functions hand their body, as a closure,
//! to `__private::main` (Ctrl-C) and `__private::test` (the timeout). An
//! `async fn` becomes a sync one whose body is one run:
//!
//! ```text
//! let __runner_ret: Ret = {
//!     Runner::run(__runner_scope, async move {
//!         let __runner_ret: Ret = { body };
//!         return __runner_ret;
//!     })
//! };
//! ```

use proc_macro2::{Delimiter, Group, Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::visit_mut::VisitMut;
use syn::{Error, Ident, Item, ItemFn, ReturnType, Signature, Type};

use crate::args::{self, Args, Kind};
use crate::fallback;
use crate::rewrite::{respan, Rewriter, Target};

/// Expands `#[runner::scope(args)]` on `item`.
///
/// Never panics; on mistakes, returns the best expansion it can plus one
/// `compile_error!` per mistake.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    expand_as(Kind::Scope, args, item, |_, _, _| TokenStream::new())
}

/// Expands an attribute of `kind` that builds on the scope: `#[runner::test]`
/// is the scope plus what `mark` adds.
///
/// `mark` is called with the parsed function, whether the scope found it
/// usable, and the errors so far; it may change the function, adds its own
/// errors, and returns the attributes to emit in front of it (`#[test]`).
///
/// Never panics; on mistakes, returns the best expansion it can plus one
/// `compile_error!` per mistake.
pub(crate) fn expand_as(
    kind: Kind,
    args: TokenStream,
    item: TokenStream,
    mark: impl FnOnce(&mut ItemFn, bool, &mut Vec<Error>) -> TokenStream,
) -> TokenStream {
    let (args, args_errors) = args::parse(kind, args);
    let mut errors: Vec<Error> = args_errors.into_iter().collect();
    let item_fn = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Fn(item_fn)) => item_fn,
        Ok(_) => {
            // A trait method without a default body parses as a trait item.
            let message = if syn::parse2::<syn::TraitItemFn>(item.clone()).is_ok() {
                "can only be used on a function with a body; put it on the implementations of \
                 this method"
            } else {
                "can only be used on a function; put it on the `fn` whose body calls `run!`"
            };
            errors.push(Error::new_spanned(
                fallback::item_head(item.clone()),
                format!("`{}` {message}", kind.attr()),
            ));
            return fallback::with_errors(item, args::combine(errors));
        }
        Err(error) => {
            // rustc already parsed the item, so this is syntax that syn does
            // not know yet; leave the item alone.
            errors.push(error);
            return fallback::with_errors(item, args::combine(errors));
        }
    };
    let output = expand_fn(kind, &args, item_fn, mark, &mut errors);
    fallback::with_errors(output, args::combine(errors))
}

/// Validates and expands one function; mistakes go to `errors`.
fn expand_fn(
    kind: Kind,
    args: &Args,
    mut item_fn: ItemFn,
    mark: impl FnOnce(&mut ItemFn, bool, &mut Vec<Error>) -> TokenStream,
    errors: &mut Vec<Error>,
) -> TokenStream {
    let mut valid = true;
    if let Some(constness) = item_fn.sig.constness.take() {
        // Emitted without `const`, so that building the runner is no error.
        errors.push(Error::new_spanned(
            constness,
            format!(
                "`{}` functions cannot be `const`; remove `const`",
                kind.attr()
            ),
        ));
        valid = false;
    }
    let test_attribute = mark(&mut item_fn, valid, errors);

    let ItemFn {
        attrs,
        vis,
        mut sig,
        mut block,
    } = item_fn;
    let krate = args.crate_path();
    let runner = Ident::new(
        "__runner_scope",
        Span::mixed_site().located_at(sig.ident.span()),
    );
    let entry = Entry::of(kind, &sig);
    let runs_on = match entry {
        Entry::Test if args.is_shared() => "SharedScope",
        Entry::Test => "TestScope",
        Entry::Main | Entry::Other => "Runner",
    };
    let target = Target {
        runner: &runner,
        runs_on,
    };
    let mut rewriter = Rewriter::new(target, &krate);
    // An `async fn` becomes a sync one, whose whole body is one run.
    let body = match sig.asyncness.take() {
        Some(asyncness) => {
            rewriter.visit_async_body_mut(&mut block);
            one_run(asyncness.span, &sig.output, target, &krate, &block)
        }
        None => {
            rewriter.visit_block_mut(&mut block);
            block.to_token_stream()
        }
    };

    // The new body's braces are located at the old body's closing brace,
    // where its locals, the runner among them, are dropped.
    let close = Span::call_site().located_at(block.brace_token.span.close());
    let builder = builder(args, &krate);
    let mut body = Group::new(
        Delimiter::Brace,
        wrap_body(entry, args, &sig, &runner, &krate, builder, body),
    );
    body.set_span(close);
    quote! {
        #test_attribute
        #(#attrs)*
        #vis #sig #body
    }
}

/// The body of an `async fn`: one run of an `async move` block holding the
/// whole body, on what `target` names.
///
/// The block's value is bound with the function's return type, so that the
/// body's tail is checked against it as in the `async fn` (coercions, and
/// errors pointing at the body and the declared type), and its `?`s convert
/// their errors into it. The block takes the parameters it uses, as the
/// future of an `async fn` does; the run borrows nothing from the caller
/// that the function does not. The run is spanned on the `async` keyword:
/// errors about it, and `Location::caller()` in it (a test's timeout, debug
/// mode's slow polls), point at the user's function.
fn one_run(
    asyncness: Span,
    output: &ReturnType,
    target: Target<'_>,
    krate: &syn::Path,
    block: &syn::Block,
) -> TokenStream {
    // As in `wrap_body`: located at the user's `async`, with the macro's
    // hygiene; only the call's path and parentheses are the user's own.
    let site = Span::call_site().located_at(asyncness);
    let ret = Ident::new("__runner_ret", Span::mixed_site().located_at(asyncness));
    let annotation = return_annotation(output);
    let never = matches!(output, ReturnType::Type(_, ty) if matches!(**ty, Type::Never(_)));
    let future = if annotation.is_empty() {
        quote_spanned!(site=> async move #block)
    } else {
        quote_spanned! {site=>
            async move {
                let #ret #annotation = #block;
                // After a body that never ends: no reason to warn about our code.
                #[allow(unreachable_code)]
                return #ret;
            }
        }
    };
    let run = target.call_body(krate, asyncness, future);
    if never {
        // `!` cannot be written on the `let`: the block's value is `()`, and
        // the run of a body that never ends does not return either.
        quote_spanned!(site=> {
            #run;
            // Unreachable indeed once `!` falls back to itself (edition 2024).
            #[allow(unreachable_code)]
            ::core::unreachable!("the body of a function returning `!` returned");
        })
    } else {
        quote_spanned!(site=> { #run })
    }
}

/// The expression that builds the scope's runner from the options.
fn builder(args: &Args, krate: &syn::Path) -> TokenStream {
    let mut chain = quote!(#krate::__private::Runner::builder());
    if let Some((debug, span)) = args.debug {
        let debug = syn::LitBool::new(debug, span);
        chain.extend(quote_spanned!(span=> .debug(#debug)));
    }
    if let Some((threads, span)) = args.worker_threads {
        let mut threads = proc_macro2::Literal::usize_unsuffixed(threads);
        threads.set_span(span);
        chain.extend(quote_spanned!(span=> .worker_threads(#threads)));
    }
    if let Some(close_timeout) = &args.close_timeout {
        chain.extend(quote_spanned!(close_timeout.span=> .close_timeout(#close_timeout)));
    }
    if let Some((virtual_time, span)) = args.virtual_time {
        let virtual_time = syn::LitBool::new(virtual_time, span);
        chain.extend(quote_spanned!(span=> .virtual_time(#virtual_time)));
    }
    if let Some(threshold) = &args.auto_advance {
        chain.extend(quote_spanned!(threshold.span=> .auto_advance_threshold(#threshold)));
    }
    if let Some(timeout) = &args.timeout {
        chain.extend(quote_spanned!(timeout.span=> .__test_timeout(#timeout)));
    }
    chain.extend(quote!(.build()));
    chain
}

/// What kind of function the body belongs to: this decides how it is
/// wrapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Entry {
    /// `fn main()` under `#[runner::scope]`.
    Main,
    /// A `#[runner::test]`.
    Test,
    /// Any other function.
    Other,
}

impl Entry {
    /// Classifies the function with signature `sig`.
    fn of(kind: Kind, sig: &Signature) -> Entry {
        match kind {
            Kind::Test => Entry::Test,
            Kind::Scope if sig.ident == "main" && sig.inputs.is_empty() => Entry::Main,
            Kind::Scope => Entry::Other,
        }
    }
}

/// The new body: build the runner, enter it, evaluate the old body, return
/// its value.
///
/// The body sees the runner only through a reference, `runner` (a
/// mixed-site name): a `move` closure that calls `run!` copies the
/// reference and never takes the runner away from the function, which
/// closes it when it returns.
///
/// `fn main` hands its body to `__private::main`, which turns a Ctrl-C (a
/// run unwinding with `Interrupted`) into closing the runner and exiting
/// with status 130; a test hands it to `__private::test`, which enforces
/// its timeout. There the body becomes a closure that takes the runner.
fn wrap_body(
    entry: Entry,
    args: &Args,
    sig: &Signature,
    runner: &Ident,
    krate: &syn::Path,
    builder: TokenStream,
    block: TokenStream,
) -> TokenStream {
    // Generated code is located at the function's name: borrow errors about
    // the runner (a `run!` closure that escapes the body) point at the
    // user's function, not at the attribute. It keeps the macro's hygiene,
    // so lints take it for what it is, generated.
    let site = Span::call_site().located_at(sig.ident.span());
    let annotation = return_annotation(&sig.output);
    // `-> Ret` for the closure, when the type can be written there.
    let returns = match (annotation.is_empty(), &sig.output) {
        (true, _) => TokenStream::new(),
        (false, ReturnType::Default) => quote_spanned!(site=> -> ()),
        (false, ReturnType::Type(_, ty)) => quote_spanned!(site=> -> #ty),
    };
    match entry {
        Entry::Main => {
            let main = helper_call(
                krate,
                "main",
                sig.ident.span(),
                quote_spanned!(site=> #builder, |#runner: &#krate::__private::Runner| #returns #block),
            );
            quote_spanned! {site=>
                #[allow(unreachable_code)]
                return #main;
            }
        }
        Entry::Test => {
            let timeout = match &args.timeout {
                Some(timeout) => quote_spanned!(site=> ::core::option::Option::Some(#timeout)),
                None => quote_spanned!(site=> ::core::option::Option::None),
            };
            let name = syn::LitStr::new(&sig.ident.to_string(), site);
            let name = quote_spanned!(site=> ::core::concat!(::core::module_path!(), "::", #name));
            let call = if args.is_shared() {
                helper_call(
                    krate,
                    "shared_test",
                    sig.ident.span(),
                    quote_spanned! {site=>
                        #timeout,
                        #name,
                        |#runner: &#krate::__private::SharedScope<'_>| #returns #block,
                    },
                )
            } else {
                helper_call(
                    krate,
                    "test",
                    sig.ident.span(),
                    quote_spanned! {site=>
                        #builder,
                        #timeout,
                        #name,
                        |#runner: &#krate::__private::TestScope<'_>| #returns #block,
                    },
                )
            };
            quote_spanned! {site=>
                #[allow(unreachable_code)]
                return #call;
            }
        }
        Entry::Other => {
            let owner = Ident::new("__runner_owner", Span::mixed_site().located_at(site));
            let entered = Ident::new("__runner_entered", Span::mixed_site().located_at(site));
            let ret = Ident::new("__runner_ret", Span::mixed_site().located_at(site));
            quote_spanned! {site=>
                let #owner = #builder;
                let #runner: &#krate::__private::Runner = &#owner;
                // Dropped before the runner: locals are dropped in reverse.
                let #entered = #krate::__private::Runner::enter(#runner);
                let #ret #annotation = #block;
                // After a body that never ends (`loop {}`, `todo!()`), this is
                // unreachable: no reason to warn the user about our code.
                #[allow(unreachable_code)]
                return #ret;
            }
        }
    }
}

/// A call of the hidden helper `name` (`krate::__private::name(arguments)`),
/// its path and parentheses spanned on `span`, a token of the user's
/// function: the call is then the user's code for `#[track_caller]`
/// (`Location::caller()`), where a call spanned on the attribute, even in
/// part, would be located at the attribute.
fn helper_call(krate: &syn::Path, name: &str, span: Span, arguments: TokenStream) -> TokenStream {
    let krate = respan(krate.to_token_stream(), span);
    let name = Ident::new(name, span);
    let mut arguments = Group::new(Delimiter::Parenthesis, arguments);
    arguments.set_span(span);
    quote_spanned!(span=> #krate::__private::#name #arguments)
}

/// `: Ret` for the hidden binding of the body's value, so the body is
/// checked against the declared return type (coercions, inference and error
/// spans as without the macro).
///
/// Empty when the type cannot be written on a `let`: `impl Trait` anywhere in
/// it, or `!`.
fn return_annotation(output: &ReturnType) -> TokenStream {
    match output {
        ReturnType::Default => quote!(: ()),
        ReturnType::Type(arrow, ty) => {
            if has_impl_trait(ty.to_token_stream()) || matches!(**ty, Type::Never(_)) {
                TokenStream::new()
            } else {
                quote_spanned!(arrow.spans[0]=> : #ty)
            }
        }
    }
}

/// Whether the tokens of a type contain `impl Trait`: in a type, the `impl`
/// keyword means nothing else.
fn has_impl_trait(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|token| match token {
        proc_macro2::TokenTree::Ident(ident) => ident == "impl",
        proc_macro2::TokenTree::Group(group) => has_impl_trait(group.stream()),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(args: TokenStream, item: TokenStream) -> String {
        expand(args, item).to_string()
    }

    /// The messages of the `compile_error!`s in `output`, braced or not.
    fn errors(output: &str) -> Vec<&str> {
        output
            .split(":: core :: compile_error ! ")
            .skip(1)
            .map(|rest| {
                let message = rest.trim_start_matches(['{', '(', ' ', '"']);
                let end = message
                    .find("\" }")
                    .or(message.find("\")"))
                    .unwrap_or(message.len());
                &message[..end]
            })
            .collect()
    }

    #[test]
    fn plain_fn_is_wrapped() {
        let out = expand_str(
            quote!(),
            quote!(
                fn f() -> usize {
                    run!(g()).len()
                }
            ),
        );
        assert_eq!(
            out,
            "fn f () -> usize { \
             let __runner_owner = :: runner :: __private :: Runner :: builder () . build () ; \
             let __runner_scope : & :: runner :: __private :: Runner = & __runner_owner ; \
             let __runner_entered = :: runner :: __private :: Runner :: enter (__runner_scope) ; \
             let __runner_ret : usize = { :: runner :: __private :: Runner :: run (__runner_scope , g ()) . len () } ; \
             # [allow (unreachable_code)] return __runner_ret ; }"
        );
        assert!(errors(&out).is_empty());
    }

    #[test]
    fn main_hands_its_body_to_the_ctrl_c_helper() {
        let out = expand_str(
            quote!(),
            quote!(
                fn main() -> std::io::Result<()> {
                    run!(g())
                }
            ),
        );
        assert_eq!(
            out,
            "fn main () -> std :: io :: Result < () > { \
             # [allow (unreachable_code)] return :: runner :: __private :: main (\
             :: runner :: __private :: Runner :: builder () . build () , \
             | __runner_scope : & :: runner :: __private :: Runner | -> std :: io :: Result < () > \
             { :: runner :: __private :: Runner :: run (__runner_scope , g ()) }) ; }"
        );
        assert!(errors(&out).is_empty());
    }

    #[test]
    fn options_become_builder_calls() {
        let out = expand_str(
            quote!(
                debug,
                worker_threads = 2,
                close_timeout = "200ms",
                virtual_time,
                auto_advance = "0ms",
                crate = "rt"
            ),
            quote!(
                fn f() {}
            ),
        );
        assert!(out.starts_with("fn f ()"), "{out}");
        assert!(
            out.contains(
                "rt :: __private :: Runner :: builder () . debug (true) . worker_threads (2) \
                 . close_timeout (:: core :: time :: Duration :: from_millis (200)) \
                 . virtual_time (true) \
                 . auto_advance_threshold (:: core :: time :: Duration :: from_millis (0)) . build ()"
            ),
            "{out}"
        );
    }

    #[test]
    fn signature_and_attributes_are_kept() {
        let out = expand_str(
            quote!(),
            quote!(
                #[inline]
                pub(crate) unsafe extern "C" fn f<'a, T: Clone>(&'a self, x: T) -> Result<&'a T, E>
                where
                    T: Send,
                {
                    body
                }
            ),
        );
        assert!(
            out.starts_with(
                "# [inline] pub (crate) unsafe extern \"C\" fn f < 'a , T : Clone > (& 'a self , x : T) \
                 -> Result < & 'a T , E > where T : Send , {"
            ),
            "{out}"
        );
        assert!(
            out.contains("let __runner_ret : Result < & 'a T , E > = { body } ;"),
            "{out}"
        );
    }

    #[test]
    fn unwritable_return_types_are_not_annotated() {
        for item in [
            quote!(
                fn f() -> impl Iterator<Item = u8> {}
            ),
            quote!(
                fn f() -> Box<impl Fn()> {}
            ),
            quote!(
                fn f() -> ! {
                    loop {}
                }
            ),
        ] {
            let out = expand_str(quote!(), item);
            assert!(out.contains("let __runner_ret = {"), "{out}");
        }
    }

    #[test]
    fn async_fn_is_one_run_of_its_body() {
        let out = expand_str(
            quote!(),
            quote!(
                async fn f(x: &str) -> Result<usize, E> {
                    let n = g(x).await?;
                    Ok(n)
                }
            ),
        );
        assert_eq!(
            out,
            "fn f (x : & str) -> Result < usize , E > { \
             let __runner_owner = :: runner :: __private :: Runner :: builder () . build () ; \
             let __runner_scope : & :: runner :: __private :: Runner = & __runner_owner ; \
             let __runner_entered = :: runner :: __private :: Runner :: enter (__runner_scope) ; \
             let __runner_ret : Result < usize , E > = { \
             :: runner :: __private :: Runner :: run (__runner_scope , async move { \
             let __runner_ret : Result < usize , E > = { let n = g (x) . await ? ; Ok (n) } ; \
             # [allow (unreachable_code)] return __runner_ret ; }) } ; \
             # [allow (unreachable_code)] return __runner_ret ; }"
        );
        assert!(errors(&out).is_empty());
    }

    #[test]
    fn async_main_is_one_run_inside_the_ctrl_c_helper() {
        let out = expand_str(
            quote!(),
            quote!(
                async fn main() {
                    g().await
                }
            ),
        );
        assert_eq!(
            out,
            "fn main () { \
             # [allow (unreachable_code)] return :: runner :: __private :: main (\
             :: runner :: __private :: Runner :: builder () . build () , \
             | __runner_scope : & :: runner :: __private :: Runner | -> () { \
             :: runner :: __private :: Runner :: run (__runner_scope , async move { \
             let __runner_ret : () = { g () . await } ; \
             # [allow (unreachable_code)] return __runner_ret ; }) }) ; }"
        );
        assert!(errors(&out).is_empty());
    }

    #[test]
    fn async_fn_returning_impl_trait_or_never_is_not_annotated() {
        let out = expand_str(
            quote!(),
            quote!(
                async fn f() -> impl Display {
                    1
                }
            ),
        );
        assert!(
            out.contains("Runner :: run (__runner_scope , async move { 1 }) }"),
            "{out}"
        );
        let out = expand_str(
            quote!(),
            quote!(
                async fn f() -> ! {
                    loop {}
                }
            ),
        );
        assert!(
            out.contains(
                "Runner :: run (__runner_scope , async move { loop { } }) ; \
                 # [allow (unreachable_code)] :: core :: unreachable ! ("
            ),
            "{out}"
        );
        assert!(errors(&out).is_empty());
    }

    #[test]
    fn run_in_an_async_fn_is_an_error_at_the_run() {
        let out = expand_str(
            quote!(),
            quote!(
                async fn f() -> u8 {
                    run!(g())
                }
            ),
        );
        assert_eq!(
            errors(&out),
            ["`run!` cannot be used inside an `async` block; `.await` the future instead"]
        );
        assert!(out.starts_with("fn f () -> u8 {"), "{out}");
    }

    #[test]
    fn const_fn_is_an_error() {
        let out = expand_str(
            quote!(),
            quote!(
                const fn f() {}
            ),
        );
        assert_eq!(
            errors(&out),
            ["`#[runner::scope]` functions cannot be `const`; remove `const`"]
        );
        assert!(out.starts_with("fn f ()"), "{out}");
    }

    #[test]
    fn non_fn_items_are_errors_and_kept() {
        for (item, head) in [
            (
                quote!(
                    struct S {
                        x: u8,
                    }
                ),
                "struct S",
            ),
            (quote!(impl S { fn f(&self) {} }), "impl S"),
            (
                quote!(
                    mod m {}
                ),
                "mod m",
            ),
            (
                quote!(
                    trait T {
                        fn f(&self);
                    }
                ),
                "trait T",
            ),
        ] {
            let out = expand_str(quote!(), item.clone());
            assert!(out.starts_with(&item.to_string()), "{out}");
            assert_eq!(
                errors(&out),
                ["`#[runner::scope]` can only be used on a function; put it on the `fn` whose body calls `run!`"],
                "{head}"
            );
        }
    }

    #[test]
    fn trait_method_without_body_is_an_error() {
        let out = expand_str(
            quote!(),
            quote!(
                fn f(&self) -> u8;
            ),
        );
        assert!(out.starts_with("fn f (& self) -> u8 ;"), "{out}");
        assert_eq!(
            errors(&out),
            [
                "`#[runner::scope]` can only be used on a function with a body; put it on the \
              implementations of this method"
            ]
        );
    }

    #[test]
    fn argument_errors_still_expand_the_fn() {
        let out = expand_str(
            quote!(worker_threads = "2", debug),
            quote!(
                fn f() {
                    run!(g())
                }
            ),
        );
        assert_eq!(errors(&out).len(), 1, "{out}");
        assert!(
            out.contains("Runner :: builder () . debug (true) . build ()"),
            "{out}"
        );
        assert!(
            out.contains("Runner :: run (__runner_scope , g ())"),
            "{out}"
        );
    }

    #[test]
    fn errors_are_combined() {
        let out = expand_str(
            quote!(nope, timeout = "1s"),
            quote!(
                const fn f() {
                    async { run!(g()) };
                }
            ),
        );
        assert_eq!(errors(&out).len(), 4, "{out}");
    }

    #[test]
    fn unparsable_items_are_returned_unchanged() {
        let out = expand_str(quote!(), quote!(+ + +));
        assert!(out.starts_with("+ + +"), "{out}");
        assert_eq!(errors(&out).len(), 1, "{out}");
    }

    #[test]
    fn entry_points() {
        let sig = |item: TokenStream| syn::parse2::<ItemFn>(item).unwrap().sig;
        assert_eq!(
            Entry::of(
                Kind::Scope,
                &sig(quote!(
                    fn main() {}
                ))
            ),
            Entry::Main
        );
        assert_eq!(
            Entry::of(
                Kind::Test,
                &sig(quote!(
                    fn main() {}
                ))
            ),
            Entry::Test
        );
        assert_eq!(
            Entry::of(
                Kind::Scope,
                &sig(quote!(
                    fn other() {}
                ))
            ),
            Entry::Other
        );
    }
}
