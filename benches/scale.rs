//! Cost of a call with 1, 1,000 and 100,000 breakers registered: on one hot breaker
//! (the work per call must not depend on how many breakers exist), and round-robin over
//! all of them (each call then touches a breaker that is probably not in cache: that
//! is the memory system, reported so the numbers are honest).

mod common;

use std::hint::black_box;
use std::time::Instant;

use breakerbox::{CircuitBreaker, Config, Registry};
use criterion::{Criterion, criterion_group, criterion_main};

fn registry_of(n: usize) -> Vec<CircuitBreaker> {
    let registry = Registry::new();
    (0..n)
        .map(|i| {
            registry
                .breaker(&format!("breaker-{i:06}"), Config::default())
                .unwrap()
        })
        .collect()
}

fn scale(c: &mut Criterion) {
    let mut g = c.benchmark_group("scale");
    for n in [1usize, 1_000, 100_000] {
        let breakers = registry_of(n);
        let hot = &breakers[n / 2];
        g.bench_function(format!("hot_{n}"), |b| {
            b.iter(|| black_box(hot.call_sync(|| Ok::<u64, ()>(black_box(1)))))
        });
        g.bench_function(format!("round_robin_{n}"), |b| {
            b.iter_custom(|iters| {
                let mut i = 0;
                let start = Instant::now();
                for _ in 0..iters {
                    let r = breakers[i].call_sync(|| Ok::<u64, ()>(black_box(1)));
                    let _ = black_box(r);
                    i += 1;
                    if i == n {
                        i = 0;
                    }
                }
                start.elapsed()
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = scale
}
criterion_main!(benches);
