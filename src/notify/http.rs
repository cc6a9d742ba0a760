//! HTTP plumbing shared by the webhook and Alertmanager channels: validated URLs and
//! headers, a rustls client on the ring provider (trusting the system's certificate store
//! and the CAs given, with an optional client certificate and proxy), and a POST that maps
//! every failure to a [`DeliveryError`].

use std::error::Error as StdError;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Certificate, Client, Identity, NoProxy, Proxy, Url};

use super::{DeliveryError, NotifyError};

/// The `User-Agent` of every request.
pub(crate) const USER_AGENT: &str = concat!("breakerbox/", env!("CARGO_PKG_VERSION"));

/// At most this much of an error answer's body is read; then the response is dropped,
/// which closes the connection instead of draining a huge body.
const ERROR_BODY_READ: usize = 4096;

/// At most this much of it is kept in the error, for the log.
const ERROR_BODY_KEPT: usize = 256;

/// The TLS and proxy settings of an HTTP channel, as given to its builder (PEM text is
/// parsed by [`client`]).
#[derive(Clone, Default)]
pub(crate) struct HttpOptions {
    /// CA certificates (PEM, each may hold several) trusted besides the system's store.
    pub(crate) roots: Vec<Vec<u8>>,
    /// A client certificate chain and its private key (PEM), for mutual TLS.
    pub(crate) identity: Option<(Vec<u8>, Vec<u8>)>,
    /// The proxy for every request instead of `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`.
    pub(crate) proxy: Option<String>,
    /// No proxy at all, whatever the environment says.
    pub(crate) no_proxy: bool,
}

impl HttpOptions {
    /// What a builder's `Debug` shows: counts and the proxy, never key material.
    pub(crate) fn describe(&self) -> String {
        let proxy = match (&self.proxy, self.no_proxy) {
            (_, true) => "none".to_owned(),
            (Some(p), false) => p.clone(),
            (None, false) => "environment".to_owned(),
        };
        format!(
            "roots: {}, client certificate: {}, proxy: {proxy}",
            self.roots.len(),
            self.identity.is_some()
        )
    }
}

/// A client whose every request times out after `timeout`, and that follows no redirect:
/// a signed body must not travel to wherever a `Location` header points (another origin
/// would get a valid signature for it).
///
/// Server certificates are checked by rustls-platform-verifier (reqwest's verifier): the
/// system's store (on Linux the OpenSSL locations, or `SSL_CERT_FILE`/`SSL_CERT_DIR`) plus
/// `options.roots`. Proxies come from the environment unless `options` names one or none.
pub(crate) fn client(timeout: Duration, options: &HttpOptions) -> Result<Client, NotifyError> {
    if timeout.is_zero() {
        return Err(NotifyError::Zero { field: "timeout" });
    }
    // reqwest is built without a default crypto provider: install ring (once per process;
    // an "already installed" result is fine).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = Client::builder()
        .user_agent(USER_AGENT)
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none());
    for pem in &options.roots {
        let certs = Certificate::from_pem_bundle(pem)
            .map_err(|e| invalid_certificate("root_certificate", &e))?;
        if certs.is_empty() {
            return Err(NotifyError::InvalidCertificate {
                field: "root_certificate",
                reason: "no certificate in the PEM text".to_owned(),
            });
        }
        builder = builder.tls_certs_merge(certs);
    }
    if let Some((chain, key)) = &options.identity {
        let pem = [chain.as_slice(), b"\n", key.as_slice()].concat();
        let identity =
            Identity::from_pem(&pem).map_err(|e| invalid_certificate("client_identity", &e))?;
        builder = builder.identity(identity);
    }
    if options.no_proxy {
        builder = builder.no_proxy();
    } else if let Some(url) = &options.proxy {
        let proxy = Proxy::all(url.as_str()).map_err(|e| NotifyError::InvalidUrl {
            url: url.clone(),
            reason: chain(&e),
        })?;
        builder = builder.proxy(proxy.no_proxy(NoProxy::from_env()));
    }
    builder
        .build()
        .map_err(|e| NotifyError::Client { reason: chain(&e) })
}

fn invalid_certificate(field: &'static str, e: &reqwest::Error) -> NotifyError {
    NotifyError::InvalidCertificate {
        field,
        reason: chain(e),
    }
}

/// An absolute `http` or `https` URL with a host.
pub(crate) fn parse_url(url: &str) -> Result<Url, NotifyError> {
    let invalid = |reason: &str| NotifyError::InvalidUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let parsed = Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid("no host"));
    }
    Ok(parsed)
}

/// Validated headers from name/value pairs.
pub(crate) fn header_map(pairs: &[(String, String)]) -> Result<HeaderMap, NotifyError> {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        let invalid = |reason: String| NotifyError::InvalidHeader {
            name: name.clone(),
            reason,
        };
        let n = HeaderName::from_bytes(name.as_bytes()).map_err(|e| invalid(e.to_string()))?;
        let v = HeaderValue::from_str(value).map_err(|e| invalid(e.to_string()))?;
        map.append(n, v);
    }
    Ok(map)
}

