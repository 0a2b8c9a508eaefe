//! The `key = value` list of `#[long_task(...)]`, checked at compile time:
//! every error points at the offending token.

use proc_macro2::Span;
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, ExprUnary, Ident, Lit, LitStr, Path, Token, UnOp};

use crate::concurrency::ConcurrencyAttr;
use crate::rate_limit::RateLimitAttr;
use crate::unique::UniqueAttr;

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

/// `max_snoozes = N` (a count) or `max_snoozes = "unlimited"`.
fn max_snoozes(value: &Expr) -> syn::Result<Option<u32>> {
    if let Some(Lit::Str(s)) = lit(value) {
        return if s.value() == "unlimited" {
            Ok(None)
        } else {
            Err(syn::Error::new_spanned(
                value,
                "`max_snoozes` takes a count or \"unlimited\"",
            ))
        };
    }
    Ok(Some(
        integer(value, "max_snoozes", 0, u32::MAX as i128)? as u32
    ))
}

fn lit(value: &Expr) -> Option<&Lit> {
    match value {
        Expr::Lit(ExprLit { lit, .. }) => Some(lit),
        _ => None,
    }
}

/// A literal, possibly negated: `(negative, literal)`.
fn signed_lit(value: &Expr) -> Option<(bool, &Lit)> {
    match value {
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) => lit(expr).map(|l| (true, l)),
        other => lit(other).map(|l| (false, l)),
    }
}

pub(crate) fn string(value: &Expr, key: &str) -> syn::Result<LitStr> {
    match lit(value) {
        Some(Lit::Str(s)) => Ok(s.clone()),
        _ => Err(syn::Error::new_spanned(
            value,
            format!("`{key}` takes a string literal"),
        )),
    }
}

fn task_name(value: &Expr) -> syn::Result<LitStr> {
    let name = string(value, "name")?;
    let text = name.value();
    if text.is_empty() || text.len() > 100 || text.chars().any(char::is_whitespace) {
        return Err(syn::Error::new_spanned(
            value,
            "`name` must be 1 to 100 characters without whitespace",
        ));
    }
    Ok(name)
}

fn queue_name(value: &Expr) -> syn::Result<LitStr> {
    let queue = string(value, "queue")?;
    let text = queue.value();
    // The rule of `taskq_core::bounds::check_queue_name`, at compile time.
    let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if text.is_empty() || text.len() > 100 || !text.chars().all(valid_char) {
        return Err(syn::Error::new_spanned(
            value,
            "`queue` must be 1 to 100 ASCII letters, digits, `_`, `-` or `.`",
        ));
    }
    if text == "." || text == ".." {
        return Err(syn::Error::new_spanned(
            value,
            "`queue` must not be `.` or `..` (steps in a URL path)",
        ));
    }
    Ok(queue)
}

/// An integer literal, possibly negated, within `min..=max`.
pub(crate) fn integer(value: &Expr, key: &str, min: i128, max: i128) -> syn::Result<i128> {
    let parsed = match signed_lit(value) {
        Some((negative, Lit::Int(int))) => int
            .base10_parse::<i128>()
            .ok()
            .map(|n| if negative { -n } else { n }),
        _ => None,
    };
    match parsed {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        Some(_) => Err(syn::Error::new_spanned(
            value,
            format!("`{key}` must be between {min} and {max}"),
        )),
        None => Err(syn::Error::new_spanned(
            value,
            format!("`{key}` takes an integer"),
        )),
    }
}

/// A number literal (integer or float), possibly negated.
fn float(value: &Expr, key: &str) -> syn::Result<f64> {
    let parsed = match signed_lit(value) {
        Some((negative, Lit::Int(int))) => int.base10_parse::<f64>().ok().map(|f| (negative, f)),
        Some((negative, Lit::Float(float))) => {
            float.base10_parse::<f64>().ok().map(|f| (negative, f))
        }
        _ => None,
    };
    parsed
        .map(|(negative, f)| if negative { -f } else { f })
        .filter(|f| f.is_finite())
        .ok_or_else(|| syn::Error::new_spanned(value, format!("`{key}` takes a number")))
}

/// Positive seconds, as milliseconds.
pub(crate) fn seconds(value: &Expr, key: &str) -> syn::Result<u64> {
    let ms = seconds_or_zero(value, key)?;
    if ms == 0 {
        return Err(syn::Error::new_spanned(
            value,
            format!("`{key}` must be more than 0 seconds"),
        ));
    }
    Ok(ms)
}

