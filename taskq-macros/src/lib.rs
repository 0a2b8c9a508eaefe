//! `#[long_task(...)]`: turns an `async fn` into a registered taskq task.
//!
//! # Layout
//! - `options`: parsing and checking the attribute's `key = value` list.
//! - `unique`: its `unique(...)` option.
//! - `concurrency`: its `concurrency = n` / `concurrency(...)` option.
//! - `rate_limit`: its `rate_limit(...)` option.
//! - `expand` (this file): checking the function and emitting the
//!   registration, the typed handle and the JSON glue.
//!
//! Generated code names everything through `::taskq::__private`, so hosts
//! need neither `inventory` nor `serde_json` as direct dependencies.

mod concurrency;
mod options;
mod rate_limit;
mod unique;
mod values;

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Attribute, Expr, FnArg, ItemFn, Lit, Meta, ReturnType, parse_macro_input};

use options::TaskAttr;

/// Registers an `async fn` as a task type.
///
/// ```ignore
/// /// Analyses a data set (this doc comment becomes the description).
/// #[long_task(queue = "heavy", timeout = 7200, retries = 3)]
/// async fn analyze(ctx: TaskContext, p: AnalyzeParams) -> Result<Report, TaskError> { .. }
///
/// // Elsewhere: typed submission, checked by the compiler.
/// let id = client.submit(analyze, AnalyzeParams { .. }).await?;
/// ```
///
/// The function's name becomes a typed `taskq::registry::TaskHandle` constant; the
/// function itself is kept under a hidden name. Options (all optional):
/// `name`, `queue`, `priority`, `timeout` and `soft_timeout` (seconds),
/// `retries`, `retry_delay` (seconds), `backoff` (factor, or `true`/`false`),
/// `backoff_max` (seconds), `jitter` (0.0–1.0), `description`, and
/// `blocking = true` for a handler that blocks its thread (synchronous I/O,
/// long computation without `.await`): each attempt then runs on a thread
/// of the blocking pool, holding up no other handler.
///
/// `unique` makes the task type unique (see `taskq::Unique`): a submit
/// while another task of the queue holds the same key stores nothing and
/// answers with that task's id. Bare `unique` keys on all of the params
/// while a task is pending or running; `unique(...)` takes `fields = ["a",
/// "b"]` (the key is those params fields), or `key = "..."` (one key for
/// every such task), `period = 3600` (seconds: held at most that long) and
/// `states = ["pending", "running", "finished", "failed", "cancelled"]`.
///
/// A schedule declared next to the handler (upserted by name, the task's,
/// when a scheduler starts; checked here at compile time):
/// - `cron`: a cron expression, 5 fields or 6 with seconds first
///   (`cron = "0 */5 * * * *"`);
/// - `time_zone`: the cron expression's IANA time zone
///   (`time_zone = "Europe/Paris"`; UTC by default; only with `cron`);
/// - `every`: an interval instead of `cron` — `"30s"`, `"5m"`, `"2h"`,
///   `"1d"`, `"1500ms"` or a number of seconds, at least one second;
/// - `params`: the JSON params each tick submits
///   (`params = r#"{"to": "ops"}"#`; only with `cron` or `every`), checked
///   against the params type when a worker is built; without it `{}`, or
///   `null` for a params type that rejects `{}`.
#[proc_macro_attribute]
pub fn long_task(attr: TokenStream, item: TokenStream) -> TokenStream {
    let attr = parse_macro_input!(attr as TaskAttr);
    let item = parse_macro_input!(item as ItemFn);
    expand(attr, item)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

fn expand(attr: TaskAttr, mut item: ItemFn) -> syn::Result<TokenStream2> {
    let sig = &item.sig;
    if sig.asyncness.is_none() {
        return Err(syn::Error::new(
            sig.fn_token.span(),
            "#[long_task] needs an `async fn`",
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        // `Generics` prints without its where clause: underline whichever
        // part is there.
        let (generics, where_clause) = (&sig.generics, &sig.generics.where_clause);
        let generics = if generics.params.is_empty() {
            quote!(#where_clause)
        } else {
            quote!(#generics)
        };
        return Err(syn::Error::new_spanned(
            generics,
            "#[long_task] functions cannot be generic: the registry needs one concrete params type",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        return Err(syn::Error::new_spanned(
            variadic,
            "#[long_task] functions cannot be variadic",
        ));
    }
    let inputs: Vec<&FnArg> = sig.inputs.iter().collect();
    for input in &inputs {
        if let FnArg::Receiver(receiver) = input {
            return Err(syn::Error::new_spanned(
                receiver,
                "#[long_task] needs a free function, not a method",
            ));
        }
    }
    let typed = |input: &FnArg| match input {
        FnArg::Typed(pat) => (*pat.ty).clone(),
        FnArg::Receiver(_) => unreachable!("receivers were rejected above"),
    };
    let ctx_ty = match inputs.len() {
        1 => None,
        2 => Some(typed(inputs[0])),
        0 => {
            return Err(syn::Error::new(
                sig.paren_token.span.join(),
                "#[long_task] functions take `(params)` or `(ctx: TaskContext, params)`",
            ));
        }
        _ => {
            // Underline the arguments past the second one.
            let extra = &inputs[2..];
            return Err(syn::Error::new_spanned(
                quote!(#(#extra),*),
                "#[long_task] functions take `(params)` or `(ctx: TaskContext, params)`: \
                 put several values in one params struct",
            ));
        }
    };
    let params_ty = typed(inputs[inputs.len() - 1]);
    let return_ty = match &sig.output {
        ReturnType::Type(_, ty) => (**ty).clone(),
        ReturnType::Default => {
            return Err(syn::Error::new_spanned(
                sig,
                "#[long_task] functions return `Result<T, E>` (T: Serialize, E: Into<TaskError>): \
                 add a return type",
            ));
        }
    };

    let fn_name = sig.ident.clone();
    let vis = item.vis.clone();
    let task_name = attr
        .name
        .clone()
        .unwrap_or_else(|| syn::LitStr::new(&fn_name.to_string(), fn_name.span()));
    let docs: Vec<Attribute> = item
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .cloned()
        .collect();
    let description = attr
        .description
        .clone()
        .map(|d| d.value())
        .unwrap_or_else(|| doc_text(&docs));
    let options = attr.options_tokens(&description);
    let concurrency = concurrency::declared_tokens(
        attr.concurrency.as_ref(),
        attr.rate_limit.as_ref(),
        attr.key_rate_limit.as_ref(),
    );
    let schedule = attr.schedule_tokens(&task_name);

    let impl_name = format_ident!("__taskq_impl_{}", fn_name);
    item.sig.ident = impl_name.clone();
    item.attrs.retain(|a| !a.path().is_ident("doc"));
    item.vis = syn::Visibility::Inherited;

    // Type errors in the glue below are spanned at the user's tokens (the
    // context type, the params type, the return type) rather than at the
    // attribute. Inside `quote_spanned!`, paths are spelled out (an
    // interpolated `#private` keeps its call-site span and drags the error
    // back to the attribute), and locals such as `ctx` are interpolated so
    // that they keep the call-site span of their binding.
    let private = quote!(::taskq::__private);

    // The handle's result type, through `TaskResult` (so aliases work).
    let ok_ty = quote_spanned!(return_ty.span()=>
        <#return_ty as ::taskq::__private::TaskResult>::Ok
    );
    let err_ty = quote_spanned!(return_ty.span()=>
        <#return_ty as ::taskq::__private::TaskResult>::Err
    );
    let handle_ty =
        quote_spanned!(return_ty.span()=> ::taskq::__private::TaskHandle<#params_ty, #ok_ty>);

    // A first argument that is not a `TaskContext` is reported at its type
    // through a local trait with a plain message.
    let (ctx_check, ctx_param, args) = match &ctx_ty {
        Some(ctx_ty) => {
            let from_context =
                quote_spanned!(ctx_ty.span()=> <#ctx_ty as __TaskqContextArg>::from_context);
            let check = quote! {
                #[diagnostic::on_unimplemented(
                    message = "the first argument of a #[long_task] function is its `TaskContext`, not `{Self}`",
                    label = "expected `TaskContext`",
                    note = "#[long_task] functions take `(params)` or `(ctx: TaskContext, params)`"
                )]
                trait __TaskqContextArg {
                    fn from_context(ctx: ::taskq::TaskContext) -> Self;
                }

                impl __TaskqContextArg for ::taskq::TaskContext {
                    fn from_context(ctx: ::taskq::TaskContext) -> Self {
                        ctx
                    }
                }
            };
            (check, quote!(ctx), quote!(#from_context(ctx), params))
        }
        None => (quote!(), quote!(_ctx), quote!(params)),
    };

    // The handler's output goes through a local trait too: a return type
    // that is not a `Result` is reported at the return type with a plain
    // message (next to the `TaskResult` error of the handle's type), and not
    // again, at the attribute, by `run_handler`'s bounds.
    let result_check = quote! {
        #[diagnostic::on_unimplemented(
            message = "#[long_task] functions return `Result<T, E>`, not `{Self}`",
            label = "expected `Result<T, E>` (or an alias of it)"
        )]
        trait __TaskqIntoResult<T, E> {
            fn into_result(self) -> ::core::result::Result<T, E>;
        }

        impl<T, E> __TaskqIntoResult<T, E> for ::core::result::Result<T, E> {
            fn into_result(self) -> Self {
                self
            }
        }
    };
    let impl_at_return = syn::Ident::new(&impl_name.to_string(), return_ty.span());
    // The error is converted here too, so that an error type without
    // `Into<TaskError>` is reported at the return type only.
    let output = quote_spanned!(return_ty.span()=>
        __TaskqIntoResult::<#ok_ty, #err_ty>::into_result(#impl_at_return(#args).await)
            .map_err(::core::convert::Into::<::taskq::TaskError>::into)
    );
    // The typed handler the handle keeps (`resize.call(ctx, params)` in a
    // unit test), through which the registered JSON handler runs too: the
    // user's function is called from one place, so a type error in the
    // glue is reported once. A hidden item of its own, beside the
    // function, so both the handle and the registration name it.
    // Spanned at the return type: a return type that is not a `Result`
    // makes the item's signature ill-formed, and every use of the item
    // reports it there, where it is reported once already.
    let call_name = syn::Ident::new(&format!("__taskq_call_{fn_name}"), return_ty.span());
    let typed_future = quote_spanned!(return_ty.span()=>
        ::taskq::__private::TypedFuture<#ok_ty>
    );
    let call_fn = quote_spanned!(return_ty.span()=>
        fn #call_name(#ctx_param: ::taskq::TaskContext, params: #params_ty) -> #typed_future
    );
    let handle = quote_spanned!(return_ty.span()=>
        ::taskq::__private::TaskHandle::new(#task_name, #call_name)
    );
    let run_args = quote!(ctx, params, #call_name);
    let run = quote_spanned!(params_ty.span()=>
        ::std::boxed::Box::pin(::taskq::__private::run_typed::<#params_ty, _>(
            #run_args
        ))
    );
    // Spanned at the params type, so a type without `JsonSchema` is blamed
    // there; `params_schema` also strips doc-link syntax from the schema's
    // descriptions (they come from the type's doc comments).
    let schema = quote_spanned!(params_ty.span()=>
        ::taskq::__private::params_schema::<#params_ty>()
    );
    // Spanned at the return type, paths spelled out: a return type that
    // is not a `Result` then fails here with the very diagnostic the
    // handle's type gives, which the compiler reports once.
    let result_schema = quote_spanned!(return_ty.span()=>
        (&::taskq::__private::ResultSchemaProbe::<#ok_ty>::new()).result_schema()
    );

    Ok(quote! {
        #[doc(hidden)]
        #[allow(non_snake_case)]
        #item

        // `Into<TaskError>` on a `TaskError` is the usual case; the
        // conversion is spanned at the user's return type, so clippy would
        // blame the user's code.
        #[doc(hidden)]
        #[allow(non_snake_case, clippy::useless_conversion)]
        #call_fn {
            #ctx_check
            #result_check
            ::std::boxed::Box::pin(async move { #output })
        }

        #(#docs)*
        #[allow(non_upper_case_globals)]
        #vis const #fn_name: #handle_ty = #handle;

        const _: () = {
            fn handler(
                ctx: ::taskq::TaskContext,
                params: #private::serde_json::Value,
            ) -> #private::HandlerFuture {
                #run
            }

            fn params_schema() -> #private::schemars::Schema {
                #schema
            }

            // `None` when the result type has no `JsonSchema` (see
            // `ResultSchemaProbe`): no bound is put on handlers' results.
            fn result_schema() -> ::std::option::Option<#private::schemars::Schema> {
                #[allow(unused_imports)]
                use #private::{HasResultSchema as _, NoResultSchema as _};
                #result_schema
            }

            #private::inventory::submit! {
                ::taskq::__private::TaskDef {
                    name: #task_name,
                    options: #options,
                    params_schema,
                    validate: #private::validate_params::<#params_ty>,
                    result_schema,
                    concurrency: #concurrency,
                    handler,
                    location: ::taskq::__private::Location {
                        file: ::core::file!(),
                        line: ::core::line!(),
                        module: ::core::module_path!(),
                    },
                }
            }

            #schedule
        };
    })
}

/// The doc comment's text, lines joined, as the default description.
fn doc_text(docs: &[Attribute]) -> String {
    let lines: Vec<String> = docs
        .iter()
        .filter_map(|attr| match &attr.meta {
            Meta::NameValue(nv) => match &nv.value {
                Expr::Lit(lit) => match &lit.lit {
                    Lit::Str(s) => Some(s.value().trim().to_owned()),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        })
        .collect();
    lines.join("\n").trim().to_owned()
}