/// POSTs `body` as JSON; any status but 2xx is an error. A redirect is not followed: it is
/// an error naming its `Location` (not retried: point the URL at the final address).
pub(crate) async fn post_json(
    client: &Client,
    url: &Url,
    headers: HeaderMap,
    body: Vec<u8>,
) -> Result<(), DeliveryError> {
    let response = client
        .post(url.clone())
        .headers(headers)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(delivery_error)?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = if status.is_redirection() {
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .map(|l| String::from_utf8_lossy(l.as_bytes()).into_owned())
            .unwrap_or_default();
        format!("redirect to `{location}` not followed")
    } else {
        let prefix = read_prefix(response, ERROR_BODY_READ).await;
        keep_prefix(&String::from_utf8_lossy(&prefix), ERROR_BODY_KEPT)
    };
    Err(DeliveryError::Status {
        status: status.as_u16(),
        body: body.trim().to_owned(),
    })
}

/// The first `limit` bytes of the body (fewer if it ends or breaks first). Dropping the
/// response afterwards closes the connection rather than reading the rest.
async fn read_prefix(mut response: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < limit {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let take = chunk.len().min(limit - out.len());
                out.extend_from_slice(&chunk[..take]);
            }
            Ok(None) | Err(_) => break,
        }
    }
    out
}

/// At most `max` bytes of `text`, cut at a character boundary.
fn keep_prefix(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

fn delivery_error(e: reqwest::Error) -> DeliveryError {
    if let Some(tls) = super::tls::delivery_error(&e, || chain(&e)) {
        tls
    } else if e.is_timeout() {
        DeliveryError::Transport(format!("timed out: {}", chain(&e)))
    } else {
        DeliveryError::Transport(chain(&e))
    }
}

/// An error and its sources, joined by `: `.
fn chain(e: &dyn StdError) -> String {
    crate::error_chain::Chain(e).to_string()
}

/// The TLS and proxy setters of an HTTP channel's builder (a field `http: HttpOptions`),
/// the same on the webhook and Alertmanager builders.
macro_rules! http_option_setters {
    () => {
        /// Trusts the CA certificates in `pem` (one or more `BEGIN CERTIFICATE` blocks, e.g.
        /// the company CA) besides the system's certificate store, which is always trusted.
        /// Checked at `build()`.
        pub fn root_certificate(mut self, pem: impl AsRef<[u8]>) -> Self {
            self.http.roots.push(pem.as_ref().to_vec());
            self
        }

        /// Presents a client certificate for mutual TLS: the certificate chain (leaf first)
        /// and its private key (PKCS#8, PKCS#1 or SEC1), both PEM. Checked at `build()`.
        pub fn client_identity(
            mut self,
            certificate_chain_pem: impl AsRef<[u8]>,
            private_key_pem: impl AsRef<[u8]>,
        ) -> Self {
            self.http.identity = Some((
                certificate_chain_pem.as_ref().to_vec(),
                private_key_pem.as_ref().to_vec(),
            ));
            self
        }

        /// Sends every request through the proxy at `url` (`http://proxy:3128`, with
        /// `user:password@` if it needs them), instead of the one `HTTPS_PROXY`,
        /// `HTTP_PROXY` or `ALL_PROXY` names; hosts in `NO_PROXY` still go direct.
        /// Checked at `build()`.
        pub fn proxy(mut self, url: impl Into<String>) -> Self {
            self.http.proxy = Some(url.into());
            self.http.no_proxy = false;
            self
        }

        /// Connects directly, ignoring the proxy environment variables.
        pub fn no_proxy(mut self) -> Self {
            self.http.no_proxy = true;
            self.http.proxy = None;
            self
        }
    };
}

pub(crate) use http_option_setters;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_absolute_http() {
        assert!(parse_url("http://127.0.0.1:9093").is_ok());
        assert!(parse_url("https://hooks.example.com/x?y=1").is_ok());
        for bad in [
            "",
            "not a url",
            "ftp://example.com/",
            "/relative",
            "mailto:a@b.c",
        ] {
            let err = parse_url(bad).unwrap_err();
            assert!(
                matches!(err, NotifyError::InvalidUrl { .. }),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn the_kept_prefix_ends_on_a_character_boundary() {
        assert_eq!(keep_prefix("abc", 256), "abc");
        assert_eq!(keep_prefix("ééé", 3), "é");
        assert_eq!(keep_prefix(&"x".repeat(300), 256).len(), 256);
    }

    #[test]
    fn headers_are_validated() {
        let ok = header_map(&[("X-Team".into(), "db".into())]).unwrap();
        assert_eq!(ok["x-team"], "db");
        let bad_name = header_map(&[("X Team".into(), "db".into())]).unwrap_err();
        assert!(matches!(bad_name, NotifyError::InvalidHeader { .. }));
        let bad_value = header_map(&[("X-Team".into(), "a\nb".into())]).unwrap_err();
        assert!(matches!(bad_value, NotifyError::InvalidHeader { .. }));
    }
}
