//! The heatmap of an exact analysis (no learners needed): per state the payoff, the exact VDN
//! and QMIX projections and an exact QTRAN factorization (`Q'_jt` and `Q'_jt − Q_jt`), three
//! panels a row. `qfactor analyze --png DIR` writes it, and `compare` puts it in its report.

use crate::present::plot::heatmap::{heatmap_png, Figure, Panel};
use crate::present::render::joint_list;
use anyhow::Result;
use reference::analysis::Analysis;

/// Joint-action labels of agents 2..N (agent 2's labels when there are two agents).
pub fn column_labels(actions: &[Vec<String>]) -> Vec<String> {
    let rest = &actions[1.min(actions.len())..];
    let shape: Vec<usize> = rest.iter().map(Vec::len).collect();
    let n: usize = shape.iter().product();
    let mut u = vec![0usize; shape.len()];
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(
            u.iter()
                .zip(rest)
                .map(|(&a, l)| l[a].as_str())
                .collect::<Vec<_>>()
                .join(" "),
        );
        reference::table::increment(&mut u, &shape);
    }
    out
}

/// What to draw in one panel.
pub struct PanelSpec<'a> {
    /// Title.
    pub title: String,
    /// A line of numbers under the title.
    pub note: String,
    /// Row-major values.
    pub values: &'a [f64],
    /// Utilities on the margins.
    pub utilities: Option<&'a [Vec<f64>]>,
    /// Flat indices of the true optimum.
    pub optimal: &'a [usize],
    /// Flat indices of the greedy joint actions.
    pub greedy: &'a [usize],
}

/// A heatmap panel of a joint table of the game described by `a` (rows: agent 1's actions;
/// columns: agent 2's, or the joint actions of agents 2..N).
pub fn panel(a: &Analysis, state: Option<&str>, spec: PanelSpec<'_>) -> Panel {
    let actions = &a.game.actions;
    let agents = &a.game.agents;
    let two = actions.len() == 2;
    let prefix = state.map(|s| format!("state {s} · ")).unwrap_or_default();
    Panel {
        title: format!("{prefix}{}", spec.title),
        notes: vec![spec.note],
        rows: actions[0].clone(),
        cols: column_labels(actions),
        row_axis: agents.first().cloned().unwrap_or_default(),
        col_axis: if two {
            agents.get(1).cloned().unwrap_or_default()
        } else {
            format!(
                "{} … {}",
                agents.get(1).cloned().unwrap_or_default(),
                agents.last().cloned().unwrap_or_default()
            )
        },
        values: spec.values.to_vec(),
        row_utilities: spec.utilities.and_then(|u| u.first().cloned()),
        col_utilities: if two {
            spec.utilities.and_then(|u| u.get(1).cloned())
        } else {
            None
        },
        optimal: spec.optimal.to_vec(),
        greedy: spec.greedy.to_vec(),
    }
}

/// The markers' legend texts.
pub const OPTIMAL_LABEL: &str =
    "framed: the true optimum (argmax of the payoff Q*; every tie framed)";
/// The dot's legend text.
pub const GREEDY_LABEL: &str = "dot: the greedy joint action of the shown factorization (each \
                                agent's argmax of its Q_i; for projections without utilities, \
                                the table's argmax)";

