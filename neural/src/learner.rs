//! Training K independent seeds of one method together.
//!
//! Each seed has its own networks (a slice of every batched parameter), its own environment,
//! replay buffer, exploration and replay-sampling streams. Per environment step, every seed
//! acts ε-greedily (ε from the schedule, per agent), stores the transition, and, once
//! `learning_starts` transitions are stored, takes one gradient step on a minibatch drawn
//! uniformly (with replacement) from its own buffer. The loss minimised is the sum over seeds
//! of each seed's mean loss, so each seed's gradient is exactly its own.
//!
//! TD targets: `y = r + γ·(1 − done)·Q⁻(s', ū')`, `ū'` the agents' argmaxes under the target
//! networks (or the online ones with `double_q`), `Q⁻` the target networks' joint value
//! (`Σ_i Q_i`, QMIX's `Q_tot`, QTRAN's `Q_jt`; for IQL, each agent's own `max Q_i`). Matrix
//! games never bootstrap.
//!
//! Losses (QTRAN paper §3.3–3.4): VDN/QMIX `(Q_tot − y)²`; IQL `Σ_i (Q_i − y_i)²`;
//! QTRAN-base `L_td + λ_opt L_opt + λ_nopt L_nopt` with `L_opt = (Q'_jt(ū) − Q̂_jt(ū) + V_jt)²`,
//! `L_nopt = min(Q'_jt(u) − Q̂_jt(u) + V_jt, 0)²`, `Q̂_jt` gradient-stopped; QTRAN-alt replaces
//! `L_nopt` by `L_nopt-min = (1/N) Σ_i (min_{u_i} D(u_i, u_−i))²` and computes `L_td`, `L_opt`
//! for every agent's counterfactual head (averaged over agents).

use crate::config::{Method, Precision, TrainConfig};
use crate::model::{Dims, Mixer, Model};
use crate::nets::ParamStore;
use crate::optim::Optimiser;
use crate::rng::Rng;
use crate::{Error, Result};
use reference::multistep::{greedy_return, optimal_q};
use reference::table::JointTable;
use reference::{tol, Game, Utilities};
use tch::{Device, Kind, Tensor};

/// The game in the form the learners use.
#[derive(Debug, Clone)]
pub struct GameData {
    /// The game itself.
    pub game: Game,
    /// Action count of each agent.
    pub actions: Vec<usize>,
    /// Largest action count.
    pub a_max: usize,
    /// Number of joint actions.
    pub joint: usize,
    /// Every joint action in storage order (agent 1 slowest).
    pub joint_actions: Vec<Vec<usize>>,
    /// Discount used for TD targets and returns.
    pub gamma: f64,
    /// `Q*(s, ·)` per state.
    pub q_star: Vec<JointTable>,
    /// The optimal return from the initial state, `max_u Q*(s_0, u)`.
    pub optimal_return: f64,
    /// True when no transition leads to another state (no bootstrapping ever).
    pub never_bootstraps: bool,
}

impl GameData {
    /// Prepares `game` (validated) with discount `gamma` (`None`: the game's).
    pub fn new(game: &Game, gamma: Option<f64>) -> Result<Self> {
        game.validate()?;
        let mut game = game.clone();
        if let Some(g) = gamma {
            game.gamma = g;
        }
        let actions = game.shape();
        let a_max = actions.iter().copied().max().unwrap_or(1);
        let proto = &game.states[0].payoff;
        let joint = proto.len();
        let joint_actions = (0..joint).map(|k| proto.joint_action(k)).collect();
        let q_star = optimal_q(&game)?;
        let optimal_return = q_star[game.initial].max();
        let never_bootstraps = game
            .states
            .iter()
            .all(|s| (0..s.payoff.len()).all(|k| s.next_of(k).is_none()));
        Ok(GameData {
            gamma: game.gamma,
            game,
            actions,
            a_max,
            joint,
            joint_actions,
            q_star,
            optimal_return,
            never_bootstraps,
        })
    }

    /// Number of agents.
    pub fn n_agents(&self) -> usize {
        self.actions.len()
    }

