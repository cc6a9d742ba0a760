//! Notifications on state changes: `postgres` opens and recovers; a signed JSON webhook
//! reaches a tiny local receiver that prints it, and a second webhook points at a port where
//! nothing listens, so its deliveries are retried and counted as failed. Calls never wait.
//!
//! Run: `cargo run --example notifier --features notify-webhook`
//! (add `--features notify-email` and set `SMTP_PORT` to also mail a relay on localhost,
//! e.g. `/usr/bin/python3 -m aiosmtpd -n -l 127.0.0.1:2525`).

use std::net::TcpListener as StdListener;
use std::time::{Duration, Instant};

use breakerbox::notify::{Dispatcher, FlapPolicy, RetryPolicy, WebhookNotifier};
use breakerbox::{Config, Registry};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Failed deliveries are logged through `tracing`.
    tracing_subscriber::fmt().with_target(false).init();
    let receiver = TcpListener::bind("127.0.0.1:0").await?;
    let receiver_url = format!("http://{}/breakers", receiver.local_addr()?);
    tokio::spawn(serve(receiver));
    let nowhere = StdListener::bind("127.0.0.1:0")?.local_addr()?; // closed again at once

    let retry = RetryPolicy::new()
        .attempts(3)
        .backoff(Duration::from_millis(50), Duration::from_millis(200))
        .timeout(Duration::from_secs(1));
    let mut builder = Dispatcher::builder()
        .channel(
            WebhookNotifier::builder(&receiver_url)
                .secret("example-secret")
                .header("X-Team", "payments")
                .build()?,
        )
        .channel(
            WebhookNotifier::builder(format!("http://{nowhere}/"))
                .channel_name("dead-webhook")
                .build()?,
        )
        .retry(retry.clone())
        .flapping(FlapPolicy::new(4, Duration::from_secs(300)));
    builder = with_email(builder)?;
    let dispatcher = builder.build()?;
    println!("webhook receiver: {receiver_url}");
    println!("dead webhook:     http://{nowhere}/");
    println!("retry policy:     {retry:?}\n");

    let registry = Registry::new();
    dispatcher.subscribe(&registry);
    let config = Config::builder().failure_threshold(3).build()?;
    let db = registry.breaker("postgres", config)?;

    let started = Instant::now();
    for _ in 0..3 {
        let _ = db.call_sync(|| Err::<(), _>("connection refused"));
    }
    println!(
        "postgres is {} after 3 failures; the calls took {:?} in all",
        db.state(),
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    db.reset();
    println!("postgres is {} again (operator reset)", db.state());

    let stats = dispatcher.shutdown(Duration::from_secs(5)).await;
    println!(
        "\ntransitions offered {}, notices {}",
        stats.offered, stats.notifications
    );
    for c in &stats.channels {
        println!(
            "  {:<13} sent {} failed {} dropped {}",
            c.channel, c.sent, c.failed, c.dropped
        );
    }
    Ok(())
}

#[cfg(feature = "notify-email")]
fn with_email(
    builder: breakerbox::notify::DispatcherBuilder,
) -> Result<breakerbox::notify::DispatcherBuilder, Box<dyn std::error::Error>> {
    use breakerbox::notify::{EmailNotifier, SmtpSecurity};
    let Ok(port) = std::env::var("SMTP_PORT") else {
        return Ok(builder);
    };
    let email = EmailNotifier::builder("127.0.0.1")
        .port(port.parse()?)
        .security(SmtpSecurity::None)
        .from("Breakerbox <breakerbox@example.com>")
        .to("oncall@example.com")
        .build()?;
    println!("email:            127.0.0.1:{port}");
    Ok(builder.channel(email))
}

#[cfg(not(feature = "notify-email"))]
fn with_email(
    builder: breakerbox::notify::DispatcherBuilder,
) -> Result<breakerbox::notify::DispatcherBuilder, Box<dyn std::error::Error>> {
    Ok(builder)
}

/// A minimal HTTP/1.1 receiver: prints each request's signature header and JSON body and
/// answers 200.
async fn serve(listener: TcpListener) {
    while let Ok((socket, _)) = listener.accept().await {
        tokio::spawn(connection(socket));
    }
}

async fn connection(mut socket: TcpStream) {
    let mut buf = Vec::new();
    loop {
        let Some(head_end) = find(&buf, b"\r\n\r\n") else {
            let mut chunk = [0u8; 4096];
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let header = |name: &str| {
            head.lines()
                .find_map(|l| {
                    l.split_once(':')
                        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                })
                .map(|(_, v)| v.trim().to_owned())
        };
        let len: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + 4 + len {
            let mut chunk = [0u8; 4096];
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = String::from_utf8_lossy(&buf[head_end + 4..head_end + 4 + len]).to_string();
        println!(
            "receiver got {} (signature {})\n  {body}",
            head.lines().next().unwrap_or_default(),
            header("x-breakerbox-signature").unwrap_or_else(|| "none".into())
        );
        buf.drain(..head_end + 4 + len);
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        if socket.write_all(ok).await.is_err() {
            return;
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
