//! Turns every `run!(fut)` of a scope's body into a `run` call on the
//! scope's runner.
//!
//! Two walks do the work. [`Rewriter`] is a [`VisitMut`] over the parsed
//! body: it replaces `run!` expressions and statements, and tracks `async`
//! blocks and closures, where `run!` would block the loop that is polling
//! them. The arguments of other macros (`assert_eq!(run!(f()), 1)`) are not
//! parsed by syn, so [`Rewriter::rewrite_tokens`] looks for
//! `run ! (...)` token sequences in them instead, the way async-trait
//! replaces `self` in macro arguments.
//!
//! A misused `run!` is replaced by a `compile_error!` at its place: rustc
//! gives that expression an error type, so nothing around it reports a
//! follow-on error.

use proc_macro2::{Delimiter, Group, Ident, Spacing, Span, TokenStream, TokenTree};
use quote::{quote_spanned, ToTokens};
use syn::parse::{ParseStream, Parser};
use syn::visit_mut::{self, VisitMut};
use syn::{Block, Error, Expr, Item, Macro, Path, Stmt, Token};

/// The message for `run!` inside an `async` block.
const IN_ASYNC_BLOCK: &str =
    "`run!` cannot be used inside an `async` block; `.await` the future instead";
/// The message for `run!` inside an `async` closure.
const IN_ASYNC_CLOSURE: &str =
    "`run!` cannot be used inside an `async` closure; `.await` the future instead";
/// The message for `run!` in a closure that runs on another thread.
const IN_THREAD: &str = "`run!` cannot be used in a closure that runs on another thread: a runner \
     stays on the thread that made it; spawn a task with `runner::spawn` instead, or move a \
     `runner::handle()` into the closure and call `handle.block_on(fut)`";
/// The message for `run!` with no future or with more than one.
const BAD_ARGUMENTS: &str = "`run!` takes exactly one future, like `run!(fetch())`";

/// Rewrites the `run!` calls of one scope.
pub(crate) struct Rewriter<'a> {
    /// What a `run!` becomes.
    target: Target<'a>,
    /// The path that names the `runner` crate in generated code.
    krate: &'a Path,
    /// The paths, without `run`, that may prefix `run!`: none (`run!`),
    /// `runner`, and the `crate = "..."` path. Leading `::` is ignored.
    prefixes: Vec<Vec<String>>,
    /// Why `run!` cannot be used where the walk is, innermost last: inside
    /// an `async` block or closure, or a closure that runs on another
    /// thread.
    barriers: Vec<&'static str>,
}

impl<'a> Rewriter<'a> {
    /// A rewriter turning `run!(fut)` into `target`.
    ///
    /// `krate` is also accepted as a prefix of `run!`, besides `runner`.
    pub(crate) fn new(target: Target<'a>, krate: &'a Path) -> Self {
        let mut prefixes = vec![Vec::new(), vec!["runner".to_owned()]];
        let custom: Vec<String> = krate
            .segments
            .iter()
            .map(|segment| segment.ident.to_string())
            .collect();
        if !prefixes.contains(&custom) {
            prefixes.push(custom);
        }
        Rewriter {
            target,
            krate,
            prefixes,
            barriers: Vec::new(),
        }
    }

    /// Whether `path` names our `run!` macro.
    fn is_run_path(&self, path: &Path) -> bool {
        let mut segments = Vec::new();
        for segment in &path.segments {
            if !segment.arguments.is_none() {
                return false;
            }
            segments.push(segment.ident.to_string());
        }
        self.accepts(&segments, path.leading_colon.is_some())
    }

    /// Whether a path made of `segments` (with a leading `::` or not) names
    /// our `run!` macro.
    fn accepts(&self, segments: &[String], leading_colon: bool) -> bool {
        match segments.split_last() {
            // `::run!` would name an extern crate called `run`.
            Some((last, prefix)) => {
                last == "run"
                    && !(prefix.is_empty() && leading_colon)
                    && self.prefixes.iter().any(|accepted| accepted == prefix)
            }
            None => false,
        }
    }

