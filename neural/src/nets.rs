//! Seed-batched parameters and layers.
//!
//! Every parameter has a leading seed dimension K (and, for per-agent networks, an agent group
//! dimension G): a linear layer holds `w: [K, G, in, out]`, `b: [K, G, 1, out]` and maps
//! `x: [K, G, B, in]` to `[K, G, B, out]` with one batched matrix product. Seeds never mix: no
//! operation reduces over the seed dimension. The layers work on any number of seeds: the
//! learner runs them on chunks of seeds (views of ranges of the seed dimension).
//!
//! Initial values are drawn in Rust from the stream `(base seed, seed index, "init/<name>")`
//! ([`crate::rng`]), so a seed's initial network does not depend on K or on its position.
//! The default is PyTorch's `nn.Linear` initialisation: weights and biases uniform in
//! `±1/√fan_in`.

use crate::rng::Rng;
use tch::{Device, Kind, Tensor};

/// One parameter's place in the flat buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSpec {
    /// Parameter name (`agent.0.weight`, …).
    pub name: String,
    /// Offset (in elements) of this parameter inside one seed's parameter vector (the sum of
    /// the sizes of the parameters created before it). In the flat buffer, the parameter's
    /// block `[K, shape…]` starts at element `K · offset` (see [`ParamStore`]).
    pub offset: i64,
    /// Per-seed shape.
    pub shape: Vec<i64>,
}

impl ParamSpec {
    /// Number of elements per seed.
    pub fn numel(&self) -> i64 {
        self.shape.iter().product()
    }
}

/// Sets the calling thread's x86 MXCSR flags FTZ and DAZ, so denormal floats are flushed to
/// zero (PyTorch's `torch.set_flush_denormal(True)`). Denormals arise in Adam's second moments
/// of near-zero gradients and make CPU arithmetic up to 40× slower; flushing changes only
/// values below 1.2e-38 (f32). Threads created afterwards inherit the flags (POSIX threads
/// inherit the floating-point environment); the learner's worker threads also set them. A
/// no-op on other architectures.
pub fn flush_denormals() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `stmxcsr`/`ldmxcsr` read and write the current thread's SSE control register
    // through a valid pointer to a local; setting FTZ (bit 15) and DAZ (bit 6) only changes
    // how denormal results and inputs are rounded.
    unsafe {
        let mut csr: u32 = 0;
        std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr as *mut u32, options(nostack));
        csr |= 0x8040;
        std::arch::asm!("ldmxcsr [{}]", in(reg) &csr as *const u32, options(nostack));
    }
}

/// Named, seed-batched parameters stored in one flat buffer of `K · P` elements,
/// *parameter-major*: parameter `i` occupies the contiguous block `[K, shape_i…]` starting at
/// element `K · offset_i`. Every per-parameter view, and every view of a range of seeds of a
/// parameter (a chunk, see [`ParamStore::rows`]), is therefore contiguous: layers reshape
/// their weights `[K, G, in, out]` to `[K·G, in, out]` without copying, and the optimiser
/// state (`m`, `v`, same layout) is updated in place row by row.
///
/// The buffer itself never records gradients. Training uses *leaves*
/// ([`ParamStore::leaves`]): detached views of a range of seeds, created once, that require
/// gradients; autograd returns one gradient per leaf and the optimiser writes the new values
/// through the shared storage.
pub struct ParamStore {
    specs: Vec<ParamSpec>,
    pending: Vec<Vec<f64>>,
    flat: Option<Tensor>,
    seeds: usize,
    base_seed: u64,
    seed_indices: Vec<usize>,
    kind: Kind,
    device: Device,
    width: i64,
}

impl ParamStore {
    /// An empty store for the seeds with indices `seed_indices` (K = their number).
    pub fn new(seed_indices: Vec<usize>, base_seed: u64, kind: Kind, device: Device) -> Self {
        ParamStore {
            specs: Vec::new(),
            pending: Vec::new(),
            flat: None,
            seeds: seed_indices.len(),
            base_seed,
            seed_indices,
            kind,
            device,
            width: 0,
        }
    }

    /// Number of seeds K.
    pub fn seeds(&self) -> usize {
        self.seeds
    }

    /// Floating-point kind of the parameters.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Device of the parameters.
    pub fn device(&self) -> Device {
        self.device
    }

    /// The parameters' places, in creation order.
    pub fn specs(&self) -> &[ParamSpec] {
        &self.specs
    }

    /// Parameters per seed P.
    pub fn width(&self) -> i64 {
        self.width
    }