    /// Number of states.
    pub fn n_states(&self) -> usize {
        self.game.states.len()
    }

    /// True when the greedy joint actions `greedy[s]` (every tie-break) obtain the optimal
    /// return from the initial state.
    pub fn greedy_is_optimal(&self, greedy: &[Vec<usize>]) -> Result<bool> {
        let (lo, _) = greedy_return(&self.game, greedy, self.game.initial)?;
        Ok(tol::tied(lo, self.optimal_return))
    }

    /// Flat indices of the product of the utilities' greedy sets.
    pub fn greedy_joint_set(&self, utilities: &Utilities) -> Vec<usize> {
        let sets: Vec<Vec<usize>> = (0..utilities.n_agents())
            .map(|i| utilities.greedy_set(i))
            .collect();
        let mut out = vec![0usize];
        for (i, set) in sets.iter().enumerate() {
            out = out
                .iter()
                .flat_map(|&base| set.iter().map(move |&a| base * self.actions[i] + a))
                .collect();
        }
        out
    }
}

/// Per-seed replay buffer (a ring of transitions).
#[derive(Debug, Clone)]
pub(crate) struct Replay {
    pub(crate) cap: usize,
    pub(crate) n: usize,
    pub(crate) len: usize,
    pub(crate) pos: usize,
    pub(crate) state: Vec<i64>,
    pub(crate) actions: Vec<i64>,
    pub(crate) reward: Vec<f64>,
    pub(crate) next: Vec<i64>,
    pub(crate) done: Vec<f64>,
}

impl Replay {
    fn new(cap: usize, n: usize) -> Self {
        Replay {
            cap,
            n,
            len: 0,
            pos: 0,
            state: vec![0; cap],
            actions: vec![0; cap * n],
            reward: vec![0.0; cap],
            next: vec![0; cap],
            done: vec![0.0; cap],
        }
    }

    fn push(&mut self, s: usize, u: &[usize], r: f64, next: Option<usize>) {
        let p = self.pos;
        self.state[p] = s as i64;
        for (i, &a) in u.iter().enumerate() {
            self.actions[p * self.n + i] = a as i64;
        }
        self.reward[p] = r;
        self.next[p] = next.unwrap_or(0) as i64;
        self.done[p] = if next.is_some() { 0.0 } else { 1.0 };
        self.pos = (p + 1) % self.cap;
        self.len = (self.len + 1).min(self.cap);
    }
}

/// One logged point of a training curve.
#[derive(Debug, Clone, PartialEq)]
pub struct CurvePoint {
    /// Environment steps done.
    pub step: usize,
    /// Each seed's loss at this step (`None` before learning starts).
    pub loss: Option<Vec<f64>>,
    /// Whether each seed's greedy policy is optimal at this step.
    pub optimal: Vec<bool>,
}

/// A minibatch for all seeds, on the device.
struct Batch {
    obs: Tensor,
    u: Tensor,
    r: Tensor,
    obs2: Tensor,
    not_done: Tensor,
    bootstrap: bool,
}

/// The learned tables of one seed in one state.
#[derive(Debug, Clone, PartialEq)]
pub struct StateTables {
    /// `Q_i(s, ·)` for every agent.
    pub utilities: Utilities,
    /// The learned joint table: `Q_tot` (VDN, QMIX, IQL's sum) or `Q_jt` (QTRAN).
    pub joint: JointTable,
    /// QTRAN's `V_jt(s)` (0 when the `V_jt` network is off); `None` for other methods.
    pub v_jt: Option<f64>,
}

/// The learned tables of one seed, per state.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedTables {
    /// The seed index.
    pub seed: usize,
    /// Tables per state (indexed like the game's states).
    pub states: Vec<StateTables>,
}