    /// The expression that replaces one `run!` invocation.
    ///
    /// `whole` is every token of the invocation (for error spans), `group`
    /// the span of its delimiters and `arguments` what is between them.
    fn replace(&mut self, whole: TokenStream, group: Span, arguments: TokenStream) -> TokenStream {
        if let Some(kind) = self.barriers.last() {
            return error_expr(Error::new_spanned(whole, kind));
        }
        let mut future = match parse_future.parse2(arguments) {
            Ok(future) => future,
            Err(_) => return error_expr(Error::new_spanned(whole, BAD_ARGUMENTS)),
        };
        // Nested `run!`s run first, while the outer one is being evaluated.
        self.visit_expr_mut(&mut future);
        // The call is spanned on the `run!`: its path on the first token of
        // `run!`, its parentheses on the `run!`'s delimiters, so the call
        // expression covers exactly `run!(..)`. rustc's errors, lints and
        // suggestions then point there, and `Location::caller()` in
        // `Runner::run` is that line; one token spanned on the attribute
        // would drag them all to the attribute. The runner binding keeps its
        // mixed-site hygiene, only located here.
        let start = whole.into_iter().next().map_or(group, |token| token.span());
        self.target
            .call_with_parens(self.krate, start, group, future.into_token_stream())
    }

    /// The replacement of a `run!` given as a [`Macro`].
    fn replace_macro(&mut self, whole: TokenStream, mac: &Macro) -> TokenStream {
        let group = mac.delimiter.span().join();
        self.replace(whole, group, mac.tokens.clone())
    }

    /// Rewrites the body of an `async fn`, which runs as one `async` block:
    /// a `run!` anywhere in it is an error.
    pub(crate) fn visit_async_body_mut(&mut self, block: &mut Block) {
        self.behind(IN_ASYNC_BLOCK, |this| this.visit_block_mut(block));
    }

    /// Visits `inner` as code where `run!` cannot be used, for `why`.
    fn behind(&mut self, kind: &'static str, inner: impl FnOnce(&mut Self)) {
        self.barriers.push(kind);
        inner(self);
        self.barriers.pop();
    }

    /// Rewrites `run!` invocations found in the tokens of another macro's
    /// arguments, recursing into groups.
    pub(crate) fn rewrite_tokens(&mut self, tokens: TokenStream) -> TokenStream {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        let mut out = TokenStream::new();
        // How many `async` closures opened in this token list are still open:
        // such a closure's body runs to the next `,` or `;` at this level.
        let mut open_closures = 0;
        let mut i = 0;
        while i < tokens.len() {
            if let Some(end) = self.match_run(&tokens, i) {
                let whole: TokenStream = tokens[i..end].iter().cloned().collect();
                let (span, arguments) = match &tokens[end - 1] {
                    TokenTree::Group(group) => (group.span(), group.stream()),
                    // `match_run` only matches `run ! (group)` at the end.
                    _ => (Span::call_site(), TokenStream::new()),
                };
                out.extend(self.replace(whole, span, arguments));
                i = end;
                continue;
            }
            match &tokens[i] {
                TokenTree::Ident(ident) if ident == "async" => {
                    // `async [move] { .. }` or `async [move] |..| ..`.
                    let mut next = i + 1;
                    if matches!(tokens.get(next), Some(TokenTree::Ident(m)) if m == "move") {
                        next += 1;
                    }
                    match tokens.get(next) {
                        Some(TokenTree::Group(group)) if group.delimiter() == Delimiter::Brace => {
                            out.extend(tokens[i..next].iter().cloned());
                            let mut rewritten = None;
                            self.behind(IN_ASYNC_BLOCK, |this| {
                                rewritten = Some(this.rewrite_group(group));
                            });
                            out.extend(rewritten);
                            i = next + 1;
                            continue;
                        }
                        Some(TokenTree::Punct(bar)) if bar.as_char() == '|' => {
                            self.barriers.push(IN_ASYNC_CLOSURE);
                            open_closures += 1;
                        }
                        _ => {}
                    }
                    out.extend([tokens[i].clone()]);
                }
                TokenTree::Punct(punct) if matches!(punct.as_char(), ',' | ';') => {
                    self.close_async_closures(&mut open_closures);
                    out.extend([tokens[i].clone()]);
                }
                TokenTree::Group(group) => {
                    out.extend([TokenTree::Group(self.rewrite_group(group))])
                }
                other => out.extend([other.clone()]),
            }
            i += 1;
        }
        self.close_async_closures(&mut open_closures);
        out
    }

