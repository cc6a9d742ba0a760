//! The notifier: the dispatcher with in-process channels, and deliveries to real servers
//! (an HTTP receiver, Alertmanager, an SMTP server), with every channel dead under stress,
//! and over real TLS (HTTPS, STARTTLS, SMTPS, Alertmanager with mutual TLS) and a real
//! proxy. One test binary for all of them.

#[path = "../support/mod.rs"]
mod support;

mod alertmanager;
mod dispatcher;
mod email;
mod stress;
mod tls_alertmanager;
mod tls_email;
mod tls_env;
#[cfg(all(
    feature = "notify-email",
    feature = "notify-webhook",
    feature = "metrics",
    feature = "tracing"
))]
mod tls_support;
mod tls_webhook;
mod webhook;
