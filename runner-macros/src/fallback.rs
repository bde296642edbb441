//! Best-effort output when the attribute finds mistakes.
//!
//! The item is still emitted, as expanded as it could be, next to one
//! `compile_error!` per mistake: the user sees only the errors that matter,
//! and an IDE keeps resolving names inside the function (thiserror's
//! `fallback.rs`, tokio's `token_stream_with_error`).

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use syn::Error;

/// `output` followed by the `compile_error!`s of `errors`, if any.
pub(crate) fn with_errors(mut output: TokenStream, errors: Option<Error>) -> TokenStream {
    if let Some(errors) = errors {
        output.extend(errors.into_compile_error());
    }
    output
}

/// The head of an item: its tokens after the outer attributes and before
/// its body or `;`, such as `pub struct Point` or `impl<T> Trait for T`.
///
/// Errors about the whole item point at this, not at every line of its body.
pub(crate) fn item_head(item: TokenStream) -> TokenStream {
    let tokens: Vec<TokenTree> = item.into_iter().collect();
    let mut head = TokenStream::new();
    let mut i = 0;
    // Skip `#[...]` outer attributes.
    while let (Some(TokenTree::Punct(pound)), Some(TokenTree::Group(group))) =
        (tokens.get(i), tokens.get(i + 1))
    {
        if pound.as_char() != '#' || group.delimiter() != Delimiter::Bracket {
            break;
        }
        i += 2;
    }
    for token in &tokens[i.min(tokens.len())..] {
        match token {
            TokenTree::Group(group) if group.delimiter() == Delimiter::Brace => break,
            TokenTree::Punct(punct) if punct.as_char() == ';' => break,
            other => head.extend([other.clone()]),
        }
    }
    head
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn head_skips_attributes_and_body() {
        let head = |tokens: TokenStream| item_head(tokens).to_string();
        assert_eq!(
            head(quote!(
                #[derive(Debug)]
                pub struct Point {
                    x: i32,
                }
            )),
            "pub struct Point"
        );
        assert_eq!(
            head(quote!(
                struct Unit;
            )),
            "struct Unit"
        );
        assert_eq!(
            head(quote!(
                impl<T> Trait for Vec<T> {
                    fn f() {}
                }
            )),
            "impl < T > Trait for Vec < T >"
        );
        assert_eq!(
            head(quote!(
                #[a]
                #[b]
                mod m {}
            )),
            "mod m"
        );
        assert_eq!(head(quote!()), "");
        assert_eq!(head(quote!(#)), "#");
    }

    #[test]
    fn errors_follow_the_item() {
        let out = with_errors(
            quote!(
                fn f() {}
            ),
            Some(Error::new(proc_macro2::Span::call_site(), "oops")),
        );
        assert_eq!(
            out.to_string(),
            "fn f () { } :: core :: compile_error ! { \"oops\" }"
        );
        assert_eq!(
            with_errors(
                quote!(
                    fn f() {}
                ),
                None
            )
            .to_string(),
            "fn f () { }"
        );
    }
}