    /// Ends the `async` closures that [`Self::rewrite_tokens`] opened.
    fn close_async_closures(&mut self, open: &mut usize) {
        for _ in 0..*open {
            self.barriers.pop();
        }
        *open = 0;
    }

    /// A copy of `group` with its tokens rewritten, keeping its span.
    fn rewrite_group(&mut self, group: &Group) -> Group {
        let mut rewritten = Group::new(group.delimiter(), self.rewrite_tokens(group.stream()));
        rewritten.set_span(group.span());
        rewritten
    }

    /// If a `run!(...)` path invocation starts at `tokens[start]`, the index
    /// just past its group.
    fn match_run(&self, tokens: &[TokenTree], start: usize) -> Option<usize> {
        // Not in the middle of a path such as `other::run!`.
        if start > 0 && is_punct(&tokens[start - 1], ':') {
            return None;
        }
        let mut i = start;
        let leading_colon = is_path_sep(tokens, i);
        if leading_colon {
            i += 2;
        }
        let mut segments = Vec::new();
        loop {
            match tokens.get(i) {
                Some(TokenTree::Ident(ident)) => segments.push(ident.to_string()),
                _ => return None,
            }
            i += 1;
            if is_path_sep(tokens, i) {
                i += 2;
            } else {
                break;
            }
        }
        let is_run = self.accepts(&segments, leading_colon);
        let bang = tokens.get(i).is_some_and(|token| is_punct(token, '!'));
        let group = matches!(tokens.get(i + 1), Some(TokenTree::Group(g)) if g.delimiter() != Delimiter::None);
        (is_run && bang && group).then_some(i + 2)
    }
}

impl VisitMut for Rewriter<'_> {
    fn visit_block_mut(&mut self, block: &mut Block) {
        let count = block.stmts.len();
        for (index, stmt) in block.stmts.iter_mut().enumerate() {
            let is_last = index + 1 == count;
            match stmt {
                Stmt::Macro(stmt_macro) if self.is_run_path(&stmt_macro.mac.path) => {
                    let whole = stmt_macro.mac.to_token_stream();
                    let replaced = self.replace_macro(whole, &stmt_macro.mac);
                    // `run! { f() }` needs no `;` as a statement, the call does.
                    let semi = match stmt_macro.semi_token {
                        Some(semi) => Some(semi),
                        None if is_last => None,
                        None => Some(Token![;](stmt_macro.mac.delimiter.span().close())),
                    };
                    *stmt = Stmt::Expr(Expr::Verbatim(replaced), semi);
                }
                Stmt::Macro(stmt_macro) => {
                    let tokens = std::mem::take(&mut stmt_macro.mac.tokens);
                    stmt_macro.mac.tokens = self.rewrite_tokens(tokens);
                }
                _ => self.visit_stmt_mut(stmt),
            }
        }
    }

    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        match expr {
            Expr::Macro(expr_macro) if self.is_run_path(&expr_macro.mac.path) => {
                let whole = expr_macro.to_token_stream();
                let replaced = self.replace_macro(whole, &expr_macro.mac);
                *expr = Expr::Verbatim(replaced);
            }
            Expr::Macro(expr_macro) => {
                let tokens = std::mem::take(&mut expr_macro.mac.tokens);
                expr_macro.mac.tokens = self.rewrite_tokens(tokens);
            }
            Expr::Async(_) => {
                self.behind(IN_ASYNC_BLOCK, |this| visit_mut::visit_expr_mut(this, expr))
            }
            Expr::Closure(closure) if closure.asyncness.is_some() => {
                self.behind(IN_ASYNC_CLOSURE, |this| {
                    visit_mut::visit_expr_mut(this, expr)
                });
            }
            Expr::Call(call) if starts_a_thread(&call.func) => {
                self.visit_expr_mut(&mut call.func);
                self.visit_thread_arguments(call.args.iter_mut());
            }
            Expr::MethodCall(call) if call.method == "spawn" => {
                // `scope.spawn(|| ..)`, `thread::Builder::new().spawn(|| ..)`.
                self.visit_expr_mut(&mut call.receiver);
                self.visit_thread_arguments(call.args.iter_mut());
            }
            _ => visit_mut::visit_expr_mut(self, expr),
        }
    }

    /// Nested items (`fn`, `impl`, `mod`, ...) are not part of the scope:
    /// their `run!`s are left to the fallback `run!`, which explains.
    fn visit_item_mut(&mut self, _: &mut Item) {}
}

