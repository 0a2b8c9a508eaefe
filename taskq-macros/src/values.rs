//! The literal values of `#[long_task(...)]` options (names, counts,
//! seconds, cron lines, …), each checked with an error at its token.

use syn::{Expr, ExprLit, ExprUnary, Lit, LitStr, UnOp};

/// `max_snoozes = N` (a count) or `max_snoozes = "unlimited"`.
pub(crate) fn max_snoozes(value: &Expr) -> syn::Result<Option<u32>> {
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

pub(crate) fn task_name(value: &Expr) -> syn::Result<LitStr> {
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

pub(crate) fn queue_name(value: &Expr) -> syn::Result<LitStr> {
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
pub(crate) fn float(value: &Expr, key: &str) -> syn::Result<f64> {
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
pub(crate) fn seconds_or_zero(value: &Expr, key: &str) -> syn::Result<u64> {
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
pub(crate) fn boolean(value: &Expr, name: &str) -> syn::Result<bool> {
    match lit(value) {
        Some(Lit::Bool(b)) => Ok(b.value),
        _ => Err(syn::Error::new_spanned(
            value,
            format!("`{name}` takes `true` or `false`"),
        )),
    }
}

pub(crate) fn backoff(value: &Expr) -> syn::Result<f64> {
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
pub(crate) fn json_params(value: &Expr) -> syn::Result<LitStr> {
    let text = string(value, "params")?;
    serde_json::from_str::<serde_json::Value>(&text.value()).map_err(|err| {
        syn::Error::new_spanned(value, format!("`params` is not valid JSON: {err}"))
    })?;
    Ok(text)
}

/// A cron expression the scheduler will accept: 5 fields, or 6 with
/// seconds first (croner, as `taskq_core::schedule` parses it).
pub(crate) fn cron(value: &Expr) -> syn::Result<LitStr> {
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
pub(crate) fn time_zone(value: &Expr) -> syn::Result<LitStr> {
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
pub(crate) fn every(value: &Expr) -> syn::Result<u64> {
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
