//! Every setting of a training run, with the defaults and where each comes from.
//!
//! Nothing in the learners is a hidden constant: every number used by the learners ([`crate::learner`]) is a field
//! here, and the whole structure is written out (as `config.json`) with each run and each
//! checkpoint. Defaults follow the original QTRAN code for matrix games and the PyMARL family for
//! the QMIX mixer (see `docs/DOMAIN.md`, "How the public implementations differ"):
//!
//! | setting | default | source |
//! |---|---|---|
//! | agent nets | separate per agent, 3 hidden layers of 64, ReLU | original QTRAN code |
//! | optimiser | Adam, lr 5e-4, β = (0.9, 0.999), ε = 1e-8 | original QTRAN code |
//! | batch / buffer | 32 / 10 000 transitions | original QTRAN code |
//! | learning starts | after 320 transitions | original QTRAN code ("first 320 steps random") |
//! | exploration | ε = 1 throughout (full exploration) | QTRAN paper §3.5, QMIX paper two-step game |
//! | QMIX mixer | 2-layer hypernets (embed 64), mixing embed 32, \|w\|, ELU, V(s) bias | PyMARL `qmix.yaml` |
//! | QTRAN | λ_opt = λ_nopt = 1, no V_jt network (V_jt = 0, fully observable) | original QTRAN code |
//! | gradient clip | per-seed global norm 10 | PyMARL `grad_norm_clip` |
//! | target update | every 200 steps | PyMARL (`target_update_interval`) |

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A learning method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Value decomposition networks: `Q_tot = Σ_i Q_i`.
    Vdn,
    /// QMIX: monotone mixing network conditioned on the state by hypernetworks.
    Qmix,
    /// QTRAN-base: joint action-value network, losses `L_td + λ_opt L_opt + λ_nopt L_nopt`.
    QtranBase,
    /// QTRAN-alt: counterfactual joint networks and `L_nopt-min`.
    QtranAlt,
    /// Independent Q-learners on the team reward (baseline); the joint table is `Σ_i Q_i`.
    Iql,
}

impl Method {
    /// Every method, in the order `--method all` trains them.
    pub const ALL: [Method; 5] = [
        Method::Vdn,
        Method::Qmix,
        Method::QtranBase,
        Method::QtranAlt,
        Method::Iql,
    ];

    /// The name used on the command line and in output files.
    pub fn name(self) -> &'static str {
        match self {
            Method::Vdn => "vdn",
            Method::Qmix => "qmix",
            Method::QtranBase => "qtran-base",
            Method::QtranAlt => "qtran-alt",
            Method::Iql => "iql",
        }
    }

    /// True for the two QTRAN variants (learned `Q_jt`, `Q'_jt`, `V_jt`).
    pub fn is_qtran(self) -> bool {
        matches!(self, Method::QtranBase | Method::QtranAlt)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Method::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                let hint = if s.starts_with("qtran") {
                    "; QTRAN comes in two variants: did you mean qtran-base or qtran-alt?"
                } else {
                    ""
                };
                format!(
                    "unknown method {s:?} (expected vdn, qmix, qtran-base, qtran-alt or iql){hint}"
                )
            })
    }
}

/// Floating-point precision of parameters and batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// 32-bit floats (default).
    F32,
    /// 64-bit floats (tests, exact comparisons).
    F64,
}

/// Agent (utility) networks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// One network shared by all agents with a one-hot agent-id input (`true`), or a separate
    /// network per agent (`false`, default, as in the original QTRAN code for matrix games).
    pub shared: bool,
    /// Hidden layer widths (ReLU after each). Default `[64, 64, 64]`.
    pub hidden: Vec<usize>,
}

/// Where the QMIX mixer's biases go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MixerBias {
    /// PyMARL: `ELU(q·W1 + b1(s))·W2 + V(s)` (default).
    InsideElu,
    /// Original QTRAN code: `(ELU(q·W1) + b1(s))·W2 + V(s)`.
    AfterElu,
}

/// QMIX mixing network and hypernetworks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QmixConfig {
    /// Width of the mixing network's hidden layer (PyMARL `mixing_embed_dim`, default 32).
    pub mixing_embed: usize,
    /// Layers of the weight hypernetworks: 1 (linear) or 2 (default, PyMARL `hypernet_layers`).
    pub hypernet_layers: usize,
    /// Hidden width of 2-layer hypernetworks (PyMARL `hypernet_embed`, default 64).
    pub hypernet_embed: usize,
    /// Bias placement (default PyMARL's).
    pub bias: MixerBias,
}