impl Rewriter<'_> {
    /// Visits the arguments of a call that starts a thread: a closure among
    /// them runs there.
    fn visit_thread_arguments<'e>(&mut self, arguments: impl Iterator<Item = &'e mut Expr>) {
        for argument in arguments {
            match argument {
                Expr::Closure(closure) if closure.asyncness.is_none() => {
                    self.behind(IN_THREAD, |this| this.visit_expr_mut(argument))
                }
                _ => self.visit_expr_mut(argument),
            }
        }
    }
}

/// Whether calling `function` starts a thread that runs a closure argument:
/// `thread::spawn`, `std::thread::spawn` and such, `spawn_blocking`, and
/// `unblock` (the blocking pool).
fn starts_a_thread(function: &Expr) -> bool {
    let Expr::Path(path) = function else {
        return false;
    };
    let mut segments = path.path.segments.iter().rev();
    match segments.next() {
        Some(last) if last.ident == "spawn" => segments.next().is_some_and(|s| s.ident == "thread"),
        Some(last) => last.ident == "spawn_blocking" || last.ident == "unblock",
        None => false,
    }
}

/// What a `run!(fut)` becomes:
/// `krate::__private::<runs_on>::run(runner, fut)`.
#[derive(Clone, Copy)]
pub(crate) struct Target<'a> {
    /// The hidden binding holding a reference to what runs the futures.
    pub(crate) runner: &'a Ident,
    /// Its type: `Runner`, or `TestScope` or `SharedScope` in a
    /// `#[runner::test]`.
    pub(crate) runs_on: &'static str,
}

impl Target<'_> {
    /// The run of an `async fn`'s whole body on the target, every token of
    /// it spanned on `span` (the runner binding keeps its mixed-site
    /// hygiene, only located there): a test's scope says "the run at" in
    /// its timeout messages, where a `run!` says "the `run!` at"; a plain
    /// runner runs it as a `run!`.
    pub(crate) fn call_body(self, krate: &Path, span: Span, future: TokenStream) -> TokenStream {
        let method = match self.runs_on {
            "Runner" => "run",
            _ => "run_body",
        };
        self.call_method(krate, method, span, span, future)
    }

    /// A `run` call, every token spanned on `span`, its parentheses on
    /// `parens`.
    fn call_with_parens(
        self,
        krate: &Path,
        span: Span,
        parens: Span,
        future: TokenStream,
    ) -> TokenStream {
        self.call_method(krate, "run", span, parens, future)
    }

    /// `krate::__private::<runs_on>::<method>(runner, future)`, spanned on
    /// `span`, its parentheses on `parens`.
    fn call_method(
        self,
        krate: &Path,
        method: &str,
        span: Span,
        parens: Span,
        future: TokenStream,
    ) -> TokenStream {
        let krate = respan(krate.to_token_stream(), span);
        let runner = Ident::new(
            &self.runner.to_string(),
            self.runner.span().located_at(span),
        );
        let runs_on = Ident::new(self.runs_on, span);
        let mut parenthesized = Group::new(
            Delimiter::Parenthesis,
            quote_spanned!(span=> #runner, #future),
        );
        parenthesized.set_span(parens);
        let method = Ident::new(method, span);
        quote_spanned!(span=> #krate::__private::#runs_on::#method #parenthesized)
    }
}

/// Parses the arguments of `run!`: one expression, optionally followed by a
/// comma.
fn parse_future(input: ParseStream<'_>) -> syn::Result<Expr> {
    let future: Expr = input.parse()?;
    if input.peek(Token![,]) {
        input.parse::<Token![,]>()?;
    }
    Ok(future)
}

/// `error` as an expression: `::core::compile_error!("...")`.
///
/// syn writes `compile_error! { .. }` with braces, which at the start of a
/// statement ends the expression: `run!(f()) + 1` would become a statement
/// followed by `+ 1`. Parentheses keep it an expression.
fn error_expr(error: Error) -> TokenStream {
    error
        .to_compile_error()
        .into_iter()
        .map(|token| match token {
            TokenTree::Group(group) if group.delimiter() == Delimiter::Brace => {
                let mut parens = Group::new(Delimiter::Parenthesis, group.stream());
                parens.set_span(group.span());
                TokenTree::Group(parens)
            }
            other => other,
        })
        .collect()
}

/// `tokens` with every span, in groups too, set to `span`.
pub(crate) fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut token| {
            if let TokenTree::Group(group) = &token {
                let mut group = Group::new(group.delimiter(), respan(group.stream(), span));
                group.set_span(span);
                token = TokenTree::Group(group);
            }
            token.set_span(span);
            token
        })
        .collect()
}

