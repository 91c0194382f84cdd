#!/usr/bin/env python3
"""PyTorch baseline: one seed per process, trained the way the public frameworks do.

The same algorithm, architecture and settings as qfactor's learners (neural/src/learner.rs,
model.rs, config.rs defaults), written the usual way: one `nn.Module` per network, one seed
per Python process, `torch.optim.Adam` with its defaults on the CPU, `clip_grad_norm_`:

* agent networks: one per agent, one-hot state -> 64 -> 64 -> 64 -> |U_i| (ReLU);
* VDN: Q_tot = sum_i Q_i; IQL: each agent regresses its own Q_i on the team reward;
* QMIX: PyMARL's mixer (hypernetworks of embed 64, mixing embed 32, |W|, ELU, V(s));
* QTRAN-base / -alt: action encoder [h_i, onehot u_i] -> (H+A) -> H shared by the agents,
  joint network H -> 64 -> 64 -> 1 (base) or -> |U| counterfactual per agent (alt),
  losses L_td + L_opt + L_nopt (alt: L_nopt-min), lambda_opt = lambda_nopt = 1, V_jt = 0;
* epsilon = 1 (full exploration), replay buffer 10 000, batch 32, Adam lr 5e-4,
  per-seed gradient clipping at norm 10, learning from the 32nd transition (the benchmark's
  steady state), a log point (greedy actions and loss read back) every 100 steps as in a
  default 10 000-step run.

Matrix games only (the benchmark's QTRAN game and 21-action game): the targets are the
rewards, so no target networks run, as in qfactor.

    python bench/pytorch_baseline.py --game paper-table1 --method vdn --steps 2000 \
        [--warmup 40] [--threads 1] [--seed 0] [--device cpu|cuda]

Prints one JSON line with the same fields as `neural/examples/bench.rs`.
"""

import argparse
import csv
import json
import os
import random
import resource
import sys
import time
import tomllib

import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_matrix_game(name):
    """Payoff grid of a built-in matrix game (data/games/NAME.toml + its CSV)."""
    with open(os.path.join(ROOT, "data", "games", name + ".toml"), "rb") as f:
        meta = tomllib.load(f)
    if "file" not in meta:
        raise SystemExit(f"{name}: not a single-file matrix game")
    with open(os.path.join(ROOT, "data", "games", meta["file"])) as f:
        rows = list(csv.reader(f))
    payoff = [[float(x) for x in row[1:]] for row in rows[1:]]
    return torch.tensor(payoff, dtype=torch.float64)


def mlp(d_in, hidden, d_out):
    layers, d = [], d_in
    for h in hidden:
        layers += [nn.Linear(d, h), nn.ReLU()]
        d = h
    layers.append(nn.Linear(d, d_out))
    return nn.Sequential(*layers)


class Agent(nn.Module):
    """3x64 ReLU utility network; also returns the last hidden layer (QTRAN's h_i)."""

    def __init__(self, n_states, n_actions, hidden=(64, 64, 64)):
        super().__init__()
        self.body = mlp(n_states, hidden[:-1], hidden[-1])
        self.head = nn.Linear(hidden[-1], n_actions)

    def forward(self, obs):
        h = F.relu(self.body(obs))
        return self.head(h), h


class QMixer(nn.Module):
    """PyMARL QMixer (hypernet_layers 2, hypernet_embed 64, mixing_embed_dim 32)."""

    def __init__(self, n_agents, state_dim, embed=32, hyper=64):
        super().__init__()
        self.n, self.e = n_agents, embed
        self.hyper_w_1 = nn.Sequential(nn.Linear(state_dim, hyper), nn.ReLU(), nn.Linear(hyper, embed * n_agents))
        self.hyper_w_final = nn.Sequential(nn.Linear(state_dim, hyper), nn.ReLU(), nn.Linear(hyper, embed))
        self.hyper_b_1 = nn.Linear(state_dim, embed)
        self.V = nn.Sequential(nn.Linear(state_dim, embed), nn.ReLU(), nn.Linear(embed, 1))

    def forward(self, qs, states):
        b = qs.size(0)
        qs = qs.view(b, 1, self.n)
        w1 = torch.abs(self.hyper_w_1(states)).view(b, self.n, self.e)
        b1 = self.hyper_b_1(states).view(b, 1, self.e)
        hidden = F.elu(torch.bmm(qs, w1) + b1)
        w_final = torch.abs(self.hyper_w_final(states)).view(b, self.e, 1)
        v = self.V(states).view(b, 1, 1)
        return (torch.bmm(hidden, w_final) + v).view(b)