/// QTRAN-base and QTRAN-alt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QtranConfig {
    /// Weight of `L_opt` (default 1, original code for matrix games; PyMARL uses 1).
    pub lambda_opt: f64,
    /// Weight of `L_nopt` / `L_nopt-min` (default 1, original code; PyMARL uses 0.1).
    pub lambda_nopt: f64,
    /// Learn a state-value network `V_jt` (default `false`: with full observability the paper
    /// and the original code set `V_jt = 0`; PyMARL learns it).
    pub v_jt: bool,
    /// Hidden widths of the joint action-value network `f_r` and of `V_jt` (default `[64, 64]`).
    pub joint_hidden: Vec<usize>,
}

/// Optimiser kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimiserKind {
    /// Adam (Kingma & Ba), default.
    Adam,
    /// RMSprop as in PyTorch (`alpha`, `eps` outside the square root), PyMARL's choice.
    Rmsprop,
}

/// Optimiser settings. Both optimisers are element-wise, so seeds never interact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimConfig {
    /// Which optimiser.
    pub kind: OptimiserKind,
    /// Learning rate (default 5e-4).
    pub lr: f64,
    /// Adam β1 (default 0.9).
    pub beta1: f64,
    /// Adam β2 (default 0.999).
    pub beta2: f64,
    /// RMSprop smoothing α (default 0.99, PyMARL `optim_alpha`).
    pub rms_alpha: f64,
    /// Denominator ε: Adam default 1e-8; PyMARL's RMSprop uses 1e-5.
    pub eps: f64,
    /// Clip each seed's gradient to this global L2 norm (over all of its parameters); `None`
    /// disables clipping. Default 10 (PyMARL).
    pub grad_clip: Option<f64>,
}

/// ε-greedy schedule: linear from `start` to `finish` over `anneal_steps` environment steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpsilonConfig {
    /// ε at step 0 (default 1).
    pub start: f64,
    /// ε after annealing (default 1: full exploration, as in the QTRAN paper's matrix game
    /// and the QMIX paper's two-step game).
    pub finish: f64,
    /// Steps over which ε moves from `start` to `finish` (default 0).
    pub anneal_steps: usize,
}

impl EpsilonConfig {
    /// ε at environment step `t`.
    pub fn at(&self, t: usize) -> f64 {
        if self.anneal_steps == 0 || t >= self.anneal_steps {
            return self.finish;
        }
        let frac = t as f64 / self.anneal_steps as f64;
        self.start + (self.finish - self.start) * frac
    }
}

/// Default seeds per chunk on the CPU (see [`TrainConfig::seed_chunk`]): measured fastest
/// for the paper's networks (BENCHMARKS.md); a chunk's parameters, gradients and Adam state
/// (about 280 KB per seed for VDN's 3×64 nets) then fit in the caches.
pub const DEFAULT_SEED_CHUNK: usize = 16;

fn default_true() -> bool {
    true
}

/// Rows per step (`seeds × batch_size`) from which the default uses every core.
pub const PARALLEL_MIN_ROWS: usize = 1024;