/// Whether `token` is the punctuation `ch`.
fn is_punct(token: &TokenTree, ch: char) -> bool {
    matches!(token, TokenTree::Punct(punct) if punct.as_char() == ch)
}

/// Whether `tokens[i..]` starts with `::`.
fn is_path_sep(tokens: &[TokenTree], i: usize) -> bool {
    match (tokens.get(i), tokens.get(i + 1)) {
        (Some(TokenTree::Punct(first)), Some(second)) => {
            first.as_char() == ':' && first.spacing() == Spacing::Joint && is_punct(second, ':')
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    /// Rewrites `body` (the inside of a block) and returns it as a string.
    fn rewrite_with(krate: Path, body: TokenStream) -> String {
        let runner = Ident::new("__runner_scope", Span::mixed_site());
        let mut block: Block = syn::parse2(quote!({ #body })).expect("test input is a block");
        let target = Target {
            runner: &runner,
            runs_on: "Runner",
        };
        Rewriter::new(target, &krate).visit_block_mut(&mut block);
        block.to_token_stream().to_string()
    }

    fn rewrite(body: TokenStream) -> String {
        rewrite_with(syn::parse_quote!(::runner), body)
    }

    const CALL: &str = ":: runner :: __private :: Runner :: run (__runner_scope ,";

    #[test]
    fn run_in_statements_and_expressions() {
        let out = rewrite(quote!(run!(a()); let x = run!(b()) + run!(c()); run!(d())));
        assert_eq!(out.matches(CALL).count(), 4, "{out}");
        assert!(!out.contains("run !"), "{out}");
        assert!(syn::parse_str::<Block>(&out).is_ok(), "{out}");
    }

    #[test]
    fn accepted_paths() {
        let out = rewrite(
            quote!(run!(a()); runner::run!(b()); ::runner::run!(c()); other::run!(d()); ::run!(e())),
        );
        assert_eq!(out.matches(CALL).count(), 3, "{out}");
        assert!(out.contains("other :: run ! (d ())"), "{out}");
        assert!(out.contains(":: run ! (e ())"), "{out}");
    }

    #[test]
    fn crate_path_is_accepted_as_prefix() {
        let out = rewrite_with(
            syn::parse_quote!(my::rt),
            quote!(my::rt::run!(a()); run!(b()); runner::run!(c()); rt::run!(d())),
        );
        assert_eq!(
            out.matches("my :: rt :: __private :: Runner :: run (")
                .count(),
            3,
            "{out}"
        );
        assert!(out.contains("rt :: run ! (d ())"), "{out}");
    }

    #[test]
    fn braced_statement_gets_a_semicolon_unless_last() {
        let out = rewrite(quote!(run! { a() } let x = 1; run! { b() }));
        assert!(syn::parse_str::<Block>(&out).is_ok(), "{out}");
        let block: Block = syn::parse_str(&out).unwrap();
        assert!(
            matches!(block.stmts.last(), Some(Stmt::Expr(_, None))),
            "{out}"
        );
    }

    #[test]
    fn inside_other_macros() {
        let out = rewrite(quote!(
            assert_eq!(run!(f()), 1);
            println!("{}", runner::run![g()]);
            let v = vec![run!(h()); 3];
            format!("{x}", x = run!(i()))
        ));
        assert_eq!(out.matches(CALL).count(), 4, "{out}");
    }

    #[test]
    fn nested_run_is_rewritten_too() {
        let out = rewrite(quote!(run!(add(run!(one()), assert_eq!(run!(two()), 2)))));
        assert_eq!(out.matches(CALL).count(), 3, "{out}");
    }

    #[test]
    fn loops_and_closures() {
        let out = rewrite(quote!(
            for i in 0..3 { total += run!(echo(i)); }
            let ask = |msg| run!(echo(msg));
            while run!(more()) {}
        ));
        assert_eq!(out.matches(CALL).count(), 3, "{out}");
    }

    #[test]
    fn nested_items_are_left_alone() {
        let out = rewrite(quote!(
            fn inner() { run!(a()) }
            impl Foo { fn f(&self) { run!(b()) } }
            mod m { fn g() { run!(c()) } }
            run!(d())
        ));
        assert_eq!(out.matches(CALL).count(), 1, "{out}");
        assert_eq!(out.matches("run ! (").count(), 3, "{out}");
    }

    #[test]
    fn async_blocks_and_closures_are_errors() {
        let out = rewrite(quote!(
            let a = async { run!(a()) };
            let b = async move { let c = || run!(b()); };
            let c = async |x| run!(c(x));
            let d = async move |x| { run!(d(x)) };
            let e = || run!(e());
        ));
        assert_eq!(out.matches(IN_ASYNC_BLOCK).count(), 2, "{out}");
        assert_eq!(out.matches(IN_ASYNC_CLOSURE).count(), 2, "{out}");
        assert_eq!(out.matches(CALL).count(), 1, "{out}");
    }

    #[test]
    fn async_inside_other_macros_are_errors() {
        let out = rewrite(quote!(
            spawn!(async { run!(a()) }, run!(ok()));
            spawn!(async move { run!(b()) });
            spawn!(async |x| run!(c(x)), run!(ok()));
            spawn!(async move |x| foo(run!(d(x))); run!(ok()));
        ));
        assert_eq!(out.matches(IN_ASYNC_BLOCK).count(), 2, "{out}");
        assert_eq!(out.matches(IN_ASYNC_CLOSURE).count(), 2, "{out}");
        assert_eq!(out.matches(CALL).count(), 3, "{out}");
    }

    #[test]
    fn closures_run_on_other_threads_are_errors() {
        let out = rewrite(quote!(
            thread::spawn(|| run!(a()));
            std::thread::spawn(move || { run!(b()) });
            scope.spawn(|| run!(c()));
            thread::Builder::new().spawn(|| run!(d()));
            runner::unblock(|| run!(e()));
            tokio::task::spawn_blocking(|| run!(f()));
            let g = || run!(g());
            runner::spawn(async_fn(run!(h())));
            other::spawn(|| run!(i()));
        ));
        assert_eq!(out.matches(IN_THREAD).count(), 6, "{out}");
        assert_eq!(out.matches(CALL).count(), 3, "{out}");
    }

    #[test]
    fn every_run_in_an_async_body_is_an_error() {
        let runner = Ident::new("__runner_scope", Span::mixed_site());
        let krate: Path = syn::parse_quote!(::runner);
        let mut block: Block = syn::parse_quote!({
            run!(a());
            let b = run!(b()) + 1;
            assert!(run!(c()));
            std::thread::spawn(|| run!(d()));
        });
        let target = Target {
            runner: &runner,
            runs_on: "Runner",
        };
        Rewriter::new(target, &krate).visit_async_body_mut(&mut block);
        let out = block.to_token_stream().to_string();
        assert_eq!(out.matches(IN_ASYNC_BLOCK).count(), 3, "{out}");
        assert_eq!(out.matches(IN_THREAD).count(), 1, "{out}");
        assert!(!out.contains(CALL), "{out}");
        assert!(syn::parse_str::<Block>(&out).is_ok(), "{out}");
    }

    #[test]
    fn errors_stay_expressions() {
        let out = rewrite(quote!(let a = async { run!(a()) + 1 }; run!(b(), c()) + 1));
        assert!(
            out.contains(
                ":: core :: compile_error ! (\"`run!` cannot be used inside an `async` block"
            ),
            "{out}"
        );
        assert!(syn::parse_str::<Block>(&out).is_ok(), "{out}");
    }

    #[test]
    fn bad_arguments_are_errors() {
        let out = rewrite(quote!(run!(); run!(a, b); run!(a(),); assert!(run![]);));
        assert_eq!(out.matches(BAD_ARGUMENTS).count(), 3, "{out}");
        assert_eq!(out.matches(CALL).count(), 1, "{out}");
    }
}
