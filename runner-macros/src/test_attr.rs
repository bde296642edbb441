//! `#[runner::test]`: `#[test]` plus `#[runner::scope]`.
//!
//! This module only adds what is specific to tests: the `#[test]`
//! attribute, and the checks that it can be added. It builds on
//! `scope.rs`, which knows nothing of tests beyond the `Kind` it is given:
//! the scope hands the parsed function to [`prepare`] before expanding it.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::{Attribute, Error, ItemFn};

use crate::args::Kind;
use crate::scope;

/// Expands `#[runner::test(args)]` on `item`: the scope's expansion, marked
/// as a test by [`prepare`].
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    scope::expand_as(Kind::Test, args, item, prepare)
}

/// Checks that `item_fn` can be a test and returns the attribute that makes
/// it one.
///
/// `valid` is false when the scope already found the function unusable (a
/// `const fn`). Then, or when the function takes parameters, no `#[test]` is
/// added, so that rustc reports only our error, not its own on top. Other
/// test attributes are reported and removed for the same reason.
fn prepare(item_fn: &mut ItemFn, mut valid: bool, errors: &mut Vec<Error>) -> TokenStream {
    if !item_fn.sig.inputs.is_empty() {
        errors.push(Error::new_spanned(
            &item_fn.sig.inputs,
            "`#[runner::test]` functions cannot take parameters; remove them, a test is called \
             with none",
        ));
        valid = false;
    }
    item_fn.attrs.retain(|attr| {
        let other = is_test_attribute(attr);
        if other {
            errors.push(Error::new_spanned(
                attr,
                format!(
                    "`#[runner::test]` already adds `#[test]`; remove `#[{}]`",
                    attr.path().to_token_stream().to_string().replace(' ', "")
                ),
            ));
        }
        !other
    });
    if valid {
        quote!(#[::core::prelude::v1::test])
    } else {
        // Not a test, and maybe never called: keep the error the only message.
        quote!(#[allow(dead_code)])
    }
}

/// Whether `attr` makes its function a test by itself: `#[test]`,
/// `#[tokio::test]`, `#[runner::test]`, `#[::core::prelude::v1::test]`, ...
fn is_test_attribute(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|segment| segment.ident == "test")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(args: TokenStream, item: TokenStream) -> String {
        expand(args, item).to_string()
    }

    #[test]
    fn adds_the_test_attribute_first() {
        let out = expand_str(
            quote!(),
            quote!(
                #[should_panic]
                fn t() {}
            ),
        );
        assert!(
            out.starts_with("# [:: core :: prelude :: v1 :: test] # [should_panic] fn t ()"),
            "{out}"
        );
        assert!(!out.contains("compile_error"), "{out}");
    }

    #[test]
    fn options_become_builder_calls() {
        let out = expand_str(
            quote!(
                debug,
                worker_threads = 2,
                close_timeout = "200ms",
                timeout = "5s",
                crate = "rt"
            ),
            quote!(
                fn f() {}
            ),
        );
        assert!(
            out.starts_with("# [:: core :: prelude :: v1 :: test] fn f ()"),
            "{out}"
        );
        assert!(
            out.contains(
                "rt :: __private :: Runner :: builder () . debug (true) . worker_threads (2) \
                 . close_timeout (:: core :: time :: Duration :: from_millis (200)) \
                 . __test_timeout (:: core :: time :: Duration :: from_secs (5)) . build ()"
            ),
            "{out}"
        );
    }

    #[test]
    fn parameters_are_an_error() {
        let out = expand_str(
            quote!(),
            quote!(
                fn t(x: u8, y: u8) {}
            ),
        );
        assert!(
            out.contains("`#[runner::test]` functions cannot take parameters"),
            "{out}"
        );
        assert!(!out.contains("prelude :: v1 :: test"), "{out}");
    }

    #[test]
    fn other_test_attributes_are_errors_and_removed() {
        for attr in [
            quote!(#[test]),
            quote!(#[tokio::test]),
            quote!(#[runner::test(debug)]),
            quote!(#[::core::prelude::v1::test]),
        ] {
            let out = expand_str(quote!(), quote!(#attr fn t() {}));
            let path = syn::parse2::<ItemFn>(quote!(#attr fn t() {}))
                .unwrap()
                .attrs[0]
                .path()
                .to_token_stream()
                .to_string()
                .replace(' ', "");
            assert!(
                out.contains(&format!(
                    "`#[runner::test]` already adds `#[test]`; remove `#[{path}]`"
                )),
                "{out}"
            );
            // Only the `#[test]` that the attribute adds is left.
            let item = out
                .split(":: core :: compile_error")
                .next()
                .unwrap_or_default();
            assert_eq!(item.matches("test]").count(), 1, "{out}");
        }
    }

    #[test]
    fn cfg_test_is_not_a_test_attribute() {
        let out = expand_str(
            quote!(),
            quote!(
                #[cfg(test)]
                #[cfg_attr(test, allow(unused))]
                fn t() {}
            ),
        );
        assert!(!out.contains("compile_error"), "{out}");
    }

    #[test]
    fn an_async_test_is_a_test_whose_body_is_one_run() {
        let out = expand_str(
            quote!(timeout = "5s"),
            quote!(
                async fn t() -> Result<(), E> {
                    f().await?;
                    Ok(())
                }
            ),
        );
        assert!(
            out.starts_with("# [:: core :: prelude :: v1 :: test] fn t () -> Result < () , E >"),
            "{out}"
        );
        assert!(
            out.contains(
                "| __runner_scope : & :: runner :: __private :: TestScope < '_ > | \
                 -> Result < () , E > { :: runner :: __private :: TestScope :: run_body \
                 (__runner_scope , async move { let __runner_ret : Result < () , E > = \
                 { f () . await ? ; Ok (()) } ; # [allow (unreachable_code)] return __runner_ret ; }) }"
            ),
            "{out}"
        );
        assert!(!out.contains("compile_error"), "{out}");
    }

    #[test]
    fn an_async_shared_test_is_one_run_on_the_shared_runner() {
        let out = expand_str(
            quote!(shared),
            quote!(
                async fn t() {}
            ),
        );
        assert!(
            out.contains(
                "return :: runner :: __private :: shared_test (:: core :: option :: Option :: None"
            ),
            "{out}"
        );
        assert!(
            out.contains(
                "{ :: runner :: __private :: SharedScope :: run_body (__runner_scope , async move {"
            ),
            "{out}"
        );
        assert!(!out.contains("compile_error"), "{out}");
    }

    #[test]
    fn an_async_test_with_parameters_is_an_error() {
        let out = expand_str(
            quote!(),
            quote!(
                async fn t(x: u8) {}
            ),
        );
        assert!(
            out.contains("`#[runner::test]` functions cannot take parameters"),
            "{out}"
        );
        assert!(
            out.starts_with("# [allow (dead_code)] fn t (x : u8)"),
            "{out}"
        );
    }
}