class Qtran(nn.Module):
    """QTRAN action encoder and joint (base) or counterfactual (alt) network."""

    def __init__(self, h, a, alt):
        super().__init__()
        self.a, self.alt = a, alt
        self.encoder = mlp(h + a, [h + a], h)
        self.joint = mlp(h, [64, 64], a if alt else 1)

    def encode(self, hs, us):
        # hs: [N, B, H], us: [N, B] -> [N, B, H]
        return self.encoder(torch.cat([hs, F.one_hot(us, self.a).to(hs.dtype)], -1))

    def q_jt(self, hq):
        return self.joint(hq.sum(0)).squeeze(-1)

    def counterfactual(self, hs, hq):
        return self.joint(hs + hq.sum(0, keepdim=True) - hq)  # [N, B, A]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--game", default="paper-table1")
    ap.add_argument("--method", default="vdn", choices=["vdn", "qmix", "qtran-base", "qtran-alt", "iql"])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=40)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    dev = torch.device(args.device)

    payoff = load_matrix_game(args.game).to(torch.float32)
    n_agents, n_states = 2, 1
    n_act = list(payoff.shape)
    a_max = max(n_act)
    batch, buffer_size, lr, clip = 32, 10_000, 5e-4, 10.0
    learning_starts = batch
    total = args.warmup + args.steps
    log_every = 100  # as a default 10 000-step run (100 log points)

    agents = nn.ModuleList([Agent(n_states, n_act[i]) for i in range(n_agents)]).to(dev)
    mixer = None
    if args.method == "qmix":
        mixer = QMixer(n_agents, n_states).to(dev)
    elif args.method.startswith("qtran"):
        mixer = Qtran(64, a_max, args.method == "qtran-alt").to(dev)
    params = list(agents.parameters()) + (list(mixer.parameters()) if mixer is not None else [])
    opt = torch.optim.Adam(params, lr=lr)

    # Replay buffer (preallocated, as PyMARL's EpisodeBatch).
    buf_u = torch.zeros(buffer_size, n_agents, dtype=torch.long, device=dev)
    buf_r = torch.zeros(buffer_size, device=dev)
    size = pos = 0
    obs_all = torch.eye(n_states, device=dev)

    def train_step():
        idx = torch.randint(size, (batch,), device=dev)
        u = buf_u[idx]  # [B, N]
        r = buf_r[idx]
        obs = obs_all[torch.zeros(batch, dtype=torch.long, device=dev)]  # every transition is in state 0
        outs = [agents[i](obs) for i in range(n_agents)]
        qs = [q for q, _ in outs]
        q_taken = torch.stack([qs[i].gather(1, u[:, i:i + 1]).squeeze(1) for i in range(n_agents)], 1)
        if args.method == "vdn":
            loss = ((q_taken.sum(1) - r) ** 2).mean()
        elif args.method == "iql":
            loss = sum(((q_taken[:, i] - r) ** 2).mean() for i in range(n_agents))
        elif args.method == "qmix":
            loss = ((mixer(q_taken, obs) - r) ** 2).mean()
        else:
            hs = torch.stack([h for _, h in outs])  # [N, B, H]
            q_pad = torch.stack([F.pad(q, (0, a_max - q.size(1)), value=-1e30) for q in qs])  # [N, B, A]
            ubar = q_pad.argmax(-1)
            q_prime_bar = q_pad.max(-1).values.sum(0)  # [B]
            q_prime = q_taken.sum(1)
            ut = u.t()  # [N, B]
            hq = mixer.encode(hs, ut)
            if args.method == "qtran-base":
                q_jt = mixer.q_jt(hq)
                l_td = ((q_jt - r) ** 2).mean()
                with torch.no_grad():
                    q_hat_bar = mixer.q_jt(mixer.encode(hs, ubar))
                l_opt = ((q_prime_bar - q_hat_bar) ** 2).mean()
                l_nopt = (torch.clamp(q_prime - q_jt.detach(), max=0.0) ** 2).mean()
            else:
                cf = mixer.counterfactual(hs, hq)  # [N, B, A]
                q_jt_i = cf.gather(2, ut.unsqueeze(-1)).squeeze(-1)
                l_td = ((q_jt_i - r.unsqueeze(0)) ** 2).mean()
                with torch.no_grad():
                    cf_bar = mixer.counterfactual(hs, mixer.encode(hs, ubar))
                q_hat_bar = cf_bar.gather(2, ubar.unsqueeze(-1)).squeeze(-1)
                l_opt = ((q_prime_bar.unsqueeze(0) - q_hat_bar) ** 2).mean()
                others = q_prime.unsqueeze(0) - q_taken.t()  # [N, B]
                d = q_pad + others.unsqueeze(-1) - cf.detach()
                d = d.masked_fill(q_pad < -1e29, 1e30)
                l_nopt = (d.min(-1).values ** 2).mean()
            loss = l_td + l_opt + l_nopt
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(params, clip)
        opt.step()
        return loss

    def run(t0, t1):
        nonlocal size, pos
        last = None
        for t in range(t0, t1):
            # epsilon = 1: uniformly random actions.
            u = [rng.randrange(n_act[i]) for i in range(n_agents)]
            buf_u[pos] = torch.tensor(u)
            buf_r[pos] = payoff[u[0], u[1]]
            pos = (pos + 1) % buffer_size
            size = min(size + 1, buffer_size)
            if size >= learning_starts:
                last = train_step()
            if (t + 1) % log_every == 0 or t + 1 == total:
                with torch.no_grad():
                    greedy = [agents[i](obs_all)[0].argmax(-1).tolist() for i in range(n_agents)]
                    _ = (greedy, None if last is None else last.item())
        return last

    run(0, args.warmup)
    cpu0 = time.process_time()
    t = time.perf_counter()
    last = run(args.warmup, total)
    loss = None if last is None else last.item()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - t
    cpu = time.process_time() - cpu0
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({
        "impl": "pytorch",
        "game": args.game,
        "method": args.method,
        "seeds": 1,
        "steps": args.steps,
        "device": args.device,
        "precision": "f32",
        "threads": args.threads,
        "torch": torch.__version__,
        "wall_s": wall,
        "cpu_s": cpu,
        "seed_steps_per_s": args.steps / wall,
        "seed_steps_per_cpu_s": args.steps / max(cpu, 1e-9),
        "params_per_seed": sum(p.numel() for p in params),
        "max_rss_mb": max_rss,
        "final_loss": loss,
    }))


if __name__ == "__main__":
    sys.exit(main())
