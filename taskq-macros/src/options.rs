//! The `key = value` list of `#[long_task(...)]`, checked at compile time:
//! every error points at the offending token.

use proc_macro2::Span;
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, Ident, LitStr, Path, Token};

use crate::concurrency::ConcurrencyAttr;
use crate::rate_limit::RateLimitAttr;
use crate::unique::UniqueAttr;
use crate::values::{
    backoff, boolean, cron, every, float, integer, json_params, max_snoozes, queue_name, seconds,
    seconds_or_zero, string, task_name, time_zone,
};

const KNOWN: &[&str] = &[
    "name",
    "queue",
    "priority",
    "timeout",
    "soft_timeout",
    "retries",
    "retry_delay",
    "backoff",
    "backoff_max",
    "jitter",
    "description",
    "blocking",
    "cron",
    "time_zone",
    "every",
    "params",
    "unique",
    "max_snoozes",
    "expires",
    "concurrency",
    "rate_limit",
];

/// The parsed options; `None` means the default from
/// `taskq::__private::defaults`.
#[derive(Default)]
pub struct TaskAttr {
    pub name: Option<LitStr>,
    pub queue: Option<LitStr>,
    pub priority: Option<i32>,
    /// Milliseconds.
    pub timeout: Option<u64>,
    pub soft_timeout: Option<u64>,
    /// Where `soft_timeout` was given, for the check against the default
    /// `timeout`, which only the compiler can evaluate.
    pub soft_timeout_span: Option<Span>,
    pub retries: Option<u32>,
    pub retry_delay: Option<u64>,
    pub backoff: Option<f64>,
    pub backoff_max: Option<u64>,
    pub jitter: Option<f64>,
    pub description: Option<LitStr>,
    /// A static schedule: a cron expression (checked here)…
    pub cron: Option<LitStr>,
    /// …in this IANA time zone…
    pub time_zone: Option<LitStr>,
    /// …or an interval, in milliseconds…
    pub every: Option<u64>,
    /// …submitting these params (a JSON text, checked to parse here and
    /// against the params type when the worker is built).
    pub params: Option<LitStr>,
    /// Runs the handler on the blocking pool.
    pub blocking: Option<bool>,
    /// At most one such task at a time (`unique` or `unique(...)`).
    pub unique: Option<UniqueAttr>,
    /// Snoozes allowed: `Some(None)` for `"unlimited"`.
    pub max_snoozes: Option<Option<u32>>,
    /// Deadline to start after submission, in milliseconds.
    pub expires: Option<u64>,
    /// A concurrency limit (`concurrency = n` or `concurrency(...)`).
    pub concurrency: Option<ConcurrencyAttr>,
    /// A rate limit over all the type's tasks (`rate_limit(starts, period)`).
    pub rate_limit: Option<RateLimitAttr>,
    /// A rate limit per concurrency key (`rate_limit(key, starts, period)`).
    pub key_rate_limit: Option<RateLimitAttr>,
}

/// One `key = value`, `key(...)` or bare `key`. Unlike syn's
/// `MetaNameValue`, which folds `-1` into one literal spanned at the `-`,
/// a value is parsed as an expression, so errors about it underline all
/// of it.
pub struct Pair {
    pub path: Path,
    pub value: PairValue,
}

/// What follows an option's name.
pub enum PairValue {
    /// `= value`
    Expr(Expr),
    /// `(...)`: a nested list, parsed by the option.
    List(TokenStream),
    /// Nothing.
    Flag,
}

impl Parse for Pair {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let path = input.call(Path::parse_mod_style)?;
        let value = if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            PairValue::Expr(input.parse()?)
        } else if input.peek(syn::token::Paren) {
            let content;
            syn::parenthesized!(content in input);
            PairValue::List(content.parse()?)
        } else {
            PairValue::Flag
        };
        Ok(Pair { path, value })
    }
}

