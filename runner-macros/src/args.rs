//! Options of `#[runner::scope(...)]` and `#[runner::test(...)]`.
//!
//! Parsing keeps going after a bad option, so one compile collects every
//! mistake; each error points at the tokens of the option it is about.

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::{Error, Expr, ExprLit, Lit, LitStr, Path};

/// Which attribute is being expanded; decides the valid options and the
/// attribute name used in messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `#[runner::scope]`.
    Scope,
    /// `#[runner::test]`.
    Test,
}

impl Kind {
    /// The attribute as users write it, for messages.
    pub(crate) fn attr(self) -> &'static str {
        match self {
            Kind::Scope => "#[runner::scope]",
            Kind::Test => "#[runner::test]",
        }
    }

    /// The options this attribute accepts, in the order the docs list them.
    fn options(self) -> &'static [&'static str] {
        match self {
            Kind::Scope => &[
                "debug",
                "worker_threads",
                "close_timeout",
                "virtual_time",
                "auto_advance",
                "crate",
            ],
            Kind::Test => &[
                "debug",
                "worker_threads",
                "close_timeout",
                "virtual_time",
                "auto_advance",
                "timeout",
                "shared",
                "crate",
            ],
        }
    }
}

/// A duration option such as `close_timeout = "200ms"`.
#[derive(Clone, Debug)]
pub(crate) struct DurationArg {
    /// How many `unit`s.
    pub(crate) amount: u64,
    /// Whether the amount counts seconds (`"5s"`) or milliseconds (`"200ms"`).
    pub(crate) unit: Unit,
    /// The span of the string literal, so generated code points at it.
    pub(crate) span: Span,
}

/// The unit of a [`DurationArg`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unit {
    /// `ms`.
    Millis,
    /// `s`.
    Secs,
}

impl ToTokens for DurationArg {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let mut amount = proc_macro2::Literal::u64_unsuffixed(self.amount);
        amount.set_span(self.span);
        let constructor = match self.unit {
            Unit::Millis => proc_macro2::Ident::new("from_millis", self.span),
            Unit::Secs => proc_macro2::Ident::new("from_secs", self.span),
        };
        tokens.extend(
            quote::quote_spanned!(self.span=> ::core::time::Duration::#constructor(#amount)),
        );
    }
}

/// The options given to the attribute, each with the span of its value.
#[derive(Clone, Default)]
pub(crate) struct Args {
    /// `debug` or `debug = true|false`.
    pub(crate) debug: Option<(bool, Span)>,
    /// `worker_threads = N`.
    pub(crate) worker_threads: Option<(usize, Span)>,
    /// `close_timeout = "200ms"`.
    pub(crate) close_timeout: Option<DurationArg>,
    /// `timeout = "5s"`, on `#[runner::test]` only.
    pub(crate) timeout: Option<DurationArg>,
    /// `virtual_time` or `virtual_time = true|false`.
    pub(crate) virtual_time: Option<(bool, Span)>,
    /// `auto_advance = "0ms"`: the virtual clock's auto-advance threshold;
    /// only with `virtual_time`.
    pub(crate) auto_advance: Option<DurationArg>,
    /// `shared`, on `#[runner::test]` only: the test runs on `runner::shared()`.
    pub(crate) shared: Option<(bool, Span)>,
    /// `crate = "path"`: where the `runner` crate is, if not at `::runner`.
    pub(crate) crate_path: Option<Path>,
}

impl Args {
    /// Whether the test runs on `runner::shared()`.
    pub(crate) fn is_shared(&self) -> bool {
        matches!(self.shared, Some((true, _)))
    }

    /// The path that generated code names the `runner` crate by.
    pub(crate) fn crate_path(&self) -> Path {
        match &self.crate_path {
            Some(path) => path.clone(),
            None => syn::parse_quote!(::runner),
        }
    }
}

/// Parses the attribute's arguments.
///
/// Always returns usable [`Args`] (the valid options, defaults for the rest),
/// together with every error found, so the caller can still expand the
/// function.
pub(crate) fn parse(kind: Kind, tokens: TokenStream) -> (Args, Option<Error>) {
    let mut args = Args::default();
    let mut errors: Vec<Error> = Vec::new();
    let result =
        syn::meta::parser(|meta| parse_one(kind, &mut args, &mut errors, meta)).parse2(tokens);
    if let Err(error) = result {
        errors.push(error);
    }
    validate_shared(&args, &mut errors);
    validate_auto_advance(kind, &args, &mut errors);
    (args, combine(errors))
}

