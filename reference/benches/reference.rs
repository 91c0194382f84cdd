//! criterion benchmarks of the exact reference (`cargo bench -p qfactor-reference`):
//!
//! * `analyze/<game>`: [`analyze`] of every built-in game with the default (interactive)
//!   options — what `qfactor analyze GAME` computes, without reading files or printing;
//! * `qmix_exact/<shape>`: the thorough QMIX projection ([`project_qmix`] with the default,
//!   full budget) of random integer games (payoffs uniform in −10..=10, fixed seed) of growing
//!   size, reporting whether each was solved with a certificate (`exact`);
//! * `check/twentyone`: [`check`] of a 21×21 factorization of the 21-action game (its VDN
//!   projection's utilities with the true table as `Q_jt`), as `qfactor check` runs it.
//!
//! Results and the machine are recorded in BENCHMARKS.md (`bench/run.py` regenerates it).

// criterion_group! generates undocumented public functions.
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use reference::analysis::{analyze, AnalysisOptions};
use reference::ideal::qmix::{project_qmix, QmixOptions};
use reference::ideal::vdn::project_vdn;
use reference::io::library::{builtins, load_builtin};
use reference::rng::SplitMix64;
use reference::verify::check;
use reference::JointTable;
use reference::{Factorization, JointKind, LearnedFactorization};
use std::time::Duration;

/// A random integer game of `shape`, payoffs uniform in −10..=10.
fn random_game(shape: &[usize], seed: u64) -> JointTable {
    let mut rng = SplitMix64::new(seed);
    let n: usize = shape.iter().product();
    let v = (0..n).map(|_| rng.below(21) as f64 - 10.0).collect();
    JointTable::new(shape.to_vec(), v).expect("valid shape")
}

fn bench_analyze(c: &mut Criterion) {
    let mut group = c.benchmark_group("analyze");
    let opts = AnalysisOptions::default();
    for info in builtins() {
        let game = load_builtin(info.name).expect("built-in game loads");
        group.bench_function(info.name, |b| {
            b.iter(|| analyze(black_box(&game), &opts).expect("analysis"))
        });
    }
    group.finish();
}

fn bench_qmix_exact(c: &mut Criterion) {
    let mut group = c.benchmark_group("qmix_exact");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    let shapes: [&[usize]; 7] = [
        &[2, 2],
        &[3, 3],
        &[4, 4],
        &[5, 5],
        &[6, 6],
        &[2, 2, 2],
        &[3, 3, 3],
    ];
    let opts = QmixOptions::default();
    for shape in shapes {
        let q = random_game(shape, 7);
        let label = shape
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join("x");
        let p = project_qmix(&q, &opts).expect("projection");
        let label = format!("{label}{}", if p.exact { "" } else { "-not-exact" });
        group.bench_with_input(BenchmarkId::from_parameter(label), &q, |b, q| {
            b.iter(|| project_qmix(black_box(q), &opts).expect("projection"))
        });
    }
    group.finish();
}

fn bench_check(c: &mut Criterion) {
    let game = load_builtin("twentyone").expect("built-in game loads");
    let payoff = game.states[0].payoff.clone();
    let vdn = project_vdn(&payoff, None).expect("projection");
    let learned = LearnedFactorization::complete(vec![Factorization::new(vdn.utilities)
        .with_joint(JointKind::QJt, payoff)
        .expect("shapes agree")]);
    c.bench_function("check/twentyone", |b| {
        b.iter(|| check(black_box(&game), black_box(&learned)).expect("check"))
    });
}

criterion_group!(benches, bench_analyze, bench_qmix_exact, bench_check);
criterion_main!(benches);