/// The exact-ideals figure of an analysis, as PNG bytes.
pub fn exact_png(a: &Analysis) -> Result<Vec<u8>> {
    let multi = a.states.len() > 1;
    let mut rows: Vec<Vec<Panel>> = Vec::new();
    for (s, st) in a.states.iter().enumerate() {
        let state = multi.then_some(st.state.as_str());
        let idx = a.indices(s);
        let (optimal, vdn_greedy, qmix_greedy) = (idx.optimal, idx.vdn, idx.qmix);
        let max = st.q.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut panels = vec![
            panel(
                a,
                state,
                PanelSpec {
                    title: if multi {
                        "Q*(s, u)".into()
                    } else {
                        "payoff Q*".into()
                    },
                    note: format!("optimum {} = {max:.4}", joint_list(&st.optimal)),
                    values: &st.q,
                    utilities: None,
                    optimal: &optimal,
                    greedy: &[],
                },
            ),
            panel(
                a,
                state,
                PanelSpec {
                    title: "VDN projection".into(),
                    note: format!("MSE {:.4}", st.vdn.mse),
                    values: &st.vdn.q_tot,
                    utilities: Some(&st.vdn.utilities),
                    optimal: &optimal,
                    greedy: &vdn_greedy,
                },
            ),
            panel(
                a,
                state,
                PanelSpec {
                    title: "QMIX projection".into(),
                    note: format!(
                        "MSE {:.4}{}",
                        st.qmix.mse,
                        if st.qmix.exact {
                            ""
                        } else {
                            " (not proven global)"
                        }
                    ),
                    values: &st.qmix.q_tot,
                    utilities: None,
                    optimal: &optimal,
                    greedy: &qmix_greedy,
                },
            ),
        ];
        let q = &st.qtran;
        let diff: Vec<f64> = q
            .q_prime
            .as_ref()
            .map(|qp| qp.iter().zip(&st.q).map(|(p, t)| p - t).collect())
            .unwrap_or_default();
        if let (Some(u), Some(qp)) = (&q.utilities, &q.q_prime) {
            let qtran_greedy = reference::Utilities(u.clone()).greedy_joint_set();
            let yn = |b: bool| if b { "holds" } else { "fails" };
            panels.push(panel(
                a,
                state,
                PanelSpec {
                    title: "QTRAN Q'_jt = Σ Q_i".into(),
                    note: format!("V_jt = {:.4}", q.v_jt.unwrap_or(0.0)),
                    values: qp,
                    utilities: Some(u),
                    optimal: &optimal,
                    greedy: &qtran_greedy,
                },
            ));
            panels.push(panel(
                a,
                state,
                PanelSpec {
                    title: "QTRAN Q'_jt − Q_jt".into(),
                    note: format!(
                        "(4a) {}, (4b) {}, (7) {}",
                        yn(q.cond_4a),
                        yn(q.cond_4b),
                        yn(q.cond_7)
                    ),
                    values: &diff,
                    utilities: None,
                    optimal: &optimal,
                    greedy: &qtran_greedy,
                },
            ));
        }
        rows.extend(panels.chunks(3).map(<[Panel]>::to_vec));
    }
    heatmap_png(&Figure {
        title: format!("{}: what each class can reach", a.game.name),
        notes: vec![
            "Exact ideals from qfactor's reference (uniform weights over joint actions; for \
             multi-step games each projection bootstraps from its own greedy value)."
                .into(),
        ],
        rows,
        value_label: "value".into(),
        optimal_label: OPTIMAL_LABEL.into(),
        greedy_label: GREEDY_LABEL.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reference::analysis::{analyze, AnalysisOptions};

    #[test]
    fn exact_figure_of_builtin_games() {
        for name in ["paper-table1", "two-step"] {
            let game = reference::io::load_game(name).unwrap();
            let a = analyze(&game, &AnalysisOptions::default()).unwrap();
            let png = exact_png(&a).unwrap();
            assert!(crate::present::plot::png_size(&png).is_some(), "{name}");
        }
    }

    #[test]
    fn column_labels_of_agents_two_to_n() {
        assert_eq!(
            column_labels(&[
                vec!["a".into()],
                vec!["x".into(), "y".into()],
                vec!["0".into(), "1".into()]
            ]),
            vec!["x 0", "x 1", "y 0", "y 1"]
        );
    }

    /// The analysis's typed indices name the same joint actions as its labels.
    #[test]
    fn typed_indices_match_the_labels() {
        for name in ["paper-table1", "two-step", "climbing"] {
            let game = reference::io::load_game(name).unwrap();
            let a = analyze(&game, &AnalysisOptions::default()).unwrap();
            for (s, st) in a.states.iter().enumerate() {
                let idx = a.indices(s);
                let labels = |set: &[usize]| -> Vec<Vec<String>> {
                    set.iter()
                        .map(|&k| game.joint_labels(&game.states[s].payoff.joint_action(k)))
                        .collect()
                };
                assert_eq!(labels(&idx.optimal), st.optimal, "{name}");
                assert_eq!(labels(&idx.vdn), st.vdn.greedy, "{name}");
                assert_eq!(labels(&idx.qmix), st.qmix.greedy, "{name}");
            }
        }
    }
}