/// `auto_advance` sets when a virtual clock jumps: without `virtual_time`
/// it would do nothing. (A `shared` test is told to remove it instead.)
fn validate_auto_advance(kind: Kind, args: &Args, errors: &mut Vec<Error>) {
    let Some(auto_advance) = &args.auto_advance else {
        return;
    };
    if args.is_shared() || matches!(args.virtual_time, Some((true, _))) {
        return;
    }
    let attr = kind.attr().trim_end_matches(']');
    errors.push(Error::new(
        auto_advance.span,
        format!(
            "`auto_advance` only applies to a virtual clock; add `virtual_time`, as in \
             `{attr}(virtual_time, auto_advance = \"0ms\")]`"
        ),
    ));
}

/// A `shared` test has no runner of its own: the options that configure
/// one, and virtual time, are mistakes there.
fn validate_shared(args: &Args, errors: &mut Vec<Error>) {
    if !matches!(args.shared, Some((true, _))) {
        return;
    }
    if let Some((true, span)) = args.virtual_time {
        errors.push(Error::new(
            span,
            "`shared` and `virtual_time` cannot be combined: the shared runner's clock counts \
             real time for every test; remove `shared` to give this test a runner of its own \
             with virtual time",
        ));
    }
    let own_runner = [
        ("debug", args.debug.map(|(_, span)| span)),
        ("worker_threads", args.worker_threads.map(|(_, span)| span)),
        ("close_timeout", args.close_timeout.as_ref().map(|d| d.span)),
        ("auto_advance", args.auto_advance.as_ref().map(|d| d.span)),
    ];
    for (option, span) in own_runner {
        if let Some(span) = span {
            errors.push(Error::new(
                span,
                format!(
                    "`{option}` configures the test's own runner, and a `shared` test runs on \
                     `runner::shared()` instead; remove `{option}`, or remove `shared`"
                ),
            ));
        }
    }
}

/// Folds several errors into one, or `None` when there are none.
pub(crate) fn combine(errors: impl IntoIterator<Item = Error>) -> Option<Error> {
    errors.into_iter().reduce(|mut all, next| {
        all.combine(next);
        all
    })
}

