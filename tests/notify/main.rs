//! The notifier: the dispatcher with in-process channels, and deliveries to real servers
//! (an HTTP receiver, Alertmanager, an SMTP server), with every channel dead under stress.
//! One test binary for all of them.

#[path = "../support/mod.rs"]
mod support;

mod alertmanager;
mod dispatcher;
mod email;
mod stress;
mod webhook;
