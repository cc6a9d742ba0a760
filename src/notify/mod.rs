//! Notifications on state changes: email, webhooks (JSON or Slack) and Alertmanager,
//! delivered in the background so that a call never waits for them.
//!
//! A [`Dispatcher`] is a [`Listener`](crate::Listener): subscribe it to a
//! [`Registry`](crate::Registry) or a breaker. On a transition the call path clones the
//! [`Transition`](crate::Transition) and `try_send`s it into a bounded queue (a full queue
//! counts a drop) and returns. A Tokio task de-duplicates per breaker (one notice when `postgres` opens, one
//! when it recovers, one "flapping" summary instead of a storm) and hands each
//! [`Notification`] to every channel's own task, which delivers it with a timeout and
//! retries with exponential backoff and jitter before counting a failure.
//!
//! ```no_run
//! # #[cfg(feature = "notify-webhook")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use breakerbox::notify::{Dispatcher, WebhookNotifier};
//! use breakerbox::{Config, Registry};
//! use std::time::Duration;
//!
//! let registry = Registry::new();
//! let hook = WebhookNotifier::builder("https://hooks.example.com/breakers")
//!     .secret("shared-secret")
//!     .build()?;
//! let dispatcher = Dispatcher::builder().channel(hook).build()?;
//! registry.subscribe(dispatcher.listener());
//! let db = registry.breaker("postgres", Config::database())?;
//! // ... calls through `db` ...
//! dispatcher.shutdown(Duration::from_secs(5)).await; // flush what is queued
//! # Ok(()) }
//! ```
//!
//! The guide, the webhook's JSON schema and the metrics are in `docs/NOTIFY.md`.

mod channel;
mod deadline;
mod dispatcher;
mod error;
mod message;
mod payload;
mod policy;
mod stats;
mod suppress;

#[cfg(feature = "notify-webhook")]
mod alertmanager;
#[cfg(feature = "notify-email")]
mod email;
#[cfg(feature = "notify-webhook")]
mod http;
#[cfg(any(feature = "notify-email", feature = "notify-webhook"))]
mod tls;
#[cfg(feature = "notify-webhook")]
mod webhook;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

#[cfg(feature = "notify-webhook")]
#[cfg_attr(docsrs, doc(cfg(feature = "notify-webhook")))]
pub use alertmanager::{AlertmanagerBuilder, AlertmanagerNotifier};
pub use dispatcher::{DispatchListener, Dispatcher, DispatcherBuilder};
#[cfg(feature = "notify-email")]
#[cfg_attr(docsrs, doc(cfg(feature = "notify-email")))]
pub use email::{EmailBuilder, EmailNotifier, SmtpSecurity};
pub use error::{DeliveryError, NotifyError, TlsCause};
pub use message::{Kind, Notification};
pub use payload::{FlapDetails, FleetView, TransitionView, WebhookPayload, WindowNumbers};
pub use policy::{Filter, FlapPolicy, RetryPolicy};
pub use stats::{ChannelStats, Stats};
#[cfg(feature = "notify-webhook")]
#[cfg_attr(docsrs, doc(cfg(feature = "notify-webhook")))]
pub use webhook::{SIGNATURE_HEADER, WebhookBuilder, WebhookFormat, WebhookNotifier};

/// A boxed, `Send` future: what [`Notifier::send`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A channel that delivers [`Notification`]s: email, a webhook, Alertmanager, or your own.
///
/// [`send`](Notifier::send) makes one attempt; the [`Dispatcher`] adds the timeout, the
/// retries and the counting around it, so an implementation stays small:
///
/// ```
/// use breakerbox::notify::{BoxFuture, DeliveryError, Notification, Notifier};
///
/// #[derive(Debug)]
/// struct Stdout;
///
/// impl Notifier for Stdout {
///     fn channel(&self) -> &str {
///         "stdout"
///     }
///     fn send<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), DeliveryError>> {
///         Box::pin(async move {
///             println!("{}", n.subject());
///             Ok(())
///         })
///     }
/// }
/// ```
pub trait Notifier: Send + Sync + fmt::Debug + 'static {
    /// The channel's name: the `channel` label of `breakerbox_notifications_total`
    /// (`email`, `webhook`, `alertmanager`, ...). Keep it short and fixed.
    fn channel(&self) -> &str;

    /// Makes one delivery attempt.
    ///
    /// # Errors
    /// A [`DeliveryError`]; the dispatcher retries it if
    /// [`DeliveryError::is_retryable`] says so.
    fn send<'a>(
        &'a self,
        notification: &'a Notification,
    ) -> BoxFuture<'a, Result<(), DeliveryError>>;

    /// How often a still-firing notification must be sent again, for receivers that
    /// expire alerts nobody repeats (Alertmanager). `None`, the default, sends once.
    fn refresh_interval(&self) -> Option<Duration> {
        None
    }
}

// The notification counters (`breakerbox_notifications_total`) live with the other
// metrics, in `observe`.
pub(crate) use crate::observe::{
    count_notification as record, count_notification_tls_error as record_tls,
    preregister_notifications as preregister,
};
