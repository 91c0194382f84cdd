//! The per-seed replay buffer: a ring of transitions ([`Replay`]).

/// Per-seed replay buffer (a ring of transitions), 24 bytes per transition of two agents:
/// state, actions and next state as `u32`, the reward as `f64` (exact in either precision).
#[derive(Debug, Clone)]
pub(crate) struct Replay {
    pub(crate) cap: usize,
    pub(crate) n: usize,
    pub(crate) len: usize,
    pub(crate) pos: usize,
    pub(crate) state: Vec<u32>,
    pub(crate) actions: Vec<u32>,
    pub(crate) reward: Vec<f64>,
    /// Next state, or [`Replay::TERMINAL`].
    pub(crate) next: Vec<u32>,
}

impl Replay {
    /// `next` of a transition that ends the episode.
    pub(crate) const TERMINAL: u32 = u32::MAX;

    pub(super) fn new(cap: usize, n: usize) -> Self {
        Replay {
            cap,
            n,
            len: 0,
            pos: 0,
            state: vec![0; cap],
            actions: vec![0; cap * n],
            reward: vec![0.0; cap],
            next: vec![Self::TERMINAL; cap],
        }
    }

    pub(super) fn push(&mut self, s: usize, u: &[usize], r: f64, next: Option<usize>) {
        let p = self.pos;
        // States and actions fit in u32: games have at most MAX_JOINT_ACTIONS joint actions.
        self.state[p] = s as u32;
        for (i, &a) in u.iter().enumerate() {
            self.actions[p * self.n + i] = a as u32;
        }
        self.reward[p] = r;
        self.next[p] = next.map_or(Self::TERMINAL, |x| x as u32);
        self.pos = (p + 1) % self.cap;
        self.len = (self.len + 1).min(self.cap);
    }
}

#[cfg(test)]
mod tests {
    use super::Replay;

    /// Transition `t` of a two-agent test stream: state `t`, actions `(t, t + 1)`, reward
    /// `t + 0.5`, next state `t + 1` (terminal every third).
    fn push_nth(r: &mut Replay, t: usize) {
        let next = (t % 3 != 2).then_some(t + 1);
        r.push(t, &[t, t + 1], t as f64 + 0.5, next);
    }

    #[test]
    fn stored_fields_read_back() {
        let mut r = Replay::new(4, 2);
        r.push(3, &[1, 2], -7.25, Some(5));
        assert_eq!((r.len, r.pos), (1, 1));
        assert_eq!(r.state[0], 3);
        assert_eq!(&r.actions[0..2], &[1, 2]);
        assert_eq!(r.reward[0].to_bits(), (-7.25f64).to_bits());
        assert_eq!(r.next[0], 5);
    }

    #[test]
    fn terminal_marks_episode_ends() {
        let mut r = Replay::new(4, 1);
        assert!(r.next.iter().all(|&x| x == Replay::TERMINAL));
        r.push(0, &[0], 1.0, None);
        r.push(1, &[0], 1.0, Some(0));
        assert_eq!(r.next[0], Replay::TERMINAL);
        assert_eq!(r.next[1], 0);
        // A slot reused by a non-terminal transition no longer reads as terminal, and back.
        let mut r = Replay::new(1, 1);
        r.push(0, &[0], 0.0, None);
        r.push(0, &[0], 0.0, Some(2));
        assert_eq!(r.next[0], 2);
        r.push(0, &[0], 0.0, None);
        assert_eq!(r.next[0], Replay::TERMINAL);
    }

    #[test]
    fn len_saturates_at_cap() {
        let mut r = Replay::new(3, 2);
        for t in 0..10 {
            push_nth(&mut r, t);
            assert_eq!(r.len, (t + 1).min(3));
            assert_eq!(r.pos, (t + 1) % 3);
        }
        assert_eq!(r.len, r.cap);
    }

    #[test]
    fn push_past_capacity_wraps_over_the_oldest() {
        let mut r = Replay::new(3, 2);
        for t in 0..5 {
            push_nth(&mut r, t);
        }
        // Slots 0 and 1 hold transitions 3 and 4 (overwritten), slot 2 still transition 2.
        for (slot, t) in [(0, 3usize), (1, 4), (2, 2)] {
            assert_eq!(r.state[slot] as usize, t, "slot {slot}");
            assert_eq!(
                &r.actions[slot * 2..slot * 2 + 2],
                &[t as u32, t as u32 + 1]
            );
            assert_eq!(r.reward[slot].to_bits(), (t as f64 + 0.5).to_bits());
            let next = if t % 3 == 2 {
                Replay::TERMINAL
            } else {
                t as u32 + 1
            };
            assert_eq!(r.next[slot], next, "slot {slot}");
        }
        assert_eq!((r.len, r.pos), (3, 2));
    }
}