/// Every setting of one training run of one method on one game.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// The game as given (built-in name or file), for the record.
    pub game: String,
    /// The method trained.
    pub method: Method,
    /// Number of independent seeds K trained together.
    pub seeds: usize,
    /// Base seed: seed `j` of a run draws everything from streams keyed by `(seed, j, purpose)`.
    pub seed: u64,
    /// Index of the first seed (seeds are `seed_offset .. seed_offset + seeds`), so that one
    /// seed of a large run can be rerun alone.
    pub seed_offset: usize,
    /// Explicit seed indices (overrides `seed_offset` when non-empty; must have `seeds`
    /// entries), e.g. to rerun seeds 3, 17 and 20 of a run together.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seed_indices: Vec<usize>,
    /// Environment steps per seed (one gradient step per environment step once learning starts).
    pub steps: usize,
    /// Device as requested: `auto`, `cpu`, `cuda` or `cuda:N`.
    pub device: String,
    /// Parameter precision.
    pub precision: Precision,
    /// CPU worker threads. On the CPU the K seeds are trained in chunks of
    /// [`TrainConfig::seed_chunk`] seeds, and the worker threads take chunks from a queue
    /// (libtorch's own intra-operation threads are set to 1). `None` (default): one per core,
    /// up to the number of chunks, when a step's work is large (`seeds × batch_size ≥ 1024`),
    /// else 1 (see [`TrainConfig::cpu_threads`]). Results do not depend on the thread count:
    /// each chunk's arithmetic is the same whichever thread runs it.
    pub threads: Option<usize>,
    /// Seeds per chunk on the CPU (`None`: [`DEFAULT_SEED_CHUNK`]). A chunk's forward pass,
    /// backward pass and optimiser update run back to back, so its parameters, gradients and
    /// optimiser state stay in the CPU caches; on a GPU all seeds form one chunk. Results can
    /// differ in the last bits between chunk sizes (the matrix-product kernels may change with
    /// the batch count), never between runs with the same chunk size.
    #[serde(default)]
    pub seed_chunk: Option<usize>,
    /// Run the agent networks' forward and backward passes with qfactor's own CPU kernels
    /// ([`crate::engine`]; default `true`) rather than libtorch's batched products and
    /// autograd. Same mathematics (tested to agree to rounding), several times faster for
    /// these small matrices. CPU only; ignored on a GPU.
    #[serde(default = "default_true")]
    pub cpu_kernels: bool,
    /// Flush denormal floats to zero on the CPU (default `true`, see
    /// [`crate::nets::flush_denormals`]).
    pub flush_denormals: bool,
    /// Agent networks.
    pub agent: AgentConfig,
    /// QMIX mixer (used by `qmix` only).
    pub qmix: QmixConfig,
    /// QTRAN settings (used by `qtran-base` and `qtran-alt` only).
    pub qtran: QtranConfig,
    /// Optimiser.
    pub optim: OptimConfig,
    /// Exploration.
    pub epsilon: EpsilonConfig,
    /// Minibatch size per seed (default 32).
    pub batch_size: usize,
    /// Replay buffer capacity per seed, in transitions (default 10 000).
    pub buffer_size: usize,
    /// Gradient steps begin once the buffer holds this many transitions (default 320).
    pub learning_starts: usize,
    /// Copy the online networks into the target networks every this many steps (default 200).
    pub target_update_interval: usize,
    /// Discount; `None` uses the game's γ (matrix games never bootstrap).
    pub gamma: Option<f64>,
    /// Double Q-learning targets: pick `ū'` with the online nets, evaluate with the target nets.
    /// Default `false` (the QTRAN paper's `ū'` is the target nets' argmax).
    pub double_q: bool,
    /// Log curves every this many steps (0: 100 points over the run).
    pub log_every: usize,
}

impl TrainConfig {
    /// The defaults documented in this module for `method` on `game`.
    pub fn new(game: impl Into<String>, method: Method) -> Self {
        TrainConfig {
            game: game.into(),
            method,
            seeds: 1,
            seed: 0,
            seed_offset: 0,
            seed_indices: Vec::new(),
            steps: 10_000,
            device: "auto".into(),
            precision: Precision::F32,
            threads: None,
            seed_chunk: None,
            cpu_kernels: true,
            flush_denormals: true,
            agent: AgentConfig {
                shared: false,
                hidden: vec![64, 64, 64],
            },
            qmix: QmixConfig {
                mixing_embed: 32,
                hypernet_layers: 2,
                hypernet_embed: 64,
                bias: MixerBias::InsideElu,
            },
            qtran: QtranConfig {
                lambda_opt: 1.0,
                lambda_nopt: 1.0,
                v_jt: false,
                joint_hidden: vec![64, 64],
            },
            optim: OptimConfig {
                kind: OptimiserKind::Adam,
                lr: 5e-4,
                beta1: 0.9,
                beta2: 0.999,
                rms_alpha: 0.99,
                eps: 1e-8,
                grad_clip: Some(10.0),
            },
            epsilon: EpsilonConfig {
                start: 1.0,
                finish: 1.0,
                anneal_steps: 0,
            },
            batch_size: 32,
            buffer_size: 10_000,
            learning_starts: 320,
            target_update_interval: 200,
            gamma: None,
            double_q: false,
            log_every: 0,
        }
    }