impl Parse for TaskAttr {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let pairs = Punctuated::<Pair, Token![,]>::parse_terminated(input)?;
        let mut attr = TaskAttr::default();
        let mut seen: Vec<String> = Vec::new();
        for pair in pairs {
            let key: &Ident = pair.path.get_ident().ok_or_else(|| {
                syn::Error::new_spanned(&pair.path, "expected an option name such as `queue`")
            })?;
            let name = key.to_string();
            if name == "rate_limit" {
                // Twice at most: once over the type, once per key.
                let rate = RateLimitAttr::parse(key, &pair.value)?;
                let slot = if rate.key.is_some() {
                    &mut attr.key_rate_limit
                } else {
                    &mut attr.rate_limit
                };
                if slot.is_some() {
                    let kind = if rate.key.is_some() {
                        "per key"
                    } else {
                        "over the type"
                    };
                    return Err(syn::Error::new_spanned(
                        key,
                        format!("`rate_limit` {kind} is given twice"),
                    ));
                }
                *slot = Some(rate);
                continue;
            }
            if seen.contains(&name) {
                return Err(syn::Error::new_spanned(
                    key,
                    format!("`{name}` is given twice"),
                ));
            }
            seen.push(name.clone());
            if name == "unique" {
                attr.unique = Some(UniqueAttr::parse(key, &pair.value)?);
                continue;
            }
            if name == "concurrency" {
                attr.concurrency = Some(ConcurrencyAttr::parse(key, &pair.value)?);
                continue;
            }
            let PairValue::Expr(value) = &pair.value else {
                return Err(syn::Error::new_spanned(
                    key,
                    format!("`{name}` takes a value: `{name} = ...`"),
                ));
            };
            match name.as_str() {
                "name" => attr.name = Some(task_name(value)?),
                "queue" => attr.queue = Some(queue_name(value)?),
                "priority" => {
                    attr.priority =
                        Some(integer(value, "priority", i32::MIN as i128, i32::MAX as i128)? as i32)
                }
                "timeout" => attr.timeout = Some(seconds(value, "timeout")?),
                "soft_timeout" => {
                    attr.soft_timeout = Some(seconds(value, "soft_timeout")?);
                    attr.soft_timeout_span = Some(value.span());
                }
                "retries" => attr.retries = Some(integer(value, "retries", 0, 1000)? as u32),
                "retry_delay" => attr.retry_delay = Some(seconds_or_zero(value, "retry_delay")?),
                "backoff" => attr.backoff = Some(backoff(value)?),
                "backoff_max" => attr.backoff_max = Some(seconds(value, "backoff_max")?),
                "jitter" => {
                    let jitter = float(value, "jitter")?;
                    if !(0.0..=1.0).contains(&jitter) {
                        return Err(syn::Error::new_spanned(
                            value,
                            "`jitter` is a fraction from 0.0 to 1.0",
                        ));
                    }
                    attr.jitter = Some(jitter);
                }
                "description" => attr.description = Some(string(value, "description")?),
                "cron" => attr.cron = Some(cron(value)?),
                "time_zone" => attr.time_zone = Some(time_zone(value)?),
                "every" => attr.every = Some(every(value)?),
                "params" => attr.params = Some(json_params(value)?),
                "blocking" => attr.blocking = Some(boolean(value, "blocking")?),
                "max_snoozes" => attr.max_snoozes = Some(max_snoozes(value)?),
                "expires" => attr.expires = Some(seconds(value, "expires")?),
                _ => {
                    return Err(syn::Error::new_spanned(
                        key,
                        format!(
                            "unknown option `{name}`; expected one of: {}",
                            KNOWN.join(", ")
                        ),
                    ));
                }
            }
            if let (Some(soft), Some(hard)) = (attr.soft_timeout, attr.timeout)
                && soft >= hard
            {
                return Err(syn::Error::new_spanned(
                    value,
                    "`soft_timeout` must be shorter than `timeout`",
                ));
            }
            if attr.cron.is_some() && attr.every.is_some() {
                return Err(syn::Error::new_spanned(
                    value,
                    "a task has one static schedule: `cron` or `every`, not both",
                ));
            }
            if name == "time_zone" && attr.every.is_some() {
                return Err(syn::Error::new_spanned(
                    value,
                    "`time_zone` applies to `cron`, not `every`",
                ));
            }
        }
        if let (Some(params), None, None) = (&attr.params, &attr.cron, attr.every) {
            return Err(syn::Error::new_spanned(
                params,
                "`params` are the params of a static schedule: add `cron = \"...\"` or `every = \"...\"`",
            ));
        }
        if let (Some(zone), None) = (&attr.time_zone, &attr.cron) {
            return Err(syn::Error::new_spanned(
                zone,
                "`time_zone` applies to a `cron` schedule: add `cron = \"...\"`",
            ));
        }
        // A task has one concurrency key: both options must read it from
        // the same params field.
        if let (Some(rate_key), Some(key)) = (
            attr.key_rate_limit.as_ref().and_then(|r| r.key.as_ref()),
            attr.concurrency.as_ref().and_then(ConcurrencyAttr::key),
        ) && rate_key.value() != key.value()
        {
            return Err(syn::Error::new_spanned(
                rate_key,
                format!(
                    "the rate limit's `key` must be the field `concurrency` reads the key from (`{}`)",
                    key.value()
                ),
            ));
        }
        Ok(attr)
    }
}

