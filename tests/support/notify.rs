//! Notifier channels for the notifier tests.

use breakerbox::notify::{EmailNotifier, SmtpSecurity};

use super::process::dead_port;

/// An email channel to a port where nothing listens: every delivery is refused.
pub fn email_to_dead_server() -> EmailNotifier {
    EmailNotifier::builder("127.0.0.1")
        .port(dead_port())
        .security(SmtpSecurity::None)
        .from("breakerbox@example.com")
        .to("oncall@example.com")
        .build()
        .unwrap()
}