/// Non-negative seconds, as milliseconds.
fn seconds_or_zero(value: &Expr, key: &str) -> syn::Result<u64> {
    let secs = float(value, key).map_err(|_| {
        syn::Error::new_spanned(value, format!("`{key}` takes a number of seconds"))
    })?;
    if !(0.0..=365.0 * 24.0 * 3600.0).contains(&secs) {
        return Err(syn::Error::new_spanned(
            value,
            format!("`{key}` must be between 0 seconds and a year"),
        ));
    }
    Ok((secs * 1000.0).round() as u64)
}

/// `backoff = 2.0` (a factor ≥ 1), `backoff = true` (the default factor) or
/// `backoff = false` (constant delay).
fn boolean(value: &Expr, name: &str) -> syn::Result<bool> {
    match lit(value) {
        Some(Lit::Bool(b)) => Ok(b.value),
        _ => Err(syn::Error::new_spanned(
            value,
            format!("`{name}` takes `true` or `false`"),
        )),
    }
}

fn backoff(value: &Expr) -> syn::Result<f64> {
    if let Some(Lit::Bool(b)) = lit(value) {
        return Ok(if b.value { 2.0 } else { 1.0 });
    }
    let factor = float(value, "backoff").map_err(|_| {
        syn::Error::new_spanned(value, "`backoff` takes a factor (e.g. 2.0) or a bool")
    })?;
    if !(1.0..=100.0).contains(&factor) {
        return Err(syn::Error::new_spanned(
            value,
            "`backoff` factor must be between 1.0 and 100.0",
        ));
    }
    Ok(factor)
}

/// A static schedule's params: a string holding JSON (a raw string such as
/// `r#"{"to": "ops"}"#` reads best). Only its syntax is checked here; the
/// params type checks the value when the worker is built.
fn json_params(value: &Expr) -> syn::Result<LitStr> {
    let text = string(value, "params")?;
    serde_json::from_str::<serde_json::Value>(&text.value()).map_err(|err| {
        syn::Error::new_spanned(value, format!("`params` is not valid JSON: {err}"))
    })?;
    Ok(text)
}

/// A cron expression the scheduler will accept: 5 fields, or 6 with
/// seconds first (croner, as `taskq_core::schedule` parses it).
fn cron(value: &Expr) -> syn::Result<LitStr> {
    let expression = string(value, "cron")?;
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .year(croner::parser::Year::Disallowed)
        .build()
        .parse(&expression.value())
        .map_err(|err| syn::Error::new_spanned(value, format!("invalid cron expression: {err}")))?;
    Ok(expression)
}

/// An IANA time zone name.
fn time_zone(value: &Expr) -> syn::Result<LitStr> {
    let zone = string(value, "time_zone")?;
    if zone.value().parse::<chrono_tz::Tz>().is_err() {
        return Err(syn::Error::new_spanned(
            value,
            format!(
                "unknown time zone `{}`: use an IANA name such as `Europe/Paris`",
                zone.value()
            ),
        ));
    }
    Ok(zone)
}

/// An interval: `"30s"`, `"5m"`, `"2h"`, `"1d"`, `"1500ms"`, or a number
/// of seconds; at least one second. In milliseconds.
fn every(value: &Expr) -> syn::Result<u64> {
    let fail = || {
        syn::Error::new_spanned(
            value,
            "`every` takes an interval of at least 1 second such as \"30s\", \"5m\", \"2h\", \"1d\" or \"1500ms\"",
        )
    };
    let ms = match lit(value) {
        Some(Lit::Int(int)) => int
            .base10_parse::<u64>()
            .ok()
            .and_then(|secs| secs.checked_mul(1000)),
        Some(Lit::Str(text)) => {
            let text = text.value();
            let text = text.trim();
            let split = text
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(text.len());
            let (number, unit) = text.split_at(split);
            let factor = match unit.trim() {
                "ms" => Some(1),
                "s" | "" => Some(1000),
                "m" | "min" => Some(60_000),
                "h" => Some(3_600_000),
                "d" => Some(86_400_000),
                _ => None,
            };
            number
                .parse::<u64>()
                .ok()
                .zip(factor)
                .and_then(|(n, f)| n.checked_mul(f))
        }
        _ => None,
    };
    ms.filter(|ms| *ms >= 1000).ok_or_else(fail)
}
