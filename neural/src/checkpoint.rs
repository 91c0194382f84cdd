//! Checkpoints that resume to the same result.
//!
//! A checkpoint directory holds `config.json` (the [`TrainConfig`]), `state.safetensors`
//! (online and target parameters, optimiser moments, replay buffers, the last loss) and
//! `state.json` (step counters, environment states, the PRNG stream states, the logged curve).
//! Loading rebuilds the networks from the configuration and then overwrites every tensor, so a
//! run resumed from step N continues exactly as the uninterrupted run would have.
//!
//! `state.json` also holds a [`Fingerprint`]: the game's identity (action labels, shape, and a
//! hash of its payoff tables and transitions) and every setting that shapes the state. Loading
//! refuses, naming the difference, a checkpoint whose fingerprint does not match the game it
//! is resumed on or its own (edited) `config.json`, and a new total of steps below the
//! checkpoint's.

use crate::config::TrainConfig;
use crate::learner::{CurvePoint, Learner};
use crate::rng::Rng;
use crate::{Error, Result};
use reference::Game;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use tch::{Device, Kind, Tensor};

#[derive(Serialize, Deserialize)]
struct CurveJson {
    step: usize,
    loss: Option<Vec<f64>>,
    optimal: Vec<bool>,
}

/// The identity of a game as a checkpoint records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GameId {
    /// The game's name (for messages only: a renamed copy is the same game).
    pub name: String,
    /// Action labels of each agent (their number is the game's shape).
    pub actions: Vec<Vec<String>>,
    /// State labels.
    pub states: Vec<String>,
    /// FNV-1a (64-bit, hex) of the labels, the payoff tables' bits, the transitions, the
    /// initial state and γ.
    pub hash: String,
}

impl GameId {
    /// The identity of `game`.
    pub fn of(game: &Game) -> Self {
        let mut h = Fnv::default();
        h.num(game.agents.len() as u64);
        for a in &game.agents {
            h.num(a.actions.len() as u64);
            for l in &a.actions {
                h.text(l);
            }
        }
        h.num(game.states.len() as u64);
        for s in &game.states {
            h.text(&s.label);
            for &d in s.payoff.shape() {
                h.num(d as u64);
            }
            for v in s.payoff.values() {
                h.num(v.to_bits());
            }
            for k in 0..s.payoff.len() {
                h.num(s.next_of(k).map_or(u64::MAX, |x| x as u64));
            }
        }
        h.num(game.initial as u64);
        h.num(game.gamma.to_bits());
        GameId {
            name: game.name.clone(),
            actions: game.agents.iter().map(|a| a.actions.clone()).collect(),
            states: game.states.iter().map(|s| s.label.clone()).collect(),
            hash: format!("{:016x}", h.0),
        }
    }

    fn shape(&self) -> String {
        self.actions
            .iter()
            .map(|a| a.len().to_string())
            .collect::<Vec<_>>()
            .join("×")
    }

    /// How `self` (the checkpoint's game) differs from `now` (the game given), in words, or
    /// `None` when they are the same game.
    fn difference(&self, now: &GameId) -> Option<String> {
        let what = if self.actions.len() != now.actions.len()
            || self
                .actions
                .iter()
                .zip(&now.actions)
                .any(|(a, b)| a.len() != b.len())
        {
            format!("shape {} versus {}", self.shape(), now.shape())
        } else if self.actions != now.actions {
            format!("action labels {:?} versus {:?}", self.actions, now.actions)
        } else if self.states != now.states {
            format!("states {:?} versus {:?}", self.states, now.states)
        } else if self.hash != now.hash {
            "the same labels but other payoffs, transitions or discount".to_string()
        } else {
            return None;
        };
        Some(format!(
            "the checkpoint was trained on game {:?}, not on {:?}: {what}",
            self.name, now.name
        ))
    }
}

