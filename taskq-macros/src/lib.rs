//! `#[long_task(...)]`: turns an `async fn` into a registered taskq task.
//!
//! # Layout
//! - `options`: parsing and checking the attribute's `key = value` list.
//! - `expand` (this file): checking the function and emitting the
//!   registration, the typed handle and the JSON glue.
//!
//! Generated code names everything through `::taskq::__private`, so hosts
//! need neither `inventory` nor `serde_json` as direct dependencies.

mod options;

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
/// The function's name becomes a typed [`TaskHandle`] constant; the
/// function itself is kept under a hidden name. Options (all optional):
/// `name`, `queue`, `priority`, `timeout` and `soft_timeout` (seconds),
/// `retries`, `retry_delay` (seconds), `backoff` (factor, or `true`/`false`),
/// `backoff_max` (seconds), `jitter` (0.0–1.0), `description`.
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
        return Err(syn::Error::new_spanned(
            &sig.generics,
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
    let with_ctx = match inputs.len() {
        1 => false,
        2 => true,
        _ => {
            let span = if inputs.is_empty() {
                sig.paren_token.span.join()
            } else {
                sig.inputs.span()
            };
            return Err(syn::Error::new(
                span,
                "#[long_task] functions take `(params)` or `(ctx: TaskContext, params)`",
            ));
        }
    };
    let params_ty = match inputs[inputs.len() - 1] {
        FnArg::Typed(pat) => (*pat.ty).clone(),
        FnArg::Receiver(_) => unreachable!("receivers were rejected above"),
    };
    let return_ty = match &sig.output {
        ReturnType::Type(_, ty) => (**ty).clone(),
        ReturnType::Default => {
            return Err(syn::Error::new(
                sig.ident.span(),
                "#[long_task] functions return `Result<T, E>` (T: Serialize, E: Into<TaskError>)",
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

    let impl_name = format_ident!("__taskq_impl_{}", fn_name);
    item.sig.ident = impl_name.clone();
    item.attrs.retain(|a| !a.path().is_ident("doc"));
    item.vis = syn::Visibility::Inherited;

    let call = if with_ctx {
        quote!(|ctx, params| #impl_name(ctx, params))
    } else {
        quote!(|_ctx, params| #impl_name(params))
    };
    let ok_ty = quote_spanned!(return_ty.span()=>
        <#return_ty as ::taskq::__private::TaskResult>::Ok
    );
    let private = quote!(::taskq::__private);

    Ok(quote! {
        #[doc(hidden)]
        #[allow(non_snake_case)]
        #item

        #(#docs)*
        #[allow(non_upper_case_globals)]
        #vis const #fn_name: ::taskq::TaskHandle<#params_ty, #ok_ty> =
            ::taskq::TaskHandle::new(#task_name);

        const _: () = {
            fn handler(
                ctx: ::taskq::TaskContext,
                params: #private::serde_json::Value,
            ) -> #private::HandlerFuture {
                ::std::boxed::Box::pin(#private::run_handler::<#params_ty, _, _, _, _>(
                    ctx, params, #call,
                ))
            }

            fn params_schema() -> #private::schemars::Schema {
                #private::schemars::schema_for!(#params_ty)
            }

            #private::inventory::submit! {
                ::taskq::TaskDef {
                    name: #task_name,
                    options: #options,
                    params_schema,
                    validate: #private::validate_params::<#params_ty>,
                    handler,
                    location: ::taskq::Location {
                        file: ::core::file!(),
                        line: ::core::line!(),
                        module: ::core::module_path!(),
                    },
                }
            }
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