    /// The seed indices trained: `seed_indices`, or `seed_offset .. seed_offset + seeds`.
    pub fn seed_list(&self) -> Vec<usize> {
        if self.seed_indices.is_empty() {
            (self.seed_offset..self.seed_offset.saturating_add(self.seeds)).collect()
        } else {
            self.seed_indices.clone()
        }
    }

    /// The number of CPU worker threads this configuration uses (see `threads`).
    pub fn cpu_threads(&self) -> usize {
        self.threads.unwrap_or_else(|| {
            if self.seeds.saturating_mul(self.batch_size) >= PARALLEL_MIN_ROWS {
                let cores = std::thread::available_parallelism().map_or(1, usize::from);
                cores.min(self.seeds.div_ceil(self.seed_chunk_size()))
            } else {
                1
            }
        })
    }

    /// Seeds per chunk on the CPU (see `seed_chunk`), at most K. The default is
    /// [`DEFAULT_SEED_CHUNK`] for every method.
    pub fn seed_chunk_size(&self) -> usize {
        self.seed_chunk
            .unwrap_or(DEFAULT_SEED_CHUNK)
            .clamp(1, self.seeds.max(1))
    }

    /// The logging interval actually used.
    pub fn effective_log_every(&self) -> usize {
        if self.log_every > 0 {
            self.log_every
        } else {
            (self.steps / 100).max(1)
        }
    }

    /// Checks ranges; returns a message naming the first bad setting.
    pub fn validate(&self) -> Result<(), String> {
        let pos = |v: usize, name: &str| {
            if v == 0 {
                Err(format!("{name} must be at least 1"))
            } else {
                Ok(())
            }
        };
        pos(self.seeds, "seeds")?;
        if self.seed_offset.checked_add(self.seeds).is_none() {
            return Err("seed_offset + seeds is too large".into());
        }
        if !self.seed_indices.is_empty() && self.seed_indices.len() != self.seeds {
            return Err(format!(
                "seed_indices has {} entries but seeds is {}",
                self.seed_indices.len(),
                self.seeds
            ));
        }
        pos(self.batch_size, "batch_size")?;
        if self.seed_chunk == Some(0) || self.threads == Some(0) {
            return Err("seed_chunk and threads must be at least 1".into());
        }
        pos(self.buffer_size, "buffer_size")?;
        pos(self.target_update_interval, "target_update_interval")?;
        pos(self.qmix.mixing_embed, "qmix.mixing_embed")?;
        pos(self.qmix.hypernet_embed, "qmix.hypernet_embed")?;
        if !(1..=2).contains(&self.qmix.hypernet_layers) {
            return Err("qmix.hypernet_layers must be 1 or 2".into());
        }
        if self.agent.hidden.is_empty() || self.agent.hidden.contains(&0) {
            return Err("agent.hidden needs at least one layer, all widths ≥ 1".into());
        }
        if self.qtran.joint_hidden.contains(&0) {
            return Err("qtran.joint_hidden widths must be ≥ 1".into());
        }
        for (name, v) in [
            ("epsilon.start", self.epsilon.start),
            ("epsilon.finish", self.epsilon.finish),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("{name} must lie in [0, 1]"));
            }
        }
        if let Some(g) = self.gamma {
            if !(0.0..=1.0).contains(&g) {
                return Err("gamma must lie in [0, 1]".into());
            }
        }
        let finite_pos = |v: f64, name: &str| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(format!("{name} must be a positive number"))
            }
        };
        finite_pos(self.optim.lr, "optim.lr")?;
        finite_pos(self.optim.eps, "optim.eps")?;
        if let Some(c) = self.optim.grad_clip {
            finite_pos(c, "optim.grad_clip")?;
        }
        for (name, v) in [
            ("optim.beta1", self.optim.beta1),
            ("optim.beta2", self.optim.beta2),
            ("optim.rms_alpha", self.optim.rms_alpha),
        ] {
            if !(0.0..1.0).contains(&v) {
                return Err(format!("{name} must lie in [0, 1)"));
            }
        }
        for (name, v) in [
            ("qtran.lambda_opt", self.qtran.lambda_opt),
            ("qtran.lambda_nopt", self.qtran.lambda_nopt),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("{name} must be a non-negative number"));
            }
        }
        Ok(())
    }
}

