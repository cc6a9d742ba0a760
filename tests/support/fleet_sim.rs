//! A simulated fleet against a real redis-server: R replicas' rounds over B breakers in one
//! process, each replica with its own connection and its rounds spread over the period as
//! real replicas' are. Two designs: the server-side window (`src/fleet/window.lua`, one
//! script call per breaker) and the previous layout (one hash field per replica and period,
//! read whole by every replica each round), so that the bench prints both side by side
//! and a test checks how each grows with R. Measured from the server: commands, bytes and
//! CPU seconds (`INFO`), and each round's time at the client.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis::aio::MultiplexedConnection;

const SCRIPT: &str = include_str!("../../src/fleet/window.lua");

/// Which key layout the replicas run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Design {
    /// The server-side window: slot totals, rolling totals, quorum sets.
    Slots,
    /// The previous layout: a field per replica and period, `HGETALL` by every replica.
    Fields,
}

/// One point of the simulation.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    pub design: Design,
    pub replicas: usize,
    pub breakers: usize,
    pub period: Duration,
    pub window: Duration,
    /// Periods run before measuring.
    pub warmup: u32,
    /// Periods measured.
    pub measured: u32,
}

/// What a point measured.
#[derive(Debug, Clone)]
pub struct Report {
    pub setup: Setup,
    /// Replica rounds completed in the measured periods.
    pub rounds: u64,
    /// Rounds whose reply was not what the design expects (an error, a timeout).
    pub failed: u64,
    /// Commands the server processed (script calls and the commands they ran).
    pub commands: u64,
    /// Bytes received and sent by the server.
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// The server's CPU seconds (user + system).
    pub cpu: f64,
    /// Wall-clock seconds measured.
    pub seconds: f64,
    /// Round times, sorted.
    pub round_times: Vec<Duration>,
}

impl Report {
    /// Server CPU seconds per second.
    pub fn cpu_per_second(&self) -> f64 {
        self.cpu / self.seconds.max(1e-9)
    }

    fn per_round(&self, n: u64) -> f64 {
        n as f64 / self.rounds.max(1) as f64
    }

    /// Server commands per replica round.
    pub fn commands_per_round(&self) -> f64 {
        self.per_round(self.commands)
    }

    /// Bytes (in + out) per replica round.
    pub fn bytes_per_round(&self) -> f64 {
        self.per_round(self.bytes_in + self.bytes_out)
    }