impl TaskAttr {
    /// The `StaticSchedule` registration of a task with `cron` or `every`.
    pub fn schedule_tokens(&self, task_name: &LitStr) -> TokenStream {
        let (cron, every) = match (&self.cron, self.every) {
            (Some(cron), _) => (quote!(::core::option::Option::Some(#cron)), 0u64),
            (None, Some(every)) => (quote!(::core::option::Option::None), every),
            (None, None) => return TokenStream::new(),
        };
        let zone = self
            .time_zone
            .as_ref()
            .map_or_else(|| quote!("UTC"), |z| quote!(#z));
        let params = match &self.params {
            Some(params) => quote!(::core::option::Option::Some(#params)),
            None => quote!(::core::option::Option::None),
        };
        quote! {
            ::taskq::__private::inventory::submit! {
                ::taskq::__private::StaticSchedule {
                    task_type: #task_name,
                    cron: #cron,
                    time_zone: #zone,
                    every_ms: #every,
                    params: #params,
                }
            }
        }
    }

    /// A `TaskOptions` expression that is valid in `const` context.
    pub fn options_tokens(&self, description: &str) -> TokenStream {
        let d = quote!(::taskq::__private::defaults);
        let duration = |ms: u64| quote!(::core::time::Duration::from_millis(#ms));
        let queue = match &self.queue {
            Some(q) => quote!(#q),
            None => quote!(#d::QUEUE),
        };
        let priority = self.priority.map_or(quote!(#d::PRIORITY), |p| quote!(#p));
        let timeout = self.timeout.map_or(quote!(#d::TIMEOUT), |ms| {
            let ms = duration(ms);
            quote!(::core::option::Option::Some(#ms))
        });
        let soft_timeout = match (self.soft_timeout, self.timeout) {
            (None, _) => quote!(#d::SOFT_TIMEOUT),
            (Some(ms), Some(_)) => {
                let soft = duration(ms);
                quote!(::core::option::Option::Some(#soft))
            }
            // Checked against the default hard timeout at compile time,
            // reported at the `soft_timeout` value.
            (Some(ms), None) => {
                let soft = duration(ms);
                let span = self.soft_timeout_span.unwrap_or_else(Span::call_site);
                quote_spanned! {span=> {
                    const {
                        if let ::core::option::Option::Some(hard) = #d::TIMEOUT {
                            if #ms as u128 >= hard.as_millis() {
                                ::core::panic!("`soft_timeout` must be shorter than the default `timeout`; give `timeout` too");
                            }
                        }
                    }
                    ::core::option::Option::Some(#soft)
                }}
            }
        };
        let retries = self.retries.map_or(quote!(#d::MAX_RETRIES), |r| quote!(#r));
        let retry_delay = self.retry_delay.map_or(quote!(#d::RETRY_DELAY), duration);
        let factor = self
            .backoff
            .map_or(quote!(#d::BACKOFF_FACTOR), |f| quote!(#f));
        let backoff_max = self.backoff_max.map_or(quote!(#d::BACKOFF_MAX), duration);
        let jitter = self
            .jitter
            .map_or(quote!(#d::BACKOFF_JITTER), |j| quote!(#j));
        let blocking = self.blocking.unwrap_or(false);
        let unique = match &self.unique {
            Some(unique) => {
                let unique = unique.tokens();
                quote!(::core::option::Option::Some(#unique))
            }
            None => quote!(::core::option::Option::None),
        };
        let max_snoozes = match self.max_snoozes {
            None => quote!(#d::MAX_SNOOZES),
            Some(None) => quote!(::core::option::Option::None),
            Some(Some(n)) => quote!(::core::option::Option::Some(#n)),
        };
        let expires = self.expires.map_or(quote!(#d::EXPIRES), |ms| {
            let ms = duration(ms);
            quote!(::core::option::Option::Some(#ms))
        });
        quote! {
            ::taskq::TaskOptions {
                queue: ::std::borrow::Cow::Borrowed(#queue),
                priority: #priority,
                timeout: #timeout,
                soft_timeout: #soft_timeout,
                max_retries: #retries,
                retry_delay: #retry_delay,
                backoff: ::taskq::Backoff {
                    factor: #factor,
                    max: #backoff_max,
                    jitter: #jitter,
                },
                description: ::std::borrow::Cow::Borrowed(#description),
                blocking: #blocking,
                unique: #unique,
                max_snoozes: #max_snoozes,
                expires: #expires,
            }
        }
    }
}
