//! The game in the learners' form: action counts, joint actions in storage order, the
//! discount and the exact solution ([`GameData`]).

use crate::Result;
use reference::{Game, Truth};

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
    /// The game solved exactly (`Q*`, optimal joint actions, optimal return), under `gamma`.
    pub truth: Truth,
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
        let truth = Truth::new(&game)?;
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
            truth,
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
}

#[cfg(test)]
mod tests {
    use super::GameData;
    use reference::io::load_builtin;

    #[test]
    fn matrix_game_shape_and_never_bootstraps() {
        let game = load_builtin("paper-table1").unwrap();
        let d = GameData::new(&game, None).unwrap();
        assert_eq!(d.actions, vec![3, 3]);
        assert_eq!((d.n_agents(), d.n_states()), (2, 1));
        assert_eq!((d.a_max, d.joint), (3, 9));
        assert!(d.never_bootstraps);
        assert_eq!(d.gamma.to_bits(), game.gamma.to_bits());
    }

    #[test]
    fn joint_actions_are_row_major_agent_one_slowest() {
        let game = load_builtin("paper-table1").unwrap();
        let d = GameData::new(&game, None).unwrap();
        let expected: Vec<Vec<usize>> = (0..3)
            .flat_map(|a| (0..3).map(move |b| vec![a, b]))
            .collect();
        assert_eq!(d.joint_actions, expected);
        // The order is the payoff table's storage order.
        let payoff = &d.game.states[0].payoff;
        for (k, u) in d.joint_actions.iter().enumerate() {
            assert_eq!(payoff.index_of(u), k);
        }
    }

    #[test]
    fn two_step_bootstraps() {
        let game = load_builtin("two-step").unwrap();
        let d = GameData::new(&game, None).unwrap();
        assert!(!d.never_bootstraps);
        assert_eq!(d.n_states(), 3);
        assert_eq!((d.actions.clone(), d.joint), (vec![2, 2], 4));
        assert_eq!(
            d.joint_actions,
            vec![vec![0, 0], vec![0, 1], vec![1, 0], vec![1, 1]]
        );
    }

    #[test]
    fn gamma_override_reaches_the_game_and_the_truth() {
        let game = load_builtin("two-step").unwrap();
        let own = GameData::new(&game, None).unwrap();
        let d = GameData::new(&game, Some(0.5)).unwrap();
        assert_eq!(d.gamma.to_bits(), 0.5f64.to_bits());
        assert_eq!(d.game.gamma.to_bits(), 0.5f64.to_bits());
        assert_ne!(own.gamma.to_bits(), d.gamma.to_bits());
        // The caller's game is not changed.
        assert_eq!(game.gamma.to_bits(), own.gamma.to_bits());
        // The exact solution is under the override: the two-step game pays only at its
        // second step, so halving γ halves the optimal return.
        assert_eq!(d.truth.game.gamma.to_bits(), 0.5f64.to_bits());
        assert!((own.truth.optimal_return - 2.0 * d.truth.optimal_return).abs() < 1e-12);
        assert!(d.truth.optimal_return > 0.0);
    }
}
