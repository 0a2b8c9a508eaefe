//! `rate_limit(starts = 100, period = 60)` or `rate_limit(key =
//! "tenant_id", starts = 10, period = 1)` in `#[long_task(...)]`: a task
//! type's declared rate limit, over all its tasks or per value of a
//! params field (each key its own bucket). `period` is in seconds, like
//! every duration of the attribute (`timeout`, `retry_delay`, …). Given
//! once of each kind; checked at compile time, every error at its token.

use proc_macro2::TokenStream;
use quote::quote;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Ident, LitStr, Token};

use crate::options::{Pair, PairValue};
use crate::values::{integer, seconds, string};

/// A parsed `rate_limit(...)`.
pub struct RateLimitAttr {
    /// Starts per period, at least 1.
    starts: u32,
    /// The period, in milliseconds (1 ms to a year).
    period_ms: u64,
    /// The params field whose value is the key (`None`: the type's own
    /// bucket, over all its tasks).
    pub key: Option<LitStr>,
}

/// The longest key field name, as the runtime check has it.
const MAX_FIELD: usize = 255;

impl RateLimitAttr {
    /// Parses the parenthesised list of `rate_limit`.
    pub fn parse(key: &Ident, value: &PairValue) -> syn::Result<RateLimitAttr> {
        let usage = "write `rate_limit(starts = 100, period = 60)` (seconds) or \
                     `rate_limit(key = \"tenant_id\", starts = 10, period = 1)`";
        let PairValue::List(tokens) = value else {
            return Err(syn::Error::new_spanned(key, usage));
        };
        let pairs = Punctuated::<Pair, Token![,]>::parse_terminated.parse2(tokens.clone())?;
        let (mut starts, mut period, mut field) = (None, None, None);
        for pair in pairs {
            let name_ident = pair.path.get_ident().ok_or_else(|| {
                syn::Error::new_spanned(&pair.path, "expected `starts`, `period` or `key`")
            })?;
            let name = name_ident.to_string();
            let PairValue::Expr(value) = &pair.value else {
                return Err(syn::Error::new_spanned(
                    name_ident,
                    format!("`{name}` takes a value: `{name} = ...`"),
                ));
            };
            let twice = || syn::Error::new_spanned(name_ident, format!("`{name}` is given twice"));
            match name.as_str() {
                "starts" => {
                    if starts.is_some() {
                        return Err(twice());
                    }
                    starts = Some(integer(value, "starts", 1, u32::MAX as i128)? as u32);
                }
                "period" => {
                    if period.is_some() {
                        return Err(twice());
                    }
                    period = Some(seconds(value, "period")?);
                }
                "key" => {
                    if field.is_some() {
                        return Err(twice());
                    }
                    let lit = string(value, "key")?;
                    let len = lit.value().len();
                    if len == 0 || len > MAX_FIELD {
                        return Err(syn::Error::new_spanned(
                            value,
                            "a rate limit `key` names a params field of 1 to 255 bytes",
                        ));
                    }
                    field = Some(lit);
                }
                _ => {
                    return Err(syn::Error::new_spanned(
                        name_ident,
                        format!(
                            "unknown `rate_limit` option `{name}`; expected `starts`, `period` or `key`"
                        ),
                    ));
                }
            }
        }
        let (Some(starts), Some(period_ms)) = (starts, period) else {
            return Err(syn::Error::new_spanned(
                key,
                format!("`rate_limit` needs `starts` and `period`: {usage}"),
            ));
        };
        Ok(RateLimitAttr {
            starts,
            period_ms,
            key: field,
        })
    }

    /// A `taskq::__private::RateLimit` expression valid in `const` context.
    pub fn tokens(&self) -> TokenStream {
        let (starts, ms) = (self.starts, self.period_ms);
        quote! {
            ::taskq::__private::RateLimit {
                starts: #starts,
                period: ::core::time::Duration::from_millis(#ms),
            }
        }
    }
}