/// FNV-1a, 64-bit: a stable hash (unlike `std`'s, the same in every build).
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn bytes(&mut self, b: &[u8]) {
        for &x in b {
            self.0 ^= u64::from(x);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn num(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
    fn text(&mut self, s: &str) {
        self.num(s.len() as u64);
        self.bytes(s.as_bytes());
    }
}

/// What a checkpoint's state depends on: the game and every setting that shapes the state
/// (the configuration without `game`, `steps`, `device` and `threads`, which a resumed run
/// may change or which only name things).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// The game.
    pub game: GameId,
    /// The settings, as in `config.json`.
    pub settings: serde_json::Value,
}

/// Settings left out of a [`Fingerprint`].
const FREE_SETTINGS: [&str; 4] = ["game", "steps", "device", "threads"];

impl Fingerprint {
    /// The fingerprint of training `cfg` on `game`.
    pub fn of(game: &Game, cfg: &TrainConfig) -> Result<Self> {
        let mut settings =
            serde_json::to_value(cfg).map_err(|e| Error::Internal(format!("serialising: {e}")))?;
        if let Some(map) = settings.as_object_mut() {
            for k in FREE_SETTINGS {
                map.remove(k);
            }
        }
        Ok(Fingerprint {
            game: GameId::of(game),
            settings,
        })
    }

    /// Refuses ([`Error::Invalid`]) resuming this checkpoint as `now`, naming every
    /// difference.
    pub fn verify(&self, now: &Fingerprint, dir: &Path) -> Result<()> {
        if let Some(d) = self.game.difference(&now.game) {
            return Err(Error::Invalid(format!(
                "cannot resume {}: {d}",
                dir.display()
            )));
        }
        let mut diffs = Vec::new();
        differences("", &self.settings, &now.settings, &mut diffs);
        if diffs.is_empty() {
            return Ok(());
        }
        Err(Error::Invalid(format!(
            "cannot resume {}: its config.json no longer matches the state it was saved with \
             ({}); restore the file or train afresh",
            dir.display(),
            diffs.join("; ")
        )))
    }
}

/// Dotted keys whose values differ between `a` (saved) and `b` (now).
fn differences(prefix: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    if let (Value::Object(x), Value::Object(y)) = (a, b) {
        let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
        keys.sort();
        keys.dedup();
        for k in keys {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            let null = Value::Null;
            differences(
                &key,
                x.get(k).unwrap_or(&null),
                y.get(k).unwrap_or(&null),
                out,
            );
        }
    } else if a != b {
        out.push(format!("{prefix}: saved {a}, now {b}"));
    }
}

#[derive(Serialize, Deserialize)]
struct StateJson {
    /// Absent in checkpoints written before fingerprints existed (refused on load).
    #[serde(default)]
    fingerprint: Option<Fingerprint>,
    step: usize,
    optimiser_steps: i64,
    env: Vec<usize>,
    explore: Vec<u64>,
    sampler: Vec<u64>,
    buffer_len: usize,
    buffer_pos: usize,
    curve: Vec<CurveJson>,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Writes `learner`'s complete state into `dir` (created if missing).
pub fn save(learner: &Learner, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let cpu = |t: &Tensor| t.detach().to_device(Device::Cpu).contiguous();
    let mut named: Vec<(String, Tensor)> = Vec::new();
    let store = &learner.params;
    for (prefix, flat) in [
        ("param", store.flat()),
        ("target", learner.target_params.flat()),
        ("optim_m", &learner.opt.m),
        ("optim_v", &learner.opt.v),
    ] {
        for (spec, t) in store.specs().iter().zip(store.split(flat)) {
            named.push((format!("{prefix}/{}", spec.name), cpu(&t)));
        }
    }
    // Buffers are written in the original (i64 / f64) form, so the format does not depend on
    // the in-memory encoding.
    let k = learner.seeds.len() as i64;
    let cat_i = |f: &dyn Fn(&crate::learner::Replay) -> Vec<i64>| {
        let v: Vec<i64> = learner.seeds.iter().flat_map(|s| f(&s.buffer)).collect();
        Tensor::from_slice(&v).view([k, -1])
    };
    let cat_f = |f: &dyn Fn(&crate::learner::Replay) -> Vec<f64>| {
        let v: Vec<f64> = learner.seeds.iter().flat_map(|s| f(&s.buffer)).collect();
        Tensor::from_slice(&v).view([k, -1])
    };
    let terminal = crate::learner::Replay::TERMINAL;
    let wide = |v: &[u32]| v.iter().map(|&x| i64::from(x)).collect::<Vec<i64>>();
    named.push(("buffer/state".into(), cat_i(&|b| wide(&b.state))));
    named.push(("buffer/actions".into(), cat_i(&|b| wide(&b.actions))));
    named.push((
        "buffer/next".into(),
        cat_i(&|b| {
            b.next
                .iter()
                .map(|&x| if x == terminal { 0 } else { i64::from(x) })
                .collect()
        }),
    ));
    named.push(("buffer/reward".into(), cat_f(&|b| b.reward.clone())));
    named.push((
        "buffer/done".into(),
        cat_f(&|b| {
            b.next
                .iter()
                .map(|&x| if x == terminal { 1.0 } else { 0.0 })
                .collect()
        }),
    ));
    if let Some(l) = learner.last_loss() {
        named.push(("last_loss".into(), cpu(&l)));
    }
    let st_path = dir.join("state.safetensors");
    Tensor::write_safetensors(&named, &st_path)?;
    let state = StateJson {
        fingerprint: Some(Fingerprint::of(&learner.data().game, learner.config())?),
        step: learner.step,
        optimiser_steps: learner.opt.t,
        env: learner.seeds.iter().map(|s| s.env).collect(),
        explore: learner.seeds.iter().map(|s| s.explore.state()).collect(),
        sampler: learner.seeds.iter().map(|s| s.sampler.state()).collect(),
        buffer_len: learner.seeds.first().map_or(0, |s| s.buffer.len),
        buffer_pos: learner.seeds.first().map_or(0, |s| s.buffer.pos),
        curve: learner
            .curve
            .iter()
            .map(|p| CurveJson {
                step: p.step,
                loss: p.loss.clone(),
                optimal: p.optimal.clone(),
            })
            .collect(),
    };
    let write_json = |name: &str, value: String| {
        let p = dir.join(name);
        std::fs::write(&p, value).map_err(io_err(&p))
    };
    write_json("config.json", to_json(learner.config())?)?;
    write_json("state.json", to_json(&state)?)?;
    Ok(())
}

fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string_pretty(v).map_err(|e| Error::Internal(format!("serialising: {e}")))
}

/// Reads the configuration stored in a checkpoint.
pub fn read_config(dir: &Path) -> Result<TrainConfig> {
    let p = dir.join("config.json");
    let text = std::fs::read_to_string(&p).map_err(io_err(&p))?;
    serde_json::from_str(&text).map_err(|e| Error::Invalid(format!("{}: {e}", p.display())))
}

/// `game` as trained under `cfg` (its discount replaced by `cfg.gamma` when set).
fn effective_game(game: &Game, cfg: &TrainConfig) -> Game {
    let mut g = game.clone();
    if let Some(gamma) = cfg.gamma {
        g.gamma = gamma;
    }
    g
}

/// Reads and checks the configuration and state of the checkpoint `dir` for resuming on
/// `game` with `steps` steps in total (`None`: the configured total).
fn open(game: &Game, dir: &Path, steps: Option<usize>) -> Result<(TrainConfig, StateJson)> {
    let mut cfg = read_config(dir)?;
    let sp = dir.join("state.json");
    let text = std::fs::read_to_string(&sp).map_err(io_err(&sp))?;
    let state: StateJson = serde_json::from_str(&text)
        .map_err(|e| Error::Invalid(format!("{}: {e}", sp.display())))?;
    let Some(saved) = &state.fingerprint else {
        return Err(Error::Invalid(format!(
            "{}: no fingerprint (written by an older qfactor); train afresh",
            sp.display()
        )));
    };
    saved.verify(&Fingerprint::of(&effective_game(game, &cfg), &cfg)?, dir)?;
    if let Some(s) = steps {
        if s < state.step {
            return Err(Error::Invalid(format!(
                "cannot resume {} to {s} steps: the checkpoint has already trained {} steps \
                 (give --steps {} or more)",
                dir.display(),
                state.step,
                state.step
            )));
        }
        cfg.steps = s;
    }
    let k = cfg.seeds;
    let cap = cfg.buffer_size;
    let n_states = game.states.len();
    if state.env.len() != k
        || state.explore.len() != k
        || state.sampler.len() != k
        || state.env.iter().any(|&e| e >= n_states)
        || state.buffer_len > cap
        || state.buffer_pos >= cap
        || state
            .curve
            .iter()
            .any(|c| c.optimal.len() != k || c.loss.as_ref().is_some_and(|l| l.len() != k))
    {
        return Err(Error::Invalid(format!(
            "{}: the state does not match its configuration",
            sp.display()
        )));
    }
    Ok((cfg, state))
}

/// The configuration a run resumed from the checkpoint `dir` on `game` uses, with `steps`
/// steps in total: checks what [`load`] checks about the files (fingerprint, step count,
/// `state.json`) without building the learner.
pub fn resume_config(game: &Game, dir: &Path, steps: Option<usize>) -> Result<TrainConfig> {
    open(game, dir, steps).map(|(cfg, _)| cfg)
}

/// Restores a learner from `dir` for `game` on `device`. `steps` raises (or keeps, with
/// `None`) the configured total number of steps; a total below the checkpoint's step, a game
/// or configuration that does not match the checkpoint's [`Fingerprint`], and damaged files
/// are refused ([`Error::Invalid`]).
pub fn load(game: &Game, dir: &Path, device: Device, steps: Option<usize>) -> Result<Learner> {
    let (cfg, state) = open(game, dir, steps)?;
    let mut learner = Learner::new(game, &cfg, device)?;
    let k = cfg.seeds;
    let tp = dir.join("state.safetensors");
    let tensors: HashMap<String, Tensor> = Tensor::read_safetensors(&tp)
        .map_err(|e| Error::Invalid(format!("{}: unreadable ({e})", tp.display())))?
        .into_iter()
        .collect();
    let get = |name: &str| {
        tensors
            .get(name)
            .ok_or_else(|| Error::Invalid(format!("checkpoint lacks tensor {name}")))
    };
    let specs = learner.params.specs().to_vec();
    tch::no_grad(|| -> Result<()> {
        let dsts = [
            ("param", learner.params.flat().shallow_clone()),
            ("target", learner.target_params.flat().shallow_clone()),
            ("optim_m", learner.opt.m.shallow_clone()),
            ("optim_v", learner.opt.v.shallow_clone()),
        ];
        for (prefix, flat) in dsts {
            for (spec, mut dst) in specs.iter().zip(learner.params.split(&flat)) {
                let src = get(&format!("{prefix}/{}", spec.name))?;
                check_shape(&spec.name, &dst, src)?;
                dst.copy_(src);
            }
        }
        Ok(())
    })?;
    learner.opt.t = state.optimiser_steps;
    learner.step = state.step;
    for (j, seed) in learner.seeds.iter_mut().enumerate() {
        seed.env = state.env[j];
        seed.explore = Rng::from_state(state.explore[j]);
        seed.sampler = Rng::from_state(state.sampler[j]);
    }
    let damaged = |e: tch::TchError| Error::Invalid(format!("{}: {e}", tp.display()));
    let to_i =
        |t: &Tensor| Vec::<i64>::try_from(t.to_kind(Kind::Int64).flatten(0, -1)).map_err(damaged);
    let to_f =
        |t: &Tensor| Vec::<f64>::try_from(t.to_kind(Kind::Double).flatten(0, -1)).map_err(damaged);
    let (bs, ba, bn, br, bd) = (
        to_i(get("buffer/state")?)?,
        to_i(get("buffer/actions")?)?,
        to_i(get("buffer/next")?)?,
        to_f(get("buffer/reward")?)?,
        to_f(get("buffer/done")?)?,
    );
    let cap = cfg.buffer_size;
    let n_states = game.states.len() as i64;
    let a_max = game
        .agents
        .iter()
        .map(|a| a.actions.len())
        .max()
        .unwrap_or(0) as i64;
    let in_range = |v: &[i64], hi: i64| v.iter().all(|&x| (0..hi).contains(&x));
    if !(in_range(&bs, n_states) && in_range(&bn, n_states) && in_range(&ba, a_max)) {
        return Err(Error::Invalid(format!(
            "{}: a replay buffer holds a state or action outside the game",
            tp.display()
        )));
    }
    for (j, seed) in learner.seeds.iter_mut().enumerate() {
        let buf = &mut seed.buffer;
        let n = buf.n;
        let sized = |v: usize| v == k * cap;
        if !(sized(bs.len()) && sized(bn.len()) && sized(br.len()) && sized(bd.len()))
            || ba.len() != k * cap * n
        {
            return Err(Error::Invalid(
                "checkpoint buffers do not match the configuration".into(),
            ));
        }
        let narrow = |x: i64| {
            u32::try_from(x)
                .map_err(|_| Error::Invalid("checkpoint buffer value out of range".into()))
        };
        for (dst, &src) in buf.state.iter_mut().zip(&bs[j * cap..(j + 1) * cap]) {
            *dst = narrow(src)?;
        }
        for (dst, &src) in buf
            .actions
            .iter_mut()
            .zip(&ba[j * cap * n..(j + 1) * cap * n])
        {
            *dst = narrow(src)?;
        }
        let next = bn[j * cap..(j + 1) * cap]
            .iter()
            .zip(&bd[j * cap..(j + 1) * cap]);
        for (dst, (&nx, &done)) in buf.next.iter_mut().zip(next) {
            *dst = if done > 0.5 {
                crate::learner::Replay::TERMINAL
            } else {
                narrow(nx)?
            };
        }
        buf.reward.copy_from_slice(&br[j * cap..(j + 1) * cap]);
        buf.len = state.buffer_len;
        buf.pos = state.buffer_pos;
    }
    if let Some(l) = tensors.get("last_loss") {
        learner.set_last_loss(l.to_kind(learner.kind).to_device(device));
    }
    learner.curve = state
        .curve
        .into_iter()
        .map(|c| CurvePoint {
            step: c.step,
            loss: c.loss,
            optimal: c.optimal,
        })
        .collect();
    Ok(learner)
}

fn check_shape(name: &str, dst: &Tensor, src: &Tensor) -> Result<()> {
    if dst.size() != src.size() {
        return Err(Error::Invalid(format!(
            "checkpoint tensor {name} has shape {:?}, the configuration implies {:?}",
            src.size(),
            dst.size()
        )));
    }
    Ok(())
}
