//! Headers every response carries, so a browser holds the console to what it is: scripts and
//! workers only from this server, no framing by other sites, no content sniffing, no referrer
//! leaving with a link. The console has no inline script, so none is allowed.

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;

/// The headers, built once from the deployment's settings.
#[derive(Debug, Clone)]
pub struct SecurityHeaders {
    content_security_policy: HeaderValue,
}

impl SecurityHeaders {
    /// The policy for a console whose map may load an online style from `map_style` (its origin
    /// is the one place beyond this server the console may fetch from).
    pub fn new(map_style: Option<&str>) -> SecurityHeaders {
        let connect = match map_style.and_then(origin) {
            Some(origin) => format!("'self' {origin}"),
            None => "'self'".to_owned(),
        };
        // The transparency report's one inline style sheet is allowed by its hash: the console shows
        // the report in a sandboxed frame, which inherits this policy.
        let report_style = glasshouse_app::reports::style_hash();
        let policy = format!(
            "default-src 'self'; script-src 'self'; worker-src 'self' blob:; child-src 'self' blob:; \
             img-src 'self' data: blob:; style-src 'self' '{report_style}'; font-src 'self' data:; connect-src {connect}; \
             object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        );
        SecurityHeaders { content_security_policy: HeaderValue::from_str(&policy).expect("the policy is ASCII") }
    }
}

/// `scheme://host[:port]` of an http(s) URL, or `None` (any user information is left out).
fn origin(url: &str) -> Option<String> {
    let uri: axum::http::Uri = url.parse().ok()?;
    let scheme = uri.scheme_str().filter(|s| matches!(*s, "http" | "https"))?;
    let authority = uri.authority()?;
    Some(match authority.port_u16() {
        Some(port) => format!("{scheme}://{}:{port}", authority.host()),
        None => format!("{scheme}://{}", authority.host()),
    })
}

/// Adds the headers to every response.
pub async fn add(State(headers): State<Arc<SecurityHeaders>>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let set = response.headers_mut();
    set.insert(header::CONTENT_SECURITY_POLICY, headers.content_security_policy.clone());
    set.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    set.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    set.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    set.insert("permissions-policy", HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=(), usb=()"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_http_style_origin_is_added_to_what_the_console_may_fetch() {
        assert_eq!(origin("https://tiles.example.org/styles/streets.json?key=1").as_deref(), Some("https://tiles.example.org"));
        assert_eq!(origin("http://127.0.0.1:8081/style.json").as_deref(), Some("http://127.0.0.1:8081"));
        assert_eq!(origin("javascript:alert(1)"), None);
        assert_eq!(origin("https://evil.example; script-src *"), None, "nothing can be smuggled into the policy");
        let policy = SecurityHeaders::new(Some("https://tiles.example.org/s.json")).content_security_policy;
        assert!(policy.to_str().unwrap().contains("connect-src 'self' https://tiles.example.org;"));
        assert!(SecurityHeaders::new(None).content_security_policy.to_str().unwrap().contains("connect-src 'self';"));
    }
}