    /// Registers a parameter of per-seed shape `shape`, uniform in `±bound`, and returns its
    /// index (for [`ParamStore::views`]).
    pub fn uniform(&mut self, name: &str, shape: &[i64], bound: f64) -> usize {
        debug_assert!(self.flat.is_none(), "parameters are added before finish()");
        let spec = ParamSpec {
            name: name.to_string(),
            offset: self.width,
            shape: shape.to_vec(),
        };
        let per_seed = spec.numel();
        let mut values = Vec::with_capacity(self.seeds * per_seed as usize);
        for &index in &self.seed_indices {
            let mut rng = Rng::keyed(self.base_seed, index as u64, &format!("init/{name}"));
            values.extend((0..per_seed).map(|_| (2.0 * rng.uniform() - 1.0) * bound));
        }
        self.width += per_seed;
        self.specs.push(spec);
        self.pending.push(values);
        self.specs.len() - 1
    }

    /// Creates the flat buffer from the registered parameters. Idempotent.
    pub fn finish(&mut self) {
        if self.flat.is_some() {
            return;
        }
        // `pending[i]` is already parameter i's block `[K, numel_i]`, seed-major.
        let all: Vec<f64> = self.pending.drain(..).flatten().collect();
        let t = Tensor::from_slice(&all)
            .to_kind(self.kind)
            .to_device(self.device);
        self.flat = Some(t);
    }

    /// The flat buffer `[K · P]`.
    pub fn flat(&self) -> &Tensor {
        self.flat
            .as_ref()
            .expect("invariant: ParamStore::finish was called")
    }

    /// The flat buffer, mutable (in-place updates under `no_grad`).
    pub fn flat_mut(&mut self) -> &mut Tensor {
        self.flat
            .as_mut()
            .expect("invariant: ParamStore::finish was called")
    }

    /// Views `[K, shape…]` of every parameter of a `[K · P]` tensor laid out like this store
    /// (the parameters themselves, their gradients or optimiser moments).
    pub fn split(&self, t: &Tensor) -> Vec<Tensor> {
        self.rows(t, 0, self.seeds)
    }

    /// Views `[len, shape…]` of seeds `start .. start + len` of every parameter of a
    /// `[K · P]` tensor laid out like this store. Each view is contiguous.
    pub fn rows(&self, t: &Tensor, start: usize, len: usize) -> Vec<Tensor> {
        let k = self.seeds as i64;
        let (start, len) = (start as i64, len as i64);
        self.specs
            .iter()
            .map(|s| {
                let n = s.numel();
                let mut shape = vec![len];
                shape.extend_from_slice(&s.shape);
                t.narrow(0, k * s.offset + start * n, len * n)
                    .view(shape.as_slice())
            })
            .collect()
    }

    /// Views of the parameters `[K, shape…]` (no gradients; for evaluation).
    pub fn views(&self) -> Vec<Tensor> {
        self.split(self.flat())
    }

    /// Leaves for training seeds `start .. start + len`: detached views `[len, shape…]` of the
    /// flat buffer that require gradients. Updating the buffer in place (the optimiser,
    /// [`ParamStore::copy_from`], checkpoint loading) updates them.
    pub fn leaves(&self, start: usize, len: usize) -> Vec<Tensor> {
        tch::no_grad(|| {
            self.rows(self.flat(), start, len)
                .into_iter()
                .map(|t| t.detach().set_requires_grad(true))
                .collect()
        })
    }

    /// Copies the values of `src` (same layout) into this store, without recording gradients.
    pub fn copy_from(&mut self, src: &ParamStore) {
        debug_assert_eq!(self.specs, src.specs);
        let s = src.flat().shallow_clone();
        tch::no_grad(|| {
            self.flat_mut().copy_(&s);
        });
    }
}

/// A seed-batched linear layer over G groups: `w: [K, G, in, out]`, `b: [K, G, 1, out]`.
#[derive(Debug, Clone)]
pub struct BLinear {
    w: usize,
    b: usize,
    groups: i64,
    d_in: i64,
    d_out: i64,
}

impl BLinear {
    /// A layer named `name` with PyTorch's default initialisation.
    pub fn new(store: &mut ParamStore, name: &str, groups: i64, d_in: i64, d_out: i64) -> Self {
        let bound = 1.0 / (d_in as f64).sqrt();
        let w = store.uniform(&format!("{name}.weight"), &[groups, d_in, d_out], bound);
        let b = store.uniform(&format!("{name}.bias"), &[groups, 1, d_out], bound);
        BLinear {
            w,
            b,
            groups,
            d_in,
            d_out,
        }
    }

    /// Indices of the weight and the bias in the parameter list.
    pub fn param_indices(&self) -> (usize, usize) {
        (self.w, self.b)
    }

