//! `concurrency = 5`, `concurrency(limit = 5)` or `concurrency(key =
//! "tenant_id", limit = 2)` in `#[long_task(...)]`: a task type's declared
//! concurrency limit, over all its tasks or per value of a params field
//! (`concurrency(key = "tenant_id")` names the key field alone, its limit
//! set at runtime), checked at compile time and emitted as a
//! `const`-valid `taskq::__private::Concurrency`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Ident, LitStr, Token};

use crate::options::{Pair, PairValue};
use crate::rate_limit::RateLimitAttr;
use crate::values::{integer, string};

/// A parsed `concurrency`.
pub struct ConcurrencyAttr {
    /// Without a key, the type's limit; with one, the key limit (which
    /// may be left to runtime).
    limit: Option<u32>,
    /// The params field whose value is the key (`None`: the limit is the
    /// type's, over all its tasks).
    key: Option<LitStr>,
}

/// The longest key field name, as the runtime check has it.
const MAX_FIELD: usize = 255;

impl ConcurrencyAttr {
    /// Parses the value of `concurrency`: `= n` or a parenthesised list.
    pub fn parse(key: &Ident, value: &PairValue) -> syn::Result<ConcurrencyAttr> {
        let usage = "write `concurrency = 5`, `concurrency(limit = 5)`, \
                     `concurrency(key = \"tenant_id\", limit = 2)` or `concurrency(key = \"tenant_id\")`";
        let tokens = match value {
            PairValue::Expr(expr) => {
                return Ok(ConcurrencyAttr {
                    limit: Some(limit(expr)?),
                    key: None,
                });
            }
            PairValue::List(tokens) => tokens.clone(),
            PairValue::Flag => return Err(syn::Error::new_spanned(key, usage)),
        };
        let pairs = Punctuated::<Pair, Token![,]>::parse_terminated.parse2(tokens)?;
        let mut parsed_limit = None;
        let mut parsed_key = None;
        for pair in pairs {
            let name_ident = pair
                .path
                .get_ident()
                .ok_or_else(|| syn::Error::new_spanned(&pair.path, "expected `limit` or `key`"))?;
            let name = name_ident.to_string();
            let PairValue::Expr(value) = &pair.value else {
                return Err(syn::Error::new_spanned(
                    name_ident,
                    format!("`{name}` takes a value: `{name} = ...`"),
                ));
            };
            match name.as_str() {
                "limit" if parsed_limit.is_none() => parsed_limit = Some(limit(value)?),
                "key" if parsed_key.is_none() => {
                    let field = string(value, "key")?;
                    let len = field.value().len();
                    if len == 0 || len > MAX_FIELD {
                        return Err(syn::Error::new_spanned(
                            value,
                            "a concurrency `key` names a params field of 1 to 255 bytes",
                        ));
                    }
                    parsed_key = Some(field);
                }
                "limit" | "key" => {
                    return Err(syn::Error::new_spanned(
                        name_ident,
                        format!("`{name}` is given twice"),
                    ));
                }
                _ => {
                    return Err(syn::Error::new_spanned(
                        name_ident,
                        format!("unknown `concurrency` option `{name}`; expected `limit` or `key`"),
                    ));
                }
            }
        }
        if parsed_limit.is_none() && parsed_key.is_none() {
            return Err(syn::Error::new_spanned(key, usage));
        }
        Ok(ConcurrencyAttr {
            limit: parsed_limit,
            key: parsed_key,
        })
    }

    /// The params field the key is read from, if given.
    pub fn key(&self) -> Option<&LitStr> {
        self.key.as_ref()
    }
}

/// A `taskq::__private::Concurrency` expression valid in `const` context:
/// the declared concurrency limits and rate limits together (they share
/// the key field, checked to agree by the attribute's parser).
pub fn declared_tokens(
    concurrency: Option<&ConcurrencyAttr>,
    rate: Option<&RateLimitAttr>,
    key_rate: Option<&RateLimitAttr>,
) -> TokenStream {
    let some = quote!(::core::option::Option::Some);
    let none = quote!(::core::option::Option::None);
    let optional = |value: Option<TokenStream>| match value {
        Some(value) => quote!(#some(#value)),
        None => none.clone(),
    };
    let limit = concurrency.and_then(|c| c.limit).map(|l| quote!(#l));
    let key = concurrency.and_then(|c| c.key.as_ref());
    let (type_limit, key_limit) = match key {
        None => (optional(limit), none.clone()),
        Some(_) => (none.clone(), optional(limit)),
    };
    let key_field = key
        .or_else(|| key_rate.and_then(|r| r.key.as_ref()))
        .map(|key| quote!(#key));
    let key_field = optional(key_field);
    let rate = optional(rate.map(RateLimitAttr::tokens));
    let key_rate = optional(key_rate.map(RateLimitAttr::tokens));
    quote! {
        ::taskq::__private::Concurrency {
            limit: #type_limit,
            key_field: #key_field,
            key_limit: #key_limit,
            rate: #rate,
            key_rate: #key_rate,
        }
    }
}

/// A limit: a whole number from 1.
fn limit(value: &syn::Expr) -> syn::Result<u32> {
    Ok(integer(value, "concurrency limit", 1, u32::MAX as i128)? as u32)
}