/// K seeds of one method, training together.
pub struct Learner {
    pub(crate) cfg: TrainConfig,
    pub(crate) data: GameData,
    pub(crate) device: Device,
    pub(crate) kind: Kind,
    pub(crate) params: ParamStore,
    online: Model,
    pub(crate) target_params: ParamStore,
    target: Model,
    pub(crate) opt: Optimiser,
    pub(crate) explore: Vec<Rng>,
    pub(crate) sampler: Vec<Rng>,
    pub(crate) buffers: Vec<Replay>,
    pub(crate) env: Vec<usize>,
    pub(crate) step: usize,
    pub(crate) curve: Vec<CurvePoint>,
    invalid: Option<Tensor>,
    last_loss: Option<Tensor>,
}

/// Resolves `auto`, `cpu`, `cuda`, `cuda:N`. Returns the device and, for `auto` without a
/// GPU, a note saying so.
pub fn resolve_device(spec: &str) -> Result<(Device, Option<String>)> {
    match spec {
        "cpu" => Ok((Device::Cpu, None)),
        "auto" => {
            if tch::Cuda::is_available() {
                Ok((Device::Cuda(0), None))
            } else {
                Ok((
                    Device::Cpu,
                    Some("no CUDA device available; using the CPU".into()),
                ))
            }
        }
        _ => {
            let idx = if spec == "cuda" {
                0
            } else if let Some(i) = spec.strip_prefix("cuda:") {
                i.parse::<usize>()
                    .map_err(|_| Error::Invalid(format!("bad device {spec:?}")))?
            } else {
                return Err(Error::Invalid(format!(
                    "unknown device {spec:?} (expected auto, cpu, cuda or cuda:N)"
                )));
            };
            let count = tch::Cuda::device_count() as usize;
            if idx >= count {
                return Err(Error::Invalid(format!(
                    "device {spec} requested but {count} CUDA device(s) are available"
                )));
            }
            Ok((Device::Cuda(idx), None))
        }
    }
}

fn kind_of(p: Precision) -> Kind {
    match p {
        Precision::F32 => Kind::Float,
        Precision::F64 => Kind::Double,
    }
}

