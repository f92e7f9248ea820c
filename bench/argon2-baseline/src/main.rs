//! Bare argon2id hashing throughput at Sigil's password parameters, on N threads for S seconds.
//!
//! Usage: argon2-baseline [--threads N] [--seconds S] [--m-kib M] [--t T] [--p P]
//! Prints one JSON object: total hashes, hashes per second over all threads, and per-hash latency
//! percentiles. This is the floor Sigil's `POST /api/auth/sign-in/email` is compared with.
use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Params, Version};

struct Args {
    threads: usize,
    seconds: f64,
    m_kib: u32,
    t: u32,
    p: u32,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args { threads: 2, seconds: 5.0, m_kib: 19456, t: 2, p: 1 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--threads" => args.threads = value.parse().map_err(|e| bad(&e))?,
            "--seconds" => args.seconds = value.parse().map_err(|e| bad(&e))?,
            "--m-kib" => args.m_kib = value.parse().map_err(|e| bad(&e))?,
            "--t" => args.t = value.parse().map_err(|e| bad(&e))?,
            "--p" => args.p = value.parse().map_err(|e| bad(&e))?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if args.threads == 0 || args.seconds <= 0.0 {
        return Err("--threads and --seconds must be positive".into());
    }
    Ok(args)
}

fn percentile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[idx].as_secs_f64() * 1e3
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("argon2-baseline: {e}");
            std::process::exit(2);
        }
    };
    let params = match Params::new(args.m_kib, args.t, args.p, Some(32)) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("argon2-baseline: bad parameters: {e}");
            std::process::exit(2);
        }
    };
    let hasher = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    // One warm-up hash so the first allocation of the memory blocks is not timed.
    let mut out = [0u8; 32];
    let _ = hasher.hash_password_into(b"correct-horse-battery", b"warmup-salt-0123", &mut out);

    let budget = Duration::from_secs_f64(args.seconds);
    let started = Instant::now();
    let mut latencies: Vec<Duration> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..args.threads)
            .map(|i| {
                let hasher = hasher.clone();
                s.spawn(move || {
                    let mut out = [0u8; 32];
                    let mut salt = [0u8; 16];
                    let mut times = Vec::new();
                    let mut n: u64 = 0;
                    while started.elapsed() < budget {
                        salt[..8].copy_from_slice(&n.to_le_bytes());
                        salt[8] = i as u8;
                        let t0 = Instant::now();
                        if let Err(e) = hasher.hash_password_into(b"correct-horse-battery", &salt, &mut out) {
                            eprintln!("argon2-baseline: {e}");
                            std::process::exit(1);
                        }
                        times.push(t0.elapsed());
                        n += 1;
                    }
                    times
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap_or_default()).collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    println!(
        "{{\"algorithm\":\"argon2id\",\"m_kib\":{},\"t\":{},\"p\":{},\"threads\":{},\"seconds\":{:.3},\"hashes\":{},\"hashes_per_sec\":{:.2},\"p50_ms\":{:.2},\"p99_ms\":{:.2}}}",
        args.m_kib,
        args.t,
        args.p,
        args.threads,
        elapsed,
        latencies.len(),
        latencies.len() as f64 / elapsed,
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
    );
}
