//! The CPU engine's results do not depend on the instruction set its kernels use
//! ([`neural::simd`]): every method trained with the portable kernels forced and with each SIMD
//! level this CPU supports gives bit-for-bit the same tables, curve, parameters, target
//! parameters and optimiser moments. `QFACTOR_SIMD` is checked in a child process (it is read
//! once per process): `portable` forces the portable kernels on every thread, worker threads
//! included, and an unknown value falls back to the detected level with one warning.

mod common;

use common::{tiny, two_step};
use neural::checkpoint;
use neural::config::{Method, Precision, TrainConfig};
use neural::learner::Learner;
use neural::simd::{self, Level};
use std::hash::{Hash, Hasher};
use std::process::Command;
use tch::{Device, Kind, Tensor};

fn cfg(method: Method, seeds: usize, steps: usize) -> TrainConfig {
    let mut c = tiny(method, seeds, steps);
    c.epsilon.start = 1.0;
    c.epsilon.finish = 0.2;
    c.epsilon.anneal_steps = steps / 2;
    assert!(c.cpu_kernels, "the CPU engine is the default");
    c
}

/// Everything a run produced, exactly: the evaluated tables and the curve (`{:?}` prints the
/// shortest string that reads back to the same float, so equal strings mean equal bits), and
/// the bits of every tensor of a checkpoint (parameters, target parameters, optimiser
/// moments, replay buffers, last loss).
fn fingerprint(c: &TrainConfig) -> String {
    let mut learner = Learner::new(&two_step(), c, Device::Cpu).unwrap();
    learner.run_until(c.steps, &mut |_| {}).unwrap();
    assert!(
        learner.curve().iter().any(|p| p.loss.is_some()),
        "the run learned (the comparison covers the optimiser)"
    );
    let mut s = format!("{:?}\n{:?}\n", learner.evaluate().unwrap(), learner.curve());
    let dir = tempfile::tempdir().unwrap();
    checkpoint::save(&learner, dir.path()).unwrap();
    let mut tensors = Tensor::read_safetensors(dir.path().join("state.safetensors")).unwrap();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(tensors.iter().any(|(name, _)| name.starts_with("optim_v/")));
    for (name, t) in tensors {
        let t = t.flatten(0, -1);
        let bits: Vec<u64> = match t.kind() {
            // Exact: every f32 is an f64.
            Kind::Float | Kind::Double => Vec::<f64>::try_from(t.to_kind(Kind::Double))
                .unwrap()
                .into_iter()
                .map(f64::to_bits)
                .collect(),
            _ => Vec::<i64>::try_from(t.to_kind(Kind::Int64))
                .unwrap()
                .into_iter()
                .map(|x| x as u64)
                .collect(),
        };
        s += &format!("{name}: {bits:x?}\n");
    }
    s
}

/// The levels this CPU can run, portable first.
fn levels() -> Vec<Level> {
    Level::ALL.into_iter().filter(|l| l.supported()).collect()
}

/// Every method (separate networks; VDN and QMIX also shared), f64 and f32: the portable
/// kernels forced and every SIMD level this CPU supports train to bit-for-bit the same state.
/// On a CPU without AVX2 + FMA only the portable path exists and the test checks nothing
/// beyond determinism.
#[test]
fn every_simd_level_trains_bit_for_bit_alike() {
    let variants = Method::ALL
        .into_iter()
        .map(|m| (m, false))
        .chain([(Method::Vdn, true), (Method::Qmix, true)]);
    eprintln!("detected SIMD level: {}", simd::detected());
    for (m, shared) in variants {
        for precision in [Precision::F64, Precision::F32] {
            let mut c = cfg(m, 2, 120);
            c.agent.shared = shared;
            c.precision = precision;
            let portable = simd::with_level(Level::Portable, || fingerprint(&c));
            for level in levels() {
                let other = simd::with_level(level, || fingerprint(&c));
                assert!(
                    other == portable,
                    "{m} shared {shared} {precision:?}: {level} differs from portable\n{}",
                    first_difference(&portable, &other)
                );
            }
        }
    }
}

/// The first differing line of two fingerprints (for the failure message).
fn first_difference(a: &str, b: &str) -> String {
    a.lines()
        .zip(b.lines())
        .find(|(x, y)| x != y)
        .map(|(x, y)| {
            let cut = |s: &str| s.chars().take(400).collect::<String>();
            format!("portable: {}\nother:    {}", cut(x), cut(y))
        })
        .unwrap_or_else(|| "(different lengths)".into())
}

/// The run of the child-process test: 4 seeds in chunks of 2 on 2 threads, so that worker
/// threads (which `simd::with_level` does not reach) run kernels too.
fn threaded_cfg() -> TrainConfig {
    let mut c = cfg(Method::Qmix, 4, 100);
    c.precision = Precision::F32;
    c.seed_chunk = Some(2);
    c.threads = Some(2);
    c
}

fn hash(s: &str) -> u64 {
    // `DefaultHasher::new()` has fixed keys: the same in every process of one build.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

const CHILD: &str = "QFACTOR_SIMD_TEST_CHILD";

/// Run by [`qfactor_simd_env_var_is_obeyed`] in a child process with `QFACTOR_SIMD` set:
/// prints the levels and the fingerprint of [`threaded_cfg`].
#[test]
#[ignore = "run as a child process by qfactor_simd_env_var_is_obeyed"]
fn simd_child_process() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    println!(
        "SIMD_CHILD level={} default={} fingerprint={:016x}",
        simd::level(),
        simd::default_level(),
        hash(&fingerprint(&threaded_cfg()))
    );
}

/// Runs [`simd_child_process`] with `QFACTOR_SIMD=value`: (level, default level,
/// fingerprint hash, stderr).
fn child(value: &str) -> (String, String, String, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "simd_child_process",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(simd::ENV_VAR, value)
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    let line = stdout
        .lines()
        // The harness may print `test simd_child_process ... ` before it on the same line.
        .find_map(|l| l.split_once("SIMD_CHILD ").map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("no result line in\n{stdout}\n{stderr}"));
    let field = |key: &str| {
        line.split(' ')
            .find_map(|f| f.strip_prefix(key))
            .unwrap()
            .to_string()
    };
    (
        field("level="),
        field("default="),
        field("fingerprint="),
        stderr,
    )
}

/// `QFACTOR_SIMD=portable` forces the portable kernels on every thread (the child's level
/// and process-wide level are portable, and its multi-threaded run equals this process's run
/// at the detected level bit for bit); `avx2` caps the level; an unknown value falls back to
/// the detected level with exactly one warning.
#[test]
fn qfactor_simd_env_var_is_obeyed() {
    let here = format!("{:016x}", hash(&fingerprint(&threaded_cfg())));
    let detected = simd::detected().name();

    let (level, default, print, stderr) = child("portable");
    assert_eq!((level.as_str(), default.as_str()), ("portable", "portable"));
    assert_eq!(
        print, here,
        "portable kernels on worker threads changed the result"
    );
    assert!(!stderr.contains(simd::ENV_VAR), "{stderr}");

    let (level, _, print, _) = child("avx2");
    let capped = Level::Avx2Fma.min(simd::detected()).name();
    assert_eq!(level, capped);
    assert_eq!(print, here);

    let (level, default, print, stderr) = child("sse9");
    assert_eq!((level.as_str(), default.as_str()), (detected, detected));
    assert_eq!(print, here);
    let warnings = stderr
        .lines()
        .filter(|l| l.contains("QFACTOR_SIMD=\"sse9\""))
        .count();
    assert_eq!(warnings, 1, "{stderr}");
}
