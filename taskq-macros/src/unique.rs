//! `unique` / `unique(key = "...", fields = [...], period = 3600,
//! states = [...])` in `#[long_task(...)]`: a task type's uniqueness,
//! checked at compile time, emitted as a `const`-valid `taskq::Unique`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprArray, Ident, LitStr, Token};

use crate::options::{Pair, PairValue};
use crate::values::{seconds, string};

/// The state names `states` takes (any case), and the variants they name.
const STATES: [(&str, &str); 5] = [
    ("pending", "Pending"),
    ("running", "Running"),
    ("finished", "Finished"),
    ("failed", "Failed"),
    ("cancelled", "Cancelled"),
];

/// A parsed `unique(...)`; empty for a bare `unique`.
#[derive(Default)]
pub struct UniqueAttr {
    key: Option<LitStr>,
    fields: Vec<LitStr>,
    /// Milliseconds.
    period: Option<u64>,
    /// Variant names of `TaskState`; empty: the default states.
    states: Vec<&'static str>,
}

impl UniqueAttr {
    /// Parses the value of `unique`: a bare flag or a parenthesised list.
    pub fn parse(key: &Ident, value: &PairValue) -> syn::Result<UniqueAttr> {
        let tokens = match value {
            PairValue::Flag => return Ok(UniqueAttr::default()),
            PairValue::List(tokens) => tokens.clone(),
            PairValue::Expr(expr) => {
                return Err(syn::Error::new_spanned(
                    expr,
                    "write `unique` or `unique(fields = [\"...\"], period = 3600, states = [\"pending\"])`",
                ));
            }
        };
        let pairs = Punctuated::<Pair, Token![,]>::parse_terminated.parse2(tokens)?;
        let mut attr = UniqueAttr::default();
        let mut seen: Vec<String> = Vec::new();
        for pair in pairs {
            let name_ident = pair.path.get_ident().ok_or_else(|| {
                syn::Error::new_spanned(
                    &pair.path,
                    "expected `key`, `fields`, `period` or `states`",
                )
            })?;
            let name = name_ident.to_string();
            if seen.contains(&name) {
                return Err(syn::Error::new_spanned(
                    name_ident,
                    format!("`{name}` is given twice"),
                ));
            }
            seen.push(name.clone());
            let PairValue::Expr(value) = &pair.value else {
                return Err(syn::Error::new_spanned(
                    name_ident,
                    format!("`{name}` takes a value: `{name} = ...`"),
                ));
            };
            match name.as_str() {
                "key" => {
                    let key = string(value, "key")?;
                    let len = key.value().len();
                    if len == 0 || len > 255 {
                        return Err(syn::Error::new_spanned(
                            value,
                            "a unique `key` has 1 to 255 bytes",
                        ));
                    }
                    attr.key = Some(key);
                }
                "fields" => attr.fields = strings(value, "fields")?,
                "period" => attr.period = Some(seconds(value, "period")?),
                "states" => {
                    for state in strings(value, "states")? {
                        let found = STATES
                            .iter()
                            .find(|(name, _)| name.eq_ignore_ascii_case(&state.value()))
                            .ok_or_else(|| {
                                syn::Error::new_spanned(
                                    &state,
                                    "a state is one of pending, running, finished, failed, cancelled",
                                )
                            })?;
                        attr.states.push(found.1);
                    }
                    if attr.states.is_empty() {
                        return Err(syn::Error::new_spanned(value, "name at least one state"));
                    }
                }
                _ => {
                    return Err(syn::Error::new_spanned(
                        name_ident,
                        format!(
                            "unknown `unique` option `{name}`; expected key, fields, period or states"
                        ),
                    ));
                }
            }
        }
        if attr.key.is_some() && !attr.fields.is_empty() {
            return Err(syn::Error::new_spanned(
                key,
                "`unique` takes `key` or `fields`, not both",
            ));
        }
        Ok(attr)
    }

    /// A `taskq::Unique` expression valid in `const` context.
    pub fn tokens(&self) -> TokenStream {
        let cow = quote!(::std::borrow::Cow::Borrowed);
        let key = match &self.key {
            Some(key) => quote!(::core::option::Option::Some(#cow(#key))),
            None => quote!(::core::option::Option::None),
        };
        let fields = &self.fields;
        let period = match self.period {
            Some(ms) => {
                quote!(::core::option::Option::Some(::core::time::Duration::from_millis(#ms)))
            }
            None => quote!(::core::option::Option::None),
        };
        let states = if self.states.is_empty() {
            quote!(#cow(::taskq::Unique::ACTIVE))
        } else {
            let states = self
                .states
                .iter()
                .map(|state| syn::Ident::new(state, proc_macro2::Span::call_site()));
            quote!(#cow(&[#(::taskq::TaskState::#states),*]))
        };
        quote! {
            ::taskq::Unique {
                key: #key,
                fields: #cow(&[#(#cow(#fields)),*]),
                period: #period,
                states: #states,
            }
        }
    }
}

/// `["a", "b"]`: string literals, each non-empty.
fn strings(value: &Expr, key: &str) -> syn::Result<Vec<LitStr>> {
    let Expr::Array(ExprArray { elems, .. }) = value else {
        return Err(syn::Error::new_spanned(
            value,
            format!("`{key}` takes a list of strings: `{key} = [\"...\"]`"),
        ));
    };
    elems
        .iter()
        .map(|elem| {
            let text = string(elem, key)?;
            if text.value().is_empty() {
                return Err(syn::Error::new_spanned(
                    elem,
                    format!("`{key}` names no empty string"),
                ));
            }
            Ok(text)
        })
        .collect()
}