impl Learner {
    /// Builds K freshly initialised seeds of `cfg.method` for `game` on `device`.
    pub fn new(game: &Game, cfg: &TrainConfig, device: Device) -> Result<Self> {
        cfg.validate().map_err(Error::Invalid)?;
        if cfg.flush_denormals {
            crate::nets::flush_denormals();
        }
        let mut cfg = cfg.clone();
        if device == Device::Cpu {
            // Record the effective thread count: results depend on it.
            cfg.threads = Some(cfg.cpu_threads());
            tch::set_num_threads(cfg.cpu_threads() as i32);
        }
        let cfg = &cfg;
        let data = GameData::new(game, cfg.gamma)?;
        let kind = kind_of(cfg.precision);
        let dims = Dims {
            n_agents: data.n_agents() as i64,
            a_max: data.a_max as i64,
            n_states: data.n_states() as i64,
        };
        let k = cfg.seeds;
        let seed_list = cfg.seed_list();
        let mut params = ParamStore::new(seed_list.clone(), cfg.seed, kind, device, true);
        let online = Model::new(&mut params, cfg, dims);
        let mut target_params = ParamStore::new(seed_list.clone(), cfg.seed, kind, device, false);
        let target = Model::new(&mut target_params, cfg, dims);
        params.finish();
        target_params.finish();
        target_params.copy_from(&params);
        let opt = Optimiser::new(&cfg.optim, params.flat());
        let explore = seed_list
            .iter()
            .map(|&j| Rng::keyed(cfg.seed, j as u64, "explore"))
            .collect();
        let sampler = seed_list
            .iter()
            .map(|&j| Rng::keyed(cfg.seed, j as u64, "replay"))
            .collect();
        let buffers = (0..k)
            .map(|_| Replay::new(cfg.buffer_size, data.n_agents()))
            .collect();
        let invalid = if data.actions.iter().all(|&a| a == data.a_max) {
            None
        } else {
            let mask: Vec<bool> = data
                .actions
                .iter()
                .flat_map(|&a| (0..data.a_max).map(move |x| x >= a))
                .collect();
            Some(
                Tensor::from_slice(&mask)
                    .view([1, data.n_agents() as i64, 1, data.a_max as i64])
                    .to_device(device),
            )
        };
        let env = vec![data.game.initial; k];
        Ok(Learner {
            cfg: cfg.clone(),
            data,
            device,
            kind,
            params,
            online,
            target_params,
            target,
            opt,
            explore,
            sampler,
            buffers,
            env,
            step: 0,
            curve: Vec::new(),
            invalid,
            last_loss: None,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.cfg
    }

    /// The game data.
    pub fn data(&self) -> &GameData {
        &self.data
    }

    /// Environment steps done so far.
    pub fn steps_done(&self) -> usize {
        self.step
    }

    /// The curve logged so far.
    pub fn curve(&self) -> &[CurvePoint] {
        &self.curve
    }

    /// The device.
    pub fn device(&self) -> Device {
        self.device
    }

    /// Number of seeds K.
    pub fn seeds(&self) -> usize {
        self.cfg.seeds
    }

    /// Each seed's loss at the last gradient step, `[K]`.
    pub fn last_loss(&self) -> Option<&Tensor> {
        self.last_loss.as_ref()
    }

    pub(crate) fn set_last_loss(&mut self, l: Tensor) {
        self.last_loss = Some(l);
    }

    fn masked(&self, q: &Tensor, fill: f64) -> Tensor {
        match &self.invalid {
            Some(m) => q.masked_fill(m, fill),
            None => q.shallow_clone(),
        }
    }

    /// One-hot observations `[K, B, S]` of state indices `[K·B]`.
    fn obs(&self, states: &[i64], k: i64) -> Tensor {
        Tensor::from_slice(states)
            .to_device(self.device)
            .view([k, -1])
            .one_hot(self.data.n_states() as i64)
            .to_kind(self.kind)
    }

    /// Greedy actions of every seed's agents in the seeds' current states, `[K][N]`.
    fn greedy_now(&self) -> Vec<Vec<usize>> {
        let k = self.cfg.seeds as i64;
        let states: Vec<i64> = self.env.iter().map(|&s| s as i64).collect();
        let idx = tch::no_grad(|| {
            let p = self.params.views();
            let (q, _) = self.online.agents.forward(&p, &self.obs(&states, k));
            self.masked(&q, -1e30)
                .argmax(3, false)
                .to_device(Device::Cpu)
        });
        let flat = Vec::<i64>::try_from(idx.flatten(0, -1)).expect("invariant: int64 tensor");
        let n = self.data.n_agents();
        flat.chunks(n)
            .map(|c| c.iter().map(|&a| a as usize).collect())
            .collect()
    }

    /// Runs environment steps until `total` steps are done (calling `on_step` after each).
    pub fn run_until(&mut self, total: usize, on_step: &mut dyn FnMut(usize)) -> Result<()> {
        while self.step < total {
            self.env_step()?;
            on_step(self.step);
        }
        Ok(())
    }

    /// One environment step for every seed, then (once learning has started) one gradient
    /// step, target update and logging as scheduled.
    pub fn env_step(&mut self) -> Result<()> {
        let eps = self.cfg.epsilon.at(self.step);
        let greedy = if eps < 1.0 {
            Some(self.greedy_now())
        } else {
            None
        };
        let n = self.data.n_agents();
        let mut u = vec![0usize; n];
        for k in 0..self.cfg.seeds {
            let s = self.env[k];
            for (i, a) in u.iter_mut().enumerate() {
                let x = self.explore[k].uniform();
                *a = if x < eps {
                    self.explore[k].below(self.data.actions[i])
                } else {
                    greedy.as_ref().expect("invariant: computed when ε < 1")[k][i]
                };
            }
            let state = &self.data.game.states[s];
            let j = state.payoff.index_of(&u);
            let r = state.payoff.values()[j];
            let next = state.next_of(j);
            self.buffers[k].push(s, &u, r, next);
            self.env[k] = next.unwrap_or(self.data.game.initial);
        }
        if self.buffers[0].len >= self.cfg.learning_starts.max(1) {
            let batch = self.sample();
            let per_seed = self.loss(&batch);
            per_seed.sum(self.kind).backward();
            self.opt.step(self.params.flat_mut());
            self.last_loss = Some(per_seed.detach());
        }
        self.step += 1;
        if self.step.is_multiple_of(self.cfg.target_update_interval) {
            self.target_params.copy_from(&self.params);
        }
        if self.step.is_multiple_of(self.cfg.effective_log_every()) || self.step == self.cfg.steps {
            self.log()?;
        }
        Ok(())
    }

    fn log(&mut self) -> Result<()> {
        let loss = self.last_loss.as_ref().map(|l| {
            Vec::<f64>::try_from(l.to_kind(Kind::Double).to_device(Device::Cpu))
                .expect("invariant: float tensor")
        });
        let utilities = self.utilities()?;
        let optimal = utilities
            .iter()
            .map(|per_state| {
                let greedy: Vec<Vec<usize>> = per_state
                    .iter()
                    .map(|u| self.data.greedy_joint_set(u))
                    .collect();
                self.data.greedy_is_optimal(&greedy)
            })
            .collect::<Result<Vec<bool>>>()?;
        self.curve.push(CurvePoint {
            step: self.step,
            loss,
            optimal,
        });
        Ok(())
    }

    fn sample(&mut self) -> Batch {
        let k = self.cfg.seeds;
        let b = self.cfg.batch_size;
        let n = self.data.n_agents();
        let mut s = Vec::with_capacity(k * b);
        let mut u = Vec::with_capacity(k * b * n);
        let mut r = Vec::with_capacity(k * b);
        let mut s2 = Vec::with_capacity(k * b);
        let mut nd = Vec::with_capacity(k * b);
        let mut bootstrap = false;
        for (buf, rng) in self.buffers.iter().zip(self.sampler.iter_mut()) {
            for _ in 0..b {
                let i = rng.below(buf.len);
                s.push(buf.state[i]);
                u.extend_from_slice(&buf.actions[i * n..(i + 1) * n]);
                r.push(buf.reward[i]);
                s2.push(buf.next[i]);
                nd.push(1.0 - buf.done[i]);
                bootstrap |= buf.done[i] < 0.5;
            }
        }
        let (ki, bi, ni) = (k as i64, b as i64, n as i64);
        let to = |v: &[f64]| {
            Tensor::from_slice(v)
                .view([ki, bi])
                .to_kind(self.kind)
                .to_device(self.device)
        };
        Batch {
            obs: self.obs(&s, ki),
            u: Tensor::from_slice(&u)
                .view([ki, bi, ni])
                .permute([0, 2, 1])
                .contiguous()
                .to_device(self.device),
            r: to(&r),
            obs2: self.obs(&s2, ki),
            not_done: to(&nd),
            bootstrap: bootstrap && self.data.gamma > 0.0,
        }
    }

    /// Targets `[K, B]` (`[K, N, B]` for IQL), without gradients.
    fn targets(&self, b: &Batch) -> Tensor {
        tch::no_grad(|| {
            if !b.bootstrap {
                return if self.cfg.method == Method::Iql {
                    b.r.unsqueeze(1)
                        .expand([-1, self.data.n_agents() as i64, -1], false)
                } else {
                    b.r.shallow_clone()
                };
            }
            let pt = self.target_params.views();
            let (qt, ht) = self.target.agents.forward(&pt, &b.obs2);
            let ubar = if self.cfg.double_q {
                let (q, _) = self.online.agents.forward(&self.params.views(), &b.obs2);
                self.masked(&q, -1e30).argmax(3, false)
            } else {
                self.masked(&qt, -1e30).argmax(3, false)
            };
            let q_at = qt.gather(3, &ubar.unsqueeze(-1), false).squeeze_dim(3); // [K, N, B]
            let k = self.kind;
            let next = match (&self.target.mixer, self.cfg.method) {
                (_, Method::Iql) => q_at,
                (Mixer::Sum, _) => q_at.sum_dim_intlist([1i64].as_slice(), false, k),
                (Mixer::Qmix(m), _) => m.forward(&pt, &q_at.permute([0, 2, 1]), &b.obs2),
                (Mixer::Qtran(nets), _) => {
                    let hq = nets.encode(&pt, &ht, &ubar);
                    if nets.is_alt() {
                        nets.counterfactual(&pt, &ht, &hq)
                            .gather(3, &ubar.unsqueeze(-1), false)
                            .squeeze_dim(3)
                            .mean_dim([1i64].as_slice(), false, k)
                    } else {
                        nets.q_jt(&pt, &hq)
                    }
                }
            };
            let (r, nd) = if self.cfg.method == Method::Iql {
                (b.r.unsqueeze(1), b.not_done.unsqueeze(1))
            } else {
                (b.r.shallow_clone(), b.not_done.shallow_clone())
            };
            r + nd * next * self.data.gamma
        })
    }

    /// Each seed's loss `[K]` (with gradients).
    fn loss(&self, b: &Batch) -> Tensor {
        let k = self.kind;
        let y = self.targets(b);
        let p = self.params.views();
        let p = p.as_slice();
        let (q, h) = self.online.agents.forward(p, &b.obs);
        let q_taken = q.gather(3, &b.u.unsqueeze(-1), false).squeeze_dim(3); // [K, N, B]
        let mean_b = |t: Tensor| t.mean_dim([1i64].as_slice(), false, k);
        let mean_nb = |t: Tensor| t.mean_dim([1i64, 2].as_slice(), false, k);
        match (&self.online.mixer, self.cfg.method) {
            (_, Method::Iql) => (q_taken - y)
                .square()
                .mean_dim([2i64].as_slice(), false, k)
                .sum_dim_intlist([1i64].as_slice(), false, k),
            (Mixer::Sum, _) => {
                mean_b((q_taken.sum_dim_intlist([1i64].as_slice(), false, k) - y).square())
            }
            (Mixer::Qmix(m), _) => {
                mean_b((m.forward(p, &q_taken.permute([0, 2, 1]), &b.obs) - y).square())
            }
            (Mixer::Qtran(nets), _) => {
                let lo = self.cfg.qtran.lambda_opt;
                let ln = self.cfg.qtran.lambda_nopt;
                let qm = self.masked(&q, -1e30);
                let ubar = qm.argmax(3, false).detach(); // [K, N, B]
                let q_prime_bar =
                    qm.amax([3i64].as_slice(), false)
                        .sum_dim_intlist([1i64].as_slice(), false, k); // [K, B]
                let q_prime = q_taken.sum_dim_intlist([1i64].as_slice(), false, k); // [K, B]
                let v = nets.v_jt(p, &h).unwrap_or_else(|| q_prime.zeros_like()); // [K, B]
                let hq = nets.encode(p, &h, &b.u);
                if nets.is_alt() {
                    let cf = nets.counterfactual(p, &h, &hq); // [K, N, B, A]
                    let q_jt_i = cf.gather(3, &b.u.unsqueeze(-1), false).squeeze_dim(3);
                    let l_td = mean_nb((q_jt_i - y.unsqueeze(1)).square());
                    let cf_bar =
                        tch::no_grad(|| nets.counterfactual(p, &h, &nets.encode(p, &h, &ubar)));
                    let q_hat_bar = cf_bar.gather(3, &ubar.unsqueeze(-1), false).squeeze_dim(3);
                    let l_opt =
                        mean_nb((q_prime_bar.unsqueeze(1) - q_hat_bar + v.unsqueeze(1)).square());
                    let others = q_prime.unsqueeze(1) - &q_taken; // Σ_{j≠i} Q_j(u_j): [K, N, B]
                    let d = &q + others.unsqueeze(-1) - cf.detach() + v.unsqueeze(1).unsqueeze(-1);
                    let d_min = self.masked(&d, 1e30).amin([3i64].as_slice(), false);
                    let l_nopt = mean_nb(d_min.square());
                    l_td + l_opt * lo + l_nopt * ln
                } else {
                    let q_jt = nets.q_jt(p, &hq);
                    let l_td = mean_b((&q_jt - y).square());
                    let q_hat_bar = tch::no_grad(|| nets.q_jt(p, &nets.encode(p, &h, &ubar)));
                    let l_opt = mean_b((q_prime_bar - q_hat_bar + &v).square());
                    let l_nopt = mean_b((q_prime - q_jt.detach() + v).clamp_max(0.0).square());
                    l_td + l_opt * lo + l_nopt * ln
                }
            }
        }
    }

    /// Utilities `Q_i(s, ·)` of every seed in every state: `[K][S]`.
    pub fn utilities(&self) -> Result<Vec<Vec<Utilities>>> {
        let k = self.cfg.seeds as i64;
        let s = self.data.n_states() as i64;
        let q = tch::no_grad(|| {
            let obs = Tensor::eye(s, (self.kind, self.device))
                .unsqueeze(0)
                .expand([k, s, s], false);
            self.online.agents.forward(&self.params.views(), &obs).0
        });
        Ok(self.split_utilities(&q))
    }

    /// `q: [K, N, S, A]` → `[K][S]` utilities with each agent's own action count.
    fn split_utilities(&self, q: &Tensor) -> Vec<Vec<Utilities>> {
        let size = q.size();
        let (k, n, s, a) = (
            size[0] as usize,
            size[1] as usize,
            size[2] as usize,
            size[3] as usize,
        );
        let flat = Vec::<f64>::try_from(
            q.to_kind(Kind::Double)
                .to_device(Device::Cpu)
                .flatten(0, -1),
        )
        .expect("invariant: float tensor");
        (0..k)
            .map(|kk| {
                (0..s)
                    .map(|ss| {
                        Utilities(
                            (0..n)
                                .map(|i| {
                                    let base = ((kk * n + i) * s + ss) * a;
                                    flat[base..base + self.data.actions[i]].to_vec()
                                })
                                .collect(),
                        )
                    })
                    .collect()
            })
            .collect()
    }

    /// Evaluates every seed's networks on every state and joint action (no gradients) into
    /// tables: utilities, the learned joint table and (QTRAN) `V_jt`.
    pub fn evaluate(&self) -> Result<Vec<SeedTables>> {
        let k = self.cfg.seeds as i64;
        let s = self.data.n_states() as i64;
        let j = self.data.joint as i64;
        let n = self.data.n_agents() as i64;
        let kind = self.kind;
        let (q_states, joint, v) = tch::no_grad(|| {
            // Rows (state, joint action), state slowest.
            let eye = Tensor::eye(s, (kind, self.device));
            let obs = eye
                .repeat_interleave_self_int(j, 0, None)
                .unsqueeze(0)
                .expand([k, s * j, s], false);
            let u_flat: Vec<i64> = self
                .data
                .joint_actions
                .iter()
                .flat_map(|u| u.iter().map(|&a| a as i64))
                .collect();
            let u = Tensor::from_slice(&u_flat)
                .view([j, n])
                .transpose(0, 1)
                .repeat([1, s])
                .unsqueeze(0)
                .expand([k, n, s * j], false)
                .contiguous()
                .to_device(self.device);
            let p = self.params.views();
            let p = p.as_slice();
            let (q, h) = self.online.agents.forward(p, &obs);
            let q_taken = q.gather(3, &u.unsqueeze(-1), false).squeeze_dim(3);
            let joint = match &self.online.mixer {
                Mixer::Sum => q_taken.sum_dim_intlist([1i64].as_slice(), false, kind),
                Mixer::Qmix(m) => m.forward(p, &q_taken.permute([0, 2, 1]), &obs),
                Mixer::Qtran(nets) => {
                    let hq = nets.encode(p, &h, &u);
                    if nets.is_alt() {
                        nets.counterfactual(p, &h, &hq)
                            .gather(3, &u.unsqueeze(-1), false)
                            .squeeze_dim(3)
                            .mean_dim([1i64].as_slice(), false, kind)
                    } else {
                        nets.q_jt(p, &hq)
                    }
                }
            };
            let v = match &self.online.mixer {
                Mixer::Qtran(nets) => Some(
                    nets.v_jt(p, &h)
                        .unwrap_or_else(|| joint.zeros_like())
                        .view([k, s, j])
                        .select(2, 0),
                ),
                _ => None,
            };
            let a = q.size()[3];
            let q_states = q.view([k, n, s, j, a]).select(3, 0);
            (q_states, joint, v)
        });
        let utilities = self.split_utilities(&q_states);
        let to_vec = |t: &Tensor| {
            Vec::<f64>::try_from(
                t.to_kind(Kind::Double)
                    .to_device(Device::Cpu)
                    .flatten(0, -1),
            )
            .expect("invariant: float tensor")
        };
        let joint = to_vec(&joint);
        let v = v.as_ref().map(to_vec);
        let shape = self.data.actions.clone();
        let (ju, su) = (j as usize, s as usize);
        let mut out = Vec::with_capacity(k as usize);
        let seed_list = self.cfg.seed_list();
        for (kk, per_state) in utilities.into_iter().enumerate() {
            let mut states = Vec::with_capacity(su);
            for (ss, utilities) in per_state.into_iter().enumerate() {
                let base = (kk * su + ss) * ju;
                let table = JointTable::new(shape.clone(), joint[base..base + ju].to_vec())
                    .map_err(|e| Error::Diverged(format!("seed {}: {e}", seed_list[kk])))?;
                states.push(StateTables {
                    utilities,
                    joint: table,
                    v_jt: v.as_ref().map(|v| v[kk * su + ss]),
                });
            }
            out.push(SeedTables {
                seed: seed_list[kk],
                states,
            });
        }
        Ok(out)
    }

    /// `∂Q_tot/∂Q_i` by autograd at every state and joint action for every seed (QMIX only):
    /// `[K][S·J][N]`, rows state-major. `None` for methods without a mixer.
    pub fn mixer_gradients(&self) -> Option<Vec<Vec<Vec<f64>>>> {
        let Mixer::Qmix(m) = &self.online.mixer else {
            return None;
        };
        let k = self.cfg.seeds as i64;
        let s = self.data.n_states() as i64;
        let j = self.data.joint as i64;
        let n = self.data.n_agents() as i64;
        let eye = Tensor::eye(s, (self.kind, self.device));
        let obs = eye
            .repeat_interleave_self_int(j, 0, None)
            .unsqueeze(0)
            .expand([k, s * j, s], false);
        let u_flat: Vec<i64> = self
            .data
            .joint_actions
            .iter()
            .flat_map(|u| u.iter().map(|&a| a as i64))
            .collect();
        let u = Tensor::from_slice(&u_flat)
            .view([j, n])
            .transpose(0, 1)
            .repeat([1, s])
            .unsqueeze(0)
            .expand([k, n, s * j], false)
            .contiguous()
            .to_device(self.device);
        let p = self.params.views();
        let q = tch::no_grad(|| self.online.agents.forward(&p, &obs).0);
        let q_taken = q
            .gather(3, &u.unsqueeze(-1), false)
            .squeeze_dim(3)
            .permute([0, 2, 1])
            .contiguous()
            .detach()
            .set_requires_grad(true);
        let q_tot = m.forward(&p, &q_taken, &obs);
        let grads = Tensor::run_backward(&[q_tot.sum(self.kind)], &[&q_taken], false, false);
        let g = grads.into_iter().next()?;
        let flat = Vec::<f64>::try_from(
            g.to_kind(Kind::Double)
                .to_device(Device::Cpu)
                .flatten(0, -1),
        )
        .ok()?;
        let (ku, rows, nu) = (k as usize, (s * j) as usize, n as usize);
        Some(
            (0..ku)
                .map(|kk| {
                    (0..rows)
                        .map(|r| flat[(kk * rows + r) * nu..(kk * rows + r + 1) * nu].to_vec())
                        .collect()
                })
                .collect(),
        )
    }
}