    /// `(groups, in, out)`.
    pub fn dims(&self) -> (i64, i64, i64) {
        (self.groups, self.d_in, self.d_out)
    }

    /// `x: [K, G, B, in]` → `[K, G, B, out]`, with parameters `p` ([`ParamStore::views`]).
    pub fn forward(&self, p: &[Tensor], x: &Tensor) -> Tensor {
        let size = x.size();
        let (k, batch) = (size[0], size[2]);
        let kg = k * self.groups;
        let x = x.reshape([kg, batch, self.d_in]);
        let w = p[self.w].reshape([kg, self.d_in, self.d_out]);
        let b = p[self.b].reshape([kg, 1, self.d_out]);
        b.baddbmm(&x, &w, 1.0, 1.0)
            .view([k, self.groups, batch, self.d_out])
    }
}

/// A seed-batched multi-layer perceptron: ReLU after every layer but the last.
pub struct Mlp {
    layers: Vec<BLinear>,
}

impl Mlp {
    /// Layers `d_in → hidden[0] → … → d_out`, named `name.0`, `name.1`, ….
    pub fn new(
        store: &mut ParamStore,
        name: &str,
        groups: i64,
        d_in: i64,
        hidden: &[usize],
        d_out: i64,
    ) -> Self {
        let mut dims = vec![d_in];
        dims.extend(hidden.iter().map(|&h| h as i64));
        dims.push(d_out);
        let layers = dims
            .windows(2)
            .enumerate()
            .map(|(i, w)| BLinear::new(store, &format!("{name}.{i}"), groups, w[0], w[1]))
            .collect();
        Mlp { layers }
    }

    /// The layers, input first.
    pub fn layers(&self) -> &[BLinear] {
        &self.layers
    }

    /// Output of the network.
    pub fn forward(&self, p: &[Tensor], x: &Tensor) -> Tensor {
        self.forward_with_hidden(p, x).0
    }

    /// Output and the last hidden activation (the input of the last layer).
    pub fn forward_with_hidden(&self, p: &[Tensor], x: &Tensor) -> (Tensor, Tensor) {
        let mut h = x.shallow_clone();
        let last = self.layers.len() - 1;
        for layer in &self.layers[..last] {
            h = layer.forward(p, &h).relu();
        }
        (self.layers[last].forward(p, &h), h)
    }
}

/// The agents' utility networks: `Q_i(s, ·)` for every agent, and their last hidden features
/// `h_i(s)` (used by QTRAN as `h_{V,i}` and to encode `h_{Q,i}`).
pub struct AgentNets {
    mlp: Mlp,
    shared: bool,
    n_agents: i64,
}

impl AgentNets {
    /// Separate networks per agent (`shared = false`, G = N) or one shared network with a
    /// one-hot agent id appended to the input (G = 1).
    pub fn new(
        store: &mut ParamStore,
        shared: bool,
        n_agents: i64,
        n_inputs: i64,
        hidden: &[usize],
        n_actions: i64,
    ) -> Self {
        let mlp = if shared {
            Mlp::new(store, "agent", 1, n_inputs + n_agents, hidden, n_actions)
        } else {
            Mlp::new(store, "agent", n_agents, n_inputs, hidden, n_actions)
        };
        AgentNets {
            mlp,
            shared,
            n_agents,
        }
    }

    /// The underlying (seed-batched, agent-grouped) network.
    pub fn mlp(&self) -> &Mlp {
        &self.mlp
    }

    /// True for one network shared by the agents (with a one-hot agent id input).
    pub fn is_shared(&self) -> bool {
        self.shared
    }

    /// Number of agents N.
    pub fn n_agents(&self) -> i64 {
        self.n_agents
    }

    /// `obs: [K, B, S]` → (`q: [K, N, B, A]`, `h: [K, N, B, H]`).
    pub fn forward(&self, p: &[Tensor], obs: &Tensor) -> (Tensor, Tensor) {
        let size = obs.size();
        let (k, b, s) = (size[0], size[1], size[2]);
        let n = self.n_agents;
        let x = obs.unsqueeze(1).expand([k, n, b, s], false);
        if self.shared {
            let ids = Tensor::eye(n, (obs.kind(), obs.device()))
                .view([1, n, 1, n])
                .expand([k, n, b, n], false);
            let x = Tensor::cat(&[x, ids], 3).reshape([k, 1, n * b, s + n]);
            let (q, h) = self.mlp.forward_with_hidden(p, &x);
            let a = q.size()[3];
            let hd = h.size()[3];
            (q.view([k, n, b, a]), h.view([k, n, b, hd]))
        } else {
            self.mlp.forward_with_hidden(p, &x)
        }
    }
}