/// Parses one `name` or `name = value` option.
///
/// Mistakes about the option go to `errors` and parsing goes on; only a
/// malformed token sequence (which leaves nothing sensible to continue with)
/// is returned as `Err`.
fn parse_one(
    kind: Kind,
    args: &mut Args,
    errors: &mut Vec<Error>,
    meta: ParseNestedMeta<'_>,
) -> syn::Result<()> {
    let name = match meta.path.get_ident() {
        Some(ident) => ident.to_string(),
        None => String::new(),
    };
    let value = if meta.input.peek(syn::Token![=]) {
        Some(meta.value()?.parse::<Expr>()?)
    } else if meta.input.peek(syn::token::Paren) {
        // `name(...)` is never valid; take the group so parsing can go on.
        let group: proc_macro2::TokenTree = meta.input.parse()?;
        let path = &meta.path;
        errors.push(Error::new_spanned(
            quote!(#path #group),
            format!(
                "expected `{}` or `{} = ...`",
                path_str(path),
                path_str(path)
            ),
        ));
        return Ok(());
    } else {
        None
    };
    let path = &meta.path;
    let whole = quote!(#path = #value);

    match name.as_str() {
        "debug" => {
            if let Some(debug) = bool_value(path, value.as_ref(), errors) {
                set_once(&mut args.debug, debug, path, errors);
            }
        }
        "worker_threads" => {
            if let Some(threads) = usize_value(path, value.as_ref(), errors) {
                set_once(&mut args.worker_threads, threads, path, errors);
            }
        }
        "close_timeout" => {
            if let Some(duration) = duration_value(path, value.as_ref(), errors) {
                set_once(&mut args.close_timeout, duration, path, errors);
            }
        }
        "virtual_time" => {
            if let Some(virtual_time) = bool_value(path, value.as_ref(), errors) {
                set_once(&mut args.virtual_time, virtual_time, path, errors);
            }
        }
        "auto_advance" => {
            if let Some(duration) = duration_value(path, value.as_ref(), errors) {
                set_once(&mut args.auto_advance, duration, path, errors);
            }
        }
        "shared" if kind == Kind::Test => {
            if let Some(shared) = bool_value(path, value.as_ref(), errors) {
                set_once(&mut args.shared, shared, path, errors);
            }
        }
        "shared" => errors.push(Error::new_spanned(
            path,
            "`shared` is only accepted by `#[runner::test]`; a scope has a runner of its own, \
             use `runner::shared()` to reach the shared one",
        )),
        "timeout" if kind == Kind::Test => {
            if let Some(duration) = duration_value(path, value.as_ref(), errors) {
                set_once(&mut args.timeout, duration, path, errors);
            }
        }
        "timeout" => errors.push(Error::new_spanned(
            whole,
            "`timeout` is only accepted by `#[runner::test]`; remove it here, or use \
             `#[runner::test(timeout = \"5s\")]` on a test",
        )),
        "crate" => {
            if let Some(crate_path) = path_value(path, value.as_ref(), errors) {
                set_once(&mut args.crate_path, crate_path, path, errors);
            }
        }
        _ => errors.push(Error::new_spanned(
            path,
            format!(
                "unknown option `{}` for `{}`; expected one of {}",
                path_str(path),
                kind.attr(),
                kind.options()
                    .iter()
                    .map(|option| format!("`{option}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        )),
    }
    Ok(())
}

/// Stores `value` in `slot` unless the option was already given.
fn set_once<T>(slot: &mut Option<T>, value: T, path: &Path, errors: &mut Vec<Error>) {
    if slot.is_some() {
        errors.push(Error::new_spanned(
            path,
            format!("`{}` is given twice; keep only one", path_str(path)),
        ));
    } else {
        *slot = Some(value);
    }
}

/// `debug` alone means `debug = true`; with a value it must be a `bool`.
fn bool_value(path: &Path, value: Option<&Expr>, errors: &mut Vec<Error>) -> Option<(bool, Span)> {
    match value {
        None => Some((true, path_span(path))),
        Some(Expr::Lit(ExprLit {
            lit: Lit::Bool(flag),
            ..
        })) => Some((flag.value, flag.span)),
        Some(other) => {
            errors.push(Error::new_spanned(
                other,
                format!(
                    "`{}` expects `true` or `false`; write `{}` to turn it on",
                    path_str(path),
                    path_str(path)
                ),
            ));
            None
        }
    }
}

/// `worker_threads = N` with `N` an unsuffixed (or `usize`) integer literal.
fn usize_value(
    path: &Path,
    value: Option<&Expr>,
    errors: &mut Vec<Error>,
) -> Option<(usize, Span)> {
    let message = format!(
        "`{}` expects a number of threads, like `{} = 2`",
        path_str(path),
        path_str(path)
    );
    match value {
        Some(Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        })) if int.suffix().is_empty() || int.suffix() == "usize" => {
            match int.base10_parse::<usize>() {
                Ok(threads) => Some((threads, int.span())),
                Err(_) => {
                    errors.push(Error::new_spanned(int, message));
                    None
                }
            }
        }
        Some(other) => {
            errors.push(Error::new_spanned(other, message));
            None
        }
        None => {
            errors.push(Error::new_spanned(path, message));
            None
        }
    }
}

/// A duration given as a string literal: `"200ms"` or `"5s"`.
fn duration_value(
    path: &Path,
    value: Option<&Expr>,
    errors: &mut Vec<Error>,
) -> Option<DurationArg> {
    let message = format!(
        "`{}` expects a duration like \"200ms\" or \"5s\"",
        path_str(path)
    );
    let parsed = match value {
        Some(Expr::Lit(ExprLit {
            lit: Lit::Str(text),
            ..
        })) => parse_duration(&text.value()).map(|(amount, unit)| DurationArg {
            amount,
            unit,
            span: text.span(),
        }),
        _ => None,
    };
    if parsed.is_none() {
        match value {
            Some(value) => errors.push(Error::new_spanned(value, message)),
            None => errors.push(Error::new_spanned(path, message)),
        }
    }
    parsed
}

/// Parses `"<digits>ms"` or `"<digits>s"`; nothing else (no spaces, no
/// fractions, no other units).
pub(crate) fn parse_duration(text: &str) -> Option<(u64, Unit)> {
    let (digits, unit) = if let Some(digits) = text.strip_suffix("ms") {
        (digits, Unit::Millis)
    } else if let Some(digits) = text.strip_suffix('s') {
        (digits, Unit::Secs)
    } else {
        return None;
    };
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().map(|amount| (amount, unit))
}

/// `crate = "some::path"`.
fn path_value(path: &Path, value: Option<&Expr>, errors: &mut Vec<Error>) -> Option<Path> {
    let message = format!(
        "`{}` expects the path of the `runner` crate as a string, like `{} = \"runner\"`",
        path_str(path),
        path_str(path)
    );
    match value {
        Some(Expr::Lit(ExprLit {
            lit: Lit::Str(text),
            ..
        })) => match parse_crate_path(text) {
            Some(crate_path) => Some(crate_path),
            None => {
                errors.push(Error::new_spanned(text, message));
                None
            }
        },
        Some(other) => {
            errors.push(Error::new_spanned(other, message));
            None
        }
        None => {
            errors.push(Error::new_spanned(path, message));
            None
        }
    }
}

/// Parses the string of `crate = "..."` into a plain path (no generics),
/// with the literal's span on every token so that errors point at it.
fn parse_crate_path(text: &LitStr) -> Option<Path> {
    let crate_path: Path = text.parse().ok()?;
    let plain = crate_path
        .segments
        .iter()
        .all(|segment| segment.arguments.is_none());
    plain.then_some(crate_path)
}

/// A path as the user wrote it, for messages.
fn path_str(path: &Path) -> String {
    path.to_token_stream().to_string().replace(' ', "")
}

/// The span of a path's first token.
fn path_span(path: &Path) -> Span {
    match path.segments.first() {
        Some(segment) => segment.ident.span(),
        None => Span::call_site(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(kind: Kind, tokens: TokenStream) -> Args {
        let (args, error) = parse(kind, tokens);
        if let Some(error) = error {
            panic!("unexpected error: {error}");
        }
        args
    }

    fn messages(kind: Kind, tokens: TokenStream) -> Vec<String> {
        let (_, error) = parse(kind, tokens);
        error
            .map(|error| error.into_iter().map(|e| e.to_string()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn no_options_gives_defaults() {
        let args = parse_ok(Kind::Scope, quote!());
        assert!(args.debug.is_none());
        assert!(args.worker_threads.is_none());
        assert!(args.close_timeout.is_none());
        assert!(args.crate_path.is_none());
        assert_eq!(args.crate_path().to_token_stream().to_string(), ":: runner");
    }

    #[test]
    fn every_option_parses() {
        let args = parse_ok(
            Kind::Test,
            quote!(
                debug,
                worker_threads = 2,
                close_timeout = "200ms",
                timeout = "5s",
                crate = "my::rt"
            ),
        );
        assert_eq!(args.debug.map(|d| d.0), Some(true));
        assert_eq!(args.worker_threads.map(|w| w.0), Some(2));
        let close = args.close_timeout.clone().unwrap();
        assert_eq!((close.amount, close.unit), (200, Unit::Millis));
        let timeout = args.timeout.clone().unwrap();
        assert_eq!((timeout.amount, timeout.unit), (5, Unit::Secs));
        assert_eq!(args.crate_path().to_token_stream().to_string(), "my :: rt");
    }

    #[test]
    fn shared_and_virtual_time_parse_as_flags() {
        let shared = parse_ok(Kind::Test, quote!(shared, timeout = "1s"));
        assert!(shared.is_shared());
        let virtual_time = parse_ok(Kind::Scope, quote!(virtual_time = true));
        assert_eq!(virtual_time.virtual_time.map(|v| v.0), Some(true));
        assert!(!virtual_time.is_shared());
    }

    #[test]
    fn shared_refuses_virtual_time_and_own_runner_options() {
        let errors = messages(Kind::Test, quote!(shared, virtual_time, worker_threads = 1));
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].contains("cannot be combined"), "{errors:?}");
        assert!(errors[1].contains("`worker_threads` configures the test's own runner"));
    }

    #[test]
    fn auto_advance_is_a_duration_that_needs_virtual_time() {
        for kind in [Kind::Scope, Kind::Test] {
            let args = parse_ok(kind, quote!(virtual_time, auto_advance = "0ms"));
            let threshold = args.auto_advance.unwrap();
            assert_eq!((threshold.amount, threshold.unit), (0, Unit::Millis));
            let attr = kind.attr().trim_end_matches(']');
            for without in [
                quote!(auto_advance = "1s"),
                quote!(virtual_time = false, auto_advance = "1s"),
            ] {
                assert_eq!(
                    messages(kind, without),
                    [format!(
                        "`auto_advance` only applies to a virtual clock; add `virtual_time`, as in \
                         `{attr}(virtual_time, auto_advance = \"0ms\")]`"
                    )]
                );
            }
        }
        assert_eq!(
            messages(Kind::Scope, quote!(virtual_time, auto_advance = "soon")),
            ["`auto_advance` expects a duration like \"200ms\" or \"5s\""]
        );
    }

    #[test]
    fn shared_refuses_auto_advance_once() {
        assert_eq!(
            messages(Kind::Test, quote!(shared, auto_advance = "0ms")),
            [
                "`auto_advance` configures the test's own runner, and a `shared` test runs on \
              `runner::shared()` instead; remove `auto_advance`, or remove `shared`"
            ]
        );
    }

    #[test]
    fn debug_takes_an_optional_bool() {
        assert_eq!(
            parse_ok(Kind::Scope, quote!(debug = false))
                .debug
                .map(|d| d.0),
            Some(false)
        );
        assert_eq!(
            messages(Kind::Scope, quote!(debug = "yes")),
            ["`debug` expects `true` or `false`; write `debug` to turn it on"]
        );
    }

    #[test]
    fn durations_accept_ms_and_s_only() {
        assert_eq!(parse_duration("0s"), Some((0, Unit::Secs)));
        assert_eq!(parse_duration("200ms"), Some((200, Unit::Millis)));
        for bad in [
            "",
            "s",
            "ms",
            "2 minutes",
            "1.5s",
            "5 s",
            "-1s",
            "5",
            "5m",
            "5h",
            "+5s",
            "99999999999999999999999s",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn unknown_option_lists_the_valid_ones() {
        assert_eq!(
            messages(Kind::Scope, quote!(threads = 2)),
            ["unknown option `threads` for `#[runner::scope]`; expected one of `debug`, `worker_threads`, `close_timeout`, `virtual_time`, `auto_advance`, `crate`"]
        );
        assert_eq!(
            messages(Kind::Test, quote!(flavor)),
            ["unknown option `flavor` for `#[runner::test]`; expected one of `debug`, `worker_threads`, `close_timeout`, `virtual_time`, `auto_advance`, `timeout`, `shared`, `crate`"]
        );
    }

    #[test]
    fn every_mistake_is_reported_at_once() {
        assert_eq!(
            messages(
                Kind::Scope,
                quote!(debug, debug, worker_threads = "2", close_timeout = "2 minutes", timeout = "1s", crate = 3, nope(1)),
            ),
            [
                "`debug` is given twice; keep only one",
                "`worker_threads` expects a number of threads, like `worker_threads = 2`",
                "`close_timeout` expects a duration like \"200ms\" or \"5s\"",
                "`timeout` is only accepted by `#[runner::test]`; remove it here, or use `#[runner::test(timeout = \"5s\")]` on a test",
                "`crate` expects the path of the `runner` crate as a string, like `crate = \"runner\"`",
                "expected `nope` or `nope = ...`",
            ]
        );
    }

    #[test]
    fn valid_options_survive_bad_ones() {
        let (args, error) = parse(Kind::Scope, quote!(worker_threads = "x", debug));
        assert!(error.is_some());
        assert_eq!(args.debug.map(|d| d.0), Some(true));
    }

    #[test]
    fn worker_threads_rejects_other_types() {
        for tokens in [
            quote!(worker_threads = 2u8),
            quote!(worker_threads = -1),
            quote!(worker_threads = 1.5),
            quote!(worker_threads),
        ] {
            assert_eq!(
                messages(Kind::Scope, tokens),
                ["`worker_threads` expects a number of threads, like `worker_threads = 2`"]
            );
        }
        assert_eq!(
            parse_ok(Kind::Scope, quote!(worker_threads = 3usize))
                .worker_threads
                .map(|w| w.0),
            Some(3)
        );
    }

    #[test]
    fn crate_needs_a_plain_path_in_a_string() {
        for tokens in [
            quote!(crate = rt),
            quote!(crate = "a::<b>"),
            quote!(crate = "1"),
            quote!(crate = ""),
        ] {
            assert_eq!(
                messages(Kind::Scope, tokens),
                ["`crate` expects the path of the `runner` crate as a string, like `crate = \"runner\"`"]
            );
        }
    }

    #[test]
    fn malformed_arguments_are_an_error_not_a_panic() {
        assert!(!messages(Kind::Scope, quote!(worker_threads =)).is_empty());
        assert!(!messages(Kind::Scope, quote!(, ,)).is_empty());
        assert!(!messages(Kind::Scope, quote!("debug")).is_empty());
    }
}
