//! Who may call the API. [`crate::http::router`] takes an [`Auth`], so
//! mounting the routes is never open by accident: a host picks a bearer
//! token, its own check, or names the open mode explicitly.

use std::fmt;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

use super::errors::unauthorized;

type Check = dyn Fn(&Request) -> bool + Send + Sync;

/// The authorization of the API routes (task data, writes, metrics).
///
/// The dashboard page, its assets and the OpenAPI document are served
/// without it: they hold no task data, and the page asks the operator for
/// the token it then sends with every call.
#[derive(Clone)]
pub struct Auth {
    mode: Mode,
}

#[derive(Clone)]
enum Mode {
    Bearer(Arc<str>),
    Check(Arc<Check>),
    Open,
}

impl Auth {
    /// Requests must carry `Authorization: Bearer <token>`. An empty token
    /// matches nothing (every request is refused).
    pub fn bearer(token: impl Into<String>) -> Auth {
        Auth {
            mode: Mode::Bearer(Arc::from(token.into())),
        }
    }

    /// The host decides per request (session cookie, API key, mTLS header
    /// set by a proxy…); `false` answers `401`.
    pub fn check(check: impl Fn(&Request) -> bool + Send + Sync + 'static) -> Auth {
        Auth {
            mode: Mode::Check(Arc::new(check)),
        }
    }

    /// No authorization by taskq: anyone who reaches the routes can submit,
    /// cancel and purge. For hosts that guard the nested router with their
    /// own tower layer, or serve it on a private interface only.
    pub fn none_i_understand() -> Auth {
        Auth { mode: Mode::Open }
    }

    /// Whether this request may pass.
    pub fn allows(&self, request: &Request) -> bool {
        match &self.mode {
            Mode::Open => true,
            Mode::Check(check) => check(request),
            Mode::Bearer(token) => {
                let presented = request
                    .headers()
                    .get(header::AUTHORIZATION)
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| {
                        let (scheme, rest) = value.split_once(' ')?;
                        scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
                    });
                match presented {
                    Some(presented) => !token.is_empty() && constant_time_eq(presented, token),
                    None => false,
                }
            }
        }
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the token.
        let mode = match self.mode {
            Mode::Bearer(_) => "bearer",
            Mode::Check(_) => "check",
            Mode::Open => "open",
        };
        f.debug_struct("Auth").field("mode", &mode).finish()
    }
}

/// Compares without stopping at the first difference, so response times do
/// not reveal how much of a guessed token was right.
fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0xff);
    }
    diff == 0
}

/// The middleware in front of the guarded routes.
pub(crate) async fn require(State(auth): State<Auth>, request: Request, next: Next) -> Response {
    if auth.allows(&request) {
        next.run(request).await
    } else {
        unauthorized()
    }
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn http_token_comparison_is_exact() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
        assert!(!constant_time_eq("", "a"));
    }
}
