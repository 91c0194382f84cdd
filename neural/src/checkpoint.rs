//! Checkpoints that resume to the same result.
//!
//! A checkpoint directory holds `config.json` (the [`TrainConfig`]), `state.safetensors`
//! (online and target parameters, optimiser moments, replay buffers, the last loss) and
//! `state.json` (step counters, environment states, the PRNG stream states, the logged curve).
//! Loading rebuilds the networks from the configuration and then overwrites every tensor, so a
//! run resumed from step N continues exactly as the uninterrupted run would have.

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

#[derive(Serialize, Deserialize)]
struct StateJson {
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

/// Restores a learner from `dir` for `game` on `device`. `steps` raises (or keeps, with
/// `None`) the configured total number of steps.
pub fn load(game: &Game, dir: &Path, device: Device, steps: Option<usize>) -> Result<Learner> {
    let mut cfg = read_config(dir)?;
    if let Some(s) = steps {
        cfg.steps = s;
    }
    let sp = dir.join("state.json");
    let text = std::fs::read_to_string(&sp).map_err(io_err(&sp))?;
    let state: StateJson = serde_json::from_str(&text)
        .map_err(|e| Error::Invalid(format!("{}: {e}", sp.display())))?;
    let mut learner = Learner::new(game, &cfg, device)?;
    let k = cfg.seeds;
    if state.env.len() != k || state.explore.len() != k || state.sampler.len() != k {
        return Err(Error::Invalid(
            "checkpoint state does not match its configuration".into(),
        ));
    }
    let tensors: HashMap<String, Tensor> = Tensor::read_safetensors(dir.join("state.safetensors"))?
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
    let to_i = |t: &Tensor| Vec::<i64>::try_from(t.flatten(0, -1)).map_err(Error::from);
    let to_f = |t: &Tensor| {
        Vec::<f64>::try_from(t.to_kind(Kind::Double).flatten(0, -1)).map_err(Error::from)
    };
    let (bs, ba, bn, br, bd) = (
        to_i(get("buffer/state")?)?,
        to_i(get("buffer/actions")?)?,
        to_i(get("buffer/next")?)?,
        to_f(get("buffer/reward")?)?,
        to_f(get("buffer/done")?)?,
    );
    let cap = cfg.buffer_size;
    for (j, seed) in learner.seeds.iter_mut().enumerate() {
        let buf = &mut seed.buffer;
        let n = buf.n;
        if bs.len() != k * cap || ba.len() != k * cap * n {
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
