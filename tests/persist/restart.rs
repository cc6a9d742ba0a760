//! The acceptance test: the demo service as a real process, forced open through its admin
//! API, killed, and started again with the same state file.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::demo::demo_binary;
use crate::support::eventually::eventually;
use crate::support::http::client;
use crate::support::process::{Server, free_port};

const TOKEN: &str = "persist-admin-token";
/// The force-open's TTL, in seconds.
const TTL: u64 = 600;

/// One run of the demo on a port the test picks, keeping its state in `state`.
fn start(bin: &Path, state: &Path, name: &'static str) -> Server {
    let port = free_port();
    let mut cmd = Command::new(bin);
    cmd.arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .args(["--seconds", "0", "--quiet", "--seed", "1"])
        .args(["--admin-token", TOKEN])
        .arg("--state-file")
        .arg(state);
    Server::spawn(name, port, tempfile::tempdir().unwrap(), cmd)
}

/// The health API's view of the breaker `name`.
async fn breaker(http: &reqwest::Client, demo: &Server, name: &str) -> Option<Value> {
    let url = format!("{}/api/circuit-breakers/health", demo.url());
    let health: Value = http.get(url).send().await.ok()?.json().await.ok()?;
    health["breakers"]
        .as_array()?
        .iter()
        .find(|b| b["name"] == name)
        .cloned()
}

/// The state file's record of `name`, once the file holds one.
fn saved(state: &Path, name: &str) -> Option<Value> {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(state).ok()?).ok()?;
    let record = &v["breakers"][name];
    (!record.is_null()).then(|| record.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_open_ttl_survives_a_real_restart_of_the_demo() {
    let http = client();
    // Progress on stderr (shown when the test fails): where the time goes, never asserted.
    let started = std::time::Instant::now();
    let phase = |what: &str| eprintln!("[{:6.1} s] {what}", started.elapsed().as_secs_f64());
    let bin = demo_binary();
    phase("demo built");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("breakers.json");

    let mut first = start(&bin, &state, "demo-first");
    eventually("the demo serving", Duration::from_secs(60), || {
        breaker(&http, &first, "postgres")
    })
    .await;
    phase("first run serving");
    let resp = http
        .post(format!(
            "{}/api/circuit-breakers/force-open/postgres?ttl={TTL}s",
            first.url()
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());

    // The writer has saved the force-open, and some of its TTL has run: the health API
    // counts whole seconds, rounded up, so wait until it says at least 2 fewer.
    let (before, forced) = eventually(
        "the force-open saved and 2 s of its TTL run",
        Duration::from_secs(60),
        || async {
            let record = saved(&state, "postgres")?;
            (record["state"] == "forced_open").then_some(())?;
            let view = breaker(&http, &first, "postgres").await?;
            let left = view["retry_after_secs"].as_u64()?;
            (view["state"] == "forced_open" && left <= TTL - 2)
                .then(|| (left, view["last_transition"].clone()))
        },
    )
    .await;
    assert_eq!(forced["restored"], false, "{forced}");

    phase("force-open saved, 2 s of its TTL run");
    // A crash: SIGKILL leaves the process no chance to save anything more.
    let killed = Command::new("kill")
        .args(["-KILL", &first.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    first.stop();

    let second = start(&bin, &state, "demo-second");
    let view = eventually(
        "the restarted demo serving",
        Duration::from_secs(60),
        || breaker(&http, &second, "postgres"),
    )
    .await;
    phase("second run serving");
    let log = second.log();
    assert_eq!(view["state"], "forced_open", "{view}\n{log}");
    let left = view["retry_after_secs"].as_u64().unwrap();
    assert!(
        left > 0 && left <= before && left < TTL,
        "remaining {left} s after the restart; {before} s before it, TTL {TTL} s"
    );
    // Its last transition is the force-open of the first run, marked restored: the
    // reason and the time come from the state file, not from the restart.
    let last = &view["last_transition"];
    assert_eq!(last["restored"], true, "{view}");
    for key in ["from", "to", "reason", "at", "at_unix_ms", "open_for_ms"] {
        assert_eq!(last[key], forced[key], "last_transition.{key}: {view}");
    }
    assert_eq!(last["reason"], "forced");
    // The operator states the first run set survive too (the second run does not set them).
    let search = breaker(&http, &second, "search").await.unwrap();
    assert_eq!(search["state"], "disabled");
    let recommendations = breaker(&http, &second, "recommendations").await.unwrap();
    assert_eq!(recommendations["state"], "metrics_only");

    // Metrics say so as well, and the restored breaker refuses calls.
    let metrics = http
        .get(format!("{}/metrics", second.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let forced = metrics.lines().any(|l| {
        l.starts_with("breakerbox_state{")
            && l.contains(r#"breaker="postgres""#)
            && l.contains(r#"state="forced_open""#)
            && l.ends_with(" 1")
    });
    assert!(forced, "{metrics}");
    eventually(
        "postgres refusing calls after the restart",
        Duration::from_secs(30),
        || async {
            let view = breaker(&http, &second, "postgres").await?;
            (view["totals"]["rejected"].as_u64()? > 0).then_some(())
        },
    )
    .await;
    phase("restored breaker refusing calls");
}