    /// A quantile of the round times (0.5, 0.99).
    pub fn round_time(&self, q: f64) -> Duration {
        let n = self.round_times.len();
        if n == 0 {
            return Duration::ZERO;
        }
        let i = ((n as f64 * q).ceil() as usize).clamp(1, n) - 1;
        self.round_times[i]
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn ms(d: Duration) -> u64 {
    d.as_millis().max(1) as u64
}

/// The server's counters: commands, bytes in, bytes out, CPU seconds.
async fn counters(conn: &mut MultiplexedConnection) -> redis::RedisResult<(u64, u64, u64, f64)> {
    let info: String = redis::cmd("INFO").arg("all").query_async(conn).await?;
    let map: HashMap<&str, &str> = info
        .lines()
        .filter_map(|l| l.trim().split_once(':'))
        .collect();
    let int = |k: &str| map.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let float = |k: &str| {
        map.get(k)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Ok((
        int("total_commands_processed"),
        int("total_net_input_bytes"),
        int("total_net_output_bytes"),
        float("used_cpu_user") + float("used_cpu_sys"),
    ))
}

/// The deltas a replica publishes for a breaker each period: 10 calls, a failure on one
/// breaker in ten.
fn deltas(replica: usize, breaker: usize) -> (u64, u64) {
    (10, u64::from((replica + breaker).is_multiple_of(10)))
}

/// One replica's round in the server-side design: one script call per breaker.
async fn round_slots(
    conn: &mut MultiplexedConnection,
    sha: &str,
    s: &Setup,
    replica: usize,
) -> redis::RedisResult<bool> {
    let mut pipe = redis::pipe();
    let now = now_ms();
    let slots = ms(s.window).div_ceil(ms(s.period)).max(1);
    for b in 0..s.breakers {
        let base = format!("sim:v2:{{b{b}}}");
        let (calls, failures) = deltas(replica, b);
        pipe.cmd("EVALSHA")
            .arg(sha)
            .arg(2)
            .arg(format!("{base}:w"))
            .arg(format!("{base}:hb"))
            .arg(format!("r{replica}"))
            .arg(now)
            .arg(ms(s.period))
            .arg(slots)
            .arg(3 * ms(s.period))
            .arg(calls)
            .arg(failures)
            .arg(0)
            .arg(-1)
            .arg(ms(s.window) + 3 * ms(s.period));
    }
    let replies: Vec<Vec<i64>> = pipe.query_async(conn).await?;
    Ok(replies.iter().all(|r| r.len() == 5))
}

/// One replica's round in the previous design: heartbeat, a field per breaker, every
/// breaker's whole hash read back, expired fields deleted, the replicas' heartbeats checked.
async fn round_fields(
    conn: &mut MultiplexedConnection,
    s: &Setup,
    replica: usize,
    seq: &mut u64,
) -> redis::RedisResult<bool> {
    let now = now_ms();
    let mut pipe = redis::pipe();
    pipe.cmd("SET")
        .arg(format!("sim:hb:r{replica}"))
        .arg(1)
        .arg("PX")
        .arg(3 * ms(s.period))
        .ignore();
    *seq += 1;
    for b in 0..s.breakers {
        let key = format!("sim:w:b{b}");
        let (calls, failures) = deltas(replica, b);
        pipe.cmd("HSET")
            .arg(&key)
            .arg(format!("r{replica}:{seq}"))
            .arg(format!("{now} {calls} {failures} 0"))
            .ignore();
        pipe.cmd("PEXPIRE")
            .arg(&key)
            .arg(ms(s.window) + 3 * ms(s.period))
            .ignore();
        pipe.cmd("HGETALL").arg(&key);
    }
    let windows: Vec<HashMap<String, String>> = pipe.query_async(conn).await?;
    let mut ids: Vec<&str> = Vec::new();
    let mut stale = redis::pipe();
    let mut any_stale = false;
    for (b, w) in windows.iter().enumerate() {
        for (field, value) in w {
            let at: u64 = value
                .split(' ')
                .next()
                .and_then(|x| x.parse().ok())
                .unwrap_or(0);
            if at + ms(s.window) < now {
                any_stale = true;
                stale
                    .cmd("HDEL")
                    .arg(format!("sim:w:b{b}"))
                    .arg(field)
                    .ignore();
            }
            ids.push(field.split_once(':').map_or(field.as_str(), |(r, _)| r));
        }
    }
    ids.sort_unstable();
    ids.dedup();
    let mut live = redis::pipe();
    for id in &ids {
        live.cmd("EXISTS").arg(format!("sim:hb:{id}"));
    }
    if !ids.is_empty() {
        let _: Vec<bool> = live.query_async(conn).await?;
    }
    if any_stale {
        stale.query_async::<()>(conn).await?;
    }
    Ok(windows.len() == s.breakers)
}

/// Fills the previous design's hashes as a full window leaves them: a field per replica
/// and period.
async fn prefill_fields(conn: &mut MultiplexedConnection, s: &Setup) -> redis::RedisResult<()> {
    let now = now_ms();
    let periods = ms(s.window) / ms(s.period);
    for b in 0..s.breakers {
        let mut pipe = redis::pipe();
        for p in 0..periods {
            let at = now.saturating_sub(ms(s.window)) + p * ms(s.period);
            for r in 0..s.replicas {
                let (calls, failures) = deltas(r, b);
                pipe.cmd("HSET")
                    .arg(format!("sim:w:b{b}"))
                    .arg(format!("r{r}:old{p}"))
                    .arg(format!("{at} {calls} {failures} 0"))
                    .ignore();
            }
        }
        pipe.query_async::<()>(conn).await?;
    }
    Ok(())
}

/// Runs one point against the Redis at `url` (flushed first).
pub async fn run(url: &str, s: Setup) -> redis::RedisResult<Report> {
    let client = redis::Client::open(url)?;
    // No response timeout of the client's own (500 ms): a saturated server answers late,
    // and the rounds are bounded by the period below.
    let config = redis::AsyncConnectionConfig::new()
        .set_response_timeout(None)
        .set_connection_timeout(None);
    let mut admin = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    redis::cmd("FLUSHALL").query_async::<()>(&mut admin).await?;
    let sha: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(SCRIPT)
        .query_async(&mut admin)
        .await?;
    if s.design == Design::Fields {
        prefill_fields(&mut admin, &s).await?;
    }
    // Round times and outcomes, recorded only while `measuring` holds.
    let log: Arc<Mutex<(bool, Vec<Duration>, u64)>> = Arc::default();
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(s.replicas);
    for replica in 0..s.replicas {
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        let (sha, log) = (sha.clone(), log.clone());
        let offset = s.period.mul_f64(replica as f64 / s.replicas as f64);
        tasks.push(tokio::spawn(async move {
            let mut ticker = tokio::time::interval_at(start + offset, s.period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut seq = 0;
            loop {
                ticker.tick().await;
                let t = Instant::now();
                let round = async {
                    match s.design {
                        Design::Slots => round_slots(&mut conn, &sha, &s, replica).await,
                        Design::Fields => round_fields(&mut conn, &s, replica, &mut seq).await,
                    }
                };
                let ok = matches!(tokio::time::timeout(s.period, round).await, Ok(Ok(true)));
                let took = t.elapsed();
                let mut log = log.lock().unwrap();
                if log.0 {
                    log.1.push(took);
                    log.2 += u64::from(!ok);
                }
            }
        }));
    }
    tokio::time::sleep(s.period * s.warmup).await;
    let before = counters(&mut admin).await?;
    let t = Instant::now();
    log.lock().unwrap().0 = true;
    tokio::time::sleep(s.period * s.measured).await;
    log.lock().unwrap().0 = false;
    let seconds = t.elapsed().as_secs_f64();
    let after = counters(&mut admin).await?;
    for task in &tasks {
        task.abort();
    }
    let (_, mut round_times, failed) = std::mem::take(&mut *log.lock().unwrap());
    round_times.sort_unstable();
    Ok(Report {
        setup: s,
        rounds: round_times.len() as u64,
        failed,
        // The INFO calls themselves: one each side.
        commands: after.0.saturating_sub(before.0).saturating_sub(1),
        bytes_in: after.1.saturating_sub(before.1),
        bytes_out: after.2.saturating_sub(before.2),
        cpu: after.3 - before.3,
        seconds,
        round_times,
    })
}