/// Merges `patch` (a JSON object, possibly partial and nested) into `cfg`'s JSON form and
/// reads it back; unknown keys and ill-typed values are errors.
pub fn merge_json(cfg: &TrainConfig, patch: &serde_json::Value) -> Result<TrainConfig, String> {
    fn merge(base: &mut serde_json::Value, patch: &serde_json::Value) {
        match (base, patch) {
            (serde_json::Value::Object(b), serde_json::Value::Object(p)) => {
                for (k, v) in p {
                    match b.get_mut(k) {
                        Some(slot) => merge(slot, v),
                        None => {
                            b.insert(k.clone(), v.clone());
                        }
                    }
                }
            }
            (b, p) => *b = p.clone(),
        }
    }
    let mut value = serde_json::to_value(cfg).map_err(|e| e.to_string())?;
    merge(&mut value, patch);
    let out: TrainConfig =
        serde_json::from_value(value).map_err(|e| format!("configuration: {e}"))?;
    out.validate()?;
    Ok(out)
}

/// Applies `KEY=VALUE` overrides with dotted keys (`qtran.lambda_nopt=0.1`,
/// `agent.hidden=[32,32]`, `optim.grad_clip=null`). A value is read as JSON, or as a string
/// when it is not valid JSON (`optim.kind=rmsprop`).
pub fn apply_overrides(cfg: &TrainConfig, sets: &[String]) -> Result<TrainConfig, String> {
    let mut out = cfg.clone();
    for set in sets {
        let (key, raw) = set
            .split_once('=')
            .ok_or_else(|| format!("--set {set:?}: expected KEY=VALUE"))?;
        let value: serde_json::Value = serde_json::from_str(raw.trim())
            .unwrap_or_else(|_| serde_json::Value::String(raw.trim().to_string()));
        let mut patch = value;
        for part in key.trim().split('.').rev() {
            let mut m = serde_json::Map::new();
            m.insert(part.to_string(), patch);
            patch = serde_json::Value::Object(m);
        }
        out = merge_json(&out, &patch).map_err(|e| format!("--set {set}: {e}"))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names_roundtrip() {
        for m in Method::ALL {
            assert_eq!(m.name().parse::<Method>().unwrap(), m);
            let j = serde_json::to_string(&m).unwrap();
            assert_eq!(j, format!("\"{}\"", m.name()));
        }
        assert!("qtran".parse::<Method>().is_err());
    }

    #[test]
    fn config_json_roundtrip_and_validation() {
        let c = TrainConfig::new("paper-table1", Method::Qmix);
        c.validate().unwrap();
        let j = serde_json::to_string_pretty(&c).unwrap();
        let back: TrainConfig = serde_json::from_str(&j).unwrap();
        assert_eq!(back, c);
        let mut bad = c.clone();
        bad.epsilon.finish = 1.5;
        assert!(bad.validate().is_err());
        let mut bad = c;
        bad.qmix.hypernet_layers = 3;
        assert!(bad.validate().is_err());
    }

    #[test]
    fn overrides_apply_and_reject_unknown_keys() {
        let c = TrainConfig::new("g", Method::QtranBase);
        let sets = [
            "qtran.lambda_nopt=0.1",
            "optim.kind=rmsprop",
            "agent.hidden=[32,32]",
            "optim.grad_clip=null",
        ]
        .map(String::from);
        let d = apply_overrides(&c, &sets).unwrap();
        assert!((d.qtran.lambda_nopt - 0.1).abs() < 1e-15);
        assert_eq!(d.optim.kind, OptimiserKind::Rmsprop);
        assert_eq!(d.agent.hidden, vec![32, 32]);
        assert_eq!(d.optim.grad_clip, None);
        assert!(apply_overrides(&c, &["qtran.lamda=1".to_string()]).is_err());
        assert!(apply_overrides(&c, &["batch_size=0".to_string()]).is_err());
        assert!(apply_overrides(&c, &["batch_size".to_string()]).is_err());
    }

    #[test]
    fn epsilon_schedule_is_linear_then_flat() {
        let e = EpsilonConfig {
            start: 1.0,
            finish: 0.0,
            anneal_steps: 10,
        };
        assert!((e.at(0) - 1.0).abs() < 1e-12);
        assert!((e.at(5) - 0.5).abs() < 1e-12);
        assert!(e.at(10).abs() < 1e-12 && e.at(100).abs() < 1e-12);
    }
}
