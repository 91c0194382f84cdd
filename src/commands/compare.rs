//! `qfactor compare GAME`: trains every method (many seeds at once) and shows, per method and
//! state, the learned tables of a representative seed next to the exact ideal of the same
//! method, in the QTRAN paper's Table 1 layout, with the share of seeds that found the optimum.
//! With `--out DIR` it writes what `train` writes plus pictures and `report.html`.
//!
//! The representative seed is the lower median by MSE of the learned joint table to `Q*`
//! (averaged over states): a typical seed, neither the best nor the worst.

use crate::figures;
use crate::learn::{configs, jobs_for, LearnArgs};
use crate::output::OutputDir;
use crate::present::render::{joint_list, render, TableView};
use crate::present::style::Style;
use crate::study::{Shown, Study};
use anyhow::{Context, Result};
use neural::config::Method;
use neural::report::{curves_csv, curves_seeds_csv, summary_csv, tables_csv};
use neural::run::device;
use reference::ideal::qmix::{QmixBudget, QmixOptions};
use std::path::PathBuf;

/// Arguments of `qfactor compare`.
#[derive(clap::Args, Debug, Clone)]
#[command(
    after_help = "The learned tables shown are one representative seed's: the lower median \
                        by MSE to the true table Q* among the K seeds.\n\nWith --out DIR: \
                        config.json, tables.csv, summary.csv, curves.csv (as `train`), \
                        pictures/*.png (heatmaps and learning curves) and report.html (one \
                        self-contained page).\n\nExamples:\n  qfactor compare paper-table1\n  \
                        qfactor compare paper-table1 --seeds 32 --steps 10000 --out run\n  \
                        qfactor compare twentyone --method vdn,qmix,qtran-base --out fig2\n  \
                        qfactor compare two-step --device cuda --out run --force"
)]
pub struct CompareArgs {
    /// The game: a built-in name (`paper-table1`, `two-step`, …) or a game file.
    pub game: String,
    /// Independent seeds K per method, trained together.
    #[arg(long, default_value_t = 16)]
    pub seeds: usize,
    /// Environment steps per seed.
    #[arg(long, default_value_t = 5_000)]
    pub steps: usize,
    #[command(flatten)]
    pub learn: LearnArgs,
    /// Write tables, pictures and report.html into this directory (atomically; never
    /// replaced without --force).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace an existing output directory.
    #[arg(long)]
    pub force: bool,
    /// Print the per-method summary as JSON on stdout instead of the tables.
    #[arg(long)]
    pub json: bool,
    /// Work budget of the exact QMIX search per state, for the ideal shown and measured
    /// against: `full` (the default: seconds per state at most), `interactive`
    /// (milliseconds), or a number of work units. A search cut short is labelled heuristic.
    #[arg(long, value_name = "BUDGET", default_value = "full", value_parser = crate::commands::analyze::parse_budget)]
    pub qmix_budget: QmixBudget,
}

/// Width available for side-by-side tables: `COLUMNS`, else the terminal's width, else 120
/// columns (output to a file or pipe).
pub fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .or_else(|| terminal_size::terminal_size().map(|(w, _)| w.0 as usize))
        .filter(|&w| w >= 40)
        .unwrap_or(120)
}

/// Text lines of one shown table.
fn table_lines(study: &Study, s: usize, shown: &Shown) -> Vec<String> {
    let optimal = study.optimal(s);
    let text = render(&TableView {
        title: format!("{} — {}", shown.title, shown.note),
        actions: study.actions(),
        values: &shown.values,
        utilities: shown.utilities.as_deref(),
        optimal: &optimal,
        greedy: &shown.greedy,
    });
    text.lines().map(str::to_string).collect()
}

/// Lays blocks of lines side by side (separated by `gap` spaces) when they fit in `width`,
/// else one below the other. Titles wider than their table are cut to the table's width when
/// side by side.
pub fn side_by_side(blocks: &[Vec<String>], gap: usize, width: usize) -> Vec<String> {
    let w = |l: &String| l.chars().count();
    let body_w: Vec<usize> = blocks
        .iter()
        .map(|b| b.iter().skip(1).map(w).max().unwrap_or(0).max(24))
        .collect();
    let total: usize = body_w.iter().sum::<usize>() + gap * blocks.len().saturating_sub(1);
    if blocks.len() <= 1 || total > width {
        return blocks
            .iter()
            .flat_map(|b| b.iter().cloned().chain([String::new()]))
            .collect();
    }
    let height = blocks.iter().map(Vec::len).max().unwrap_or(0);
    let mut out = Vec::with_capacity(height + 1);
    for row in 0..height {
        let mut line = String::new();
        for (b, block) in blocks.iter().enumerate() {
            let cell = block.get(row).cloned().unwrap_or_default();
            let cell: String = if w(&cell) > body_w[b] {
                let mut c: String = cell.chars().take(body_w[b].saturating_sub(1)).collect();
                c.push('…');
                c
            } else {
                cell
            };
            if b + 1 < blocks.len() {
                line.push_str(&format!(
                    "{cell:<width$}{}",
                    " ".repeat(gap),
                    width = body_w[b]
                ));
            } else {
                line.push_str(&cell);
            }
        }
        out.push(line.trim_end().to_string());
    }
    out.push(String::new());
    out
}

/// Prints blocks (a title line, then a table) in groups that fit `width` side by side: each
/// group of several tables lists its titles first, lettered, so that no title is ever cut.
fn titled_blocks(blocks: Vec<Vec<String>>, width: usize) -> Vec<String> {
    let gap = 3;
    let body_w = |b: &Vec<String>| {
        b.iter()
            .skip(1)
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(0)
            .max(24)
    };
    // Greedy packing of consecutive blocks into groups that fit.
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut used = 0;
    for (i, b) in blocks.iter().enumerate() {
        let w = body_w(b);
        match groups.last_mut() {
            Some(g) if used + gap + w <= width => {
                g.push(i);
                used += gap + w;
            }
            _ => {
                groups.push(vec![i]);
                used = w;
            }
        }
    }
    let letter = |i: usize| format!("({})", (b'a' + (i % 26) as u8) as char);
    let mut out = Vec::new();
    for g in groups {
        if g.len() == 1 {
            out.extend(blocks[g[0]].iter().cloned());
            out.push(String::new());
            continue;
        }
        for &i in &g {
            out.push(format!(
                "{} {}",
                letter(i),
                blocks[i].first().cloned().unwrap_or_default()
            ));
        }
        let bodies: Vec<Vec<String>> = g
            .iter()
            .map(|&i| {
                let mut v = vec![letter(i)];
                v.extend(blocks[i].iter().skip(1).cloned());
                v
            })
            .collect();
        out.extend(side_by_side(&bodies, gap, usize::MAX));
    }
    out
}

/// One method's heading in state `s`: its share of optimal seeds and the greedy joint
/// actions its seeds chose.
fn method_header(
    out: &mut String,
    study: &Study,
    style: Style,
    k: usize,
    method: Method,
    s: usize,
) {
    out.push_str(&format!(
        "\n{} optimal in {}\n",
        style.bold(&format!("-- {}:", Study::display(method))),
        study.optimal_share(k)
    ));
    let counts = study.greedy_counts(k, s);
    let list: Vec<String> = counts.iter().map(|(a, n)| format!("{a} ×{n}")).collect();
    out.push_str(&format!(
        "   greedy joint actions over seeds: {}\n",
        list.join(", ")
    ));
}

/// The terminal comparison of every method.
pub fn comparison_text(study: &Study, style: Style) -> String {
    let width = terminal_width();
    let mut out = String::new();
    let g = &study.analysis.game;
    let cfg = &study.runs[0].config;
    out.push_str(&style.bold(&format!("Compare on {}", g.name)));
    out.push_str(&format!(
        "\n{} seeds × {} steps per method on {} ({} at a time), trained in {:.1} s.\n",
        cfg.seeds,
        cfg.steps,
        study.device,
        if study.jobs == 1 {
            "one method".to_string()
        } else {
            format!("{} methods", study.jobs)
        },
        study.train_seconds
    ));
    out.push_str(
        "Learned tables are one representative seed: the lower median by MSE to the true table \
         Q*.\n`*` = optimal for the true table; [x] = greedy joint action of the shown \
         utilities (or table); numbers in brackets on the margins are the utilities Q_i.\n",
    );
    let multi = study.data.n_states() > 1;
    let large = study.large();
    if large {
        out.push_str(
            "The tables are too wide for a terminal (more than 8 actions per agent): below are \
             their summaries; --out DIR writes them (tables.csv), as heatmaps and in report.html.\n",
        );
    }
    for (s, st) in study.analysis.states.iter().enumerate() {
        if multi {
            out.push_str(&format!(
                "\n{}\n",
                style.bold(&format!("== state {}", st.state))
            ));
        }
        if large {
            out.push_str(&format!(
                "\noptimal joint action(s): {} = {:.4}\n",
                joint_list(&st.optimal),
                study.exact().truth.q_star[s].max()
            ));
            for (k, run) in study.runs.iter().enumerate() {
                method_header(&mut out, study, style, k, run.config.method, s);
                for t in study.learned(k, s).iter().chain(&study.ideal(k, s)) {
                    let greedy: Vec<Vec<String>> = t
                        .greedy
                        .iter()
                        .map(|&j| study.data.game.joint_labels(&study.data.joint_actions[j]))
                        .collect();
                    let g = if greedy.is_empty() {
                        String::new()
                    } else {
                        format!("; greedy {}", joint_list(&greedy))
                    };
                    out.push_str(&format!("   {} — {}{g}\n", t.title, t.note));
                }
            }
            continue;
        }
        let q_view = Shown {
            title: if multi {
                "Q*(s, u)".into()
            } else {
                "payoff Q".into()
            },
            note: format!("optimal {}", joint_list(&st.optimal)),
            values: st.q.clone(),
            utilities: None,
            greedy: Vec::new(),
        };
        out.push('\n');
        for l in table_lines(study, s, &q_view) {
            out.push_str(&style.table_line(&l));
            out.push('\n');
        }
        for (k, run) in study.runs.iter().enumerate() {
            let m = run.config.method;
            method_header(&mut out, study, style, k, m, s);
            let learned: Vec<Vec<String>> = study
                .learned(k, s)
                .iter()
                .map(|t| table_lines(study, s, t))
                .collect();
            let ideal: Vec<Vec<String>> = study
                .ideal(k, s)
                .iter()
                .map(|t| table_lines(study, s, t))
                .collect();
            if ideal.is_empty() {
                out.push_str(
                    "   (no exact ideal: independent learners are not a factorization class)\n",
                );
            }
            // Learned beside exact when three tables fit a row; else learned, then exact.
            let rows: Vec<Vec<Vec<String>>> = if learned.len() + ideal.len() <= 3 {
                vec![learned.into_iter().chain(ideal).collect()]
            } else {
                vec![learned, ideal]
            };
            for row in rows.into_iter().filter(|r| !r.is_empty()) {
                for l in titled_blocks(row, width) {
                    out.push_str(&style.table_line(&l));
                    out.push('\n');
                }
            }
        }
    }
    out.push('\n');
    out.push_str(&crate::commands::train::summary_table(&study.rows));
    out
}

/// Writes what `train` writes plus the pictures (`extra` ones first) and `report.html` into
/// `out` under `prefix` (`""` or `"name/"`). Returns the pictures' names.
pub fn write_outputs(
    study: &Study,
    out: &OutputDir,
    prefix: &str,
    command: &str,
    extra: Vec<figures::Picture>,
) -> Result<Vec<String>> {
    let name = |f: &str| format!("{prefix}{f}");
    out.write(
        &name("config.json"),
        serde_json::to_string_pretty(&study.config_json())?.as_bytes(),
    )?;
    out.write(
        &name("tables.csv"),
        tables_csv(&study.data, &study.runs, study.exact())?.as_bytes(),
    )?;
    out.write(&name("summary.csv"), summary_csv(&study.rows).as_bytes())?;
    out.write(&name("curves.csv"), curves_csv(&study.runs).as_bytes())?;
    out.write(
        &name("curves_seeds.csv"),
        curves_seeds_csv(&study.runs).as_bytes(),
    )?;
    let mut pictures = extra;
    pictures.extend(figures::all(study)?);
    let mut names = Vec::new();
    for p in &pictures {
        out.write(&name(&format!("pictures/{}", p.file)), &p.png)?;
        names.push(format!("pictures/{}", p.file));
    }
    let html = figures::report_html(study, &pictures, command)?;
    out.write(&name("report.html"), html.as_bytes())?;
    Ok(names)
}

/// Runs `qfactor compare`.
pub fn run(args: &CompareArgs) -> Result<()> {
    let configs = configs(&args.game, args.seeds, args.steps, &args.learn)?;
    // Check the game and the output directory before training.
    reference::io::load_game(&args.game)
        .with_context(|| format!("loading game {:?}", args.game))?;
    let out = match &args.out {
        Some(dir) => Some(OutputDir::create(dir, args.force)?),
        None => None,
    };
    let (dev, note) = device(&args.learn.device)?;
    if let Some(note) = note {
        tracing::info!("{note}");
    }
    let jobs = jobs_for(args.learn.jobs, &configs, dev);
    tracing::debug!("{} methods, {jobs} at a time", configs.len());
    let study = Study::run(
        &args.game,
        &configs,
        dev,
        jobs,
        &QmixOptions::with_budget(args.qmix_budget),
    )?;
    if let Some(out) = out {
        let command: Vec<String> = std::env::args().collect();
        let names = write_outputs(&study, &out, "", &command.join(" "), Vec::new())?;
        let dest = out.commit()?;
        tracing::info!(
            "wrote {} (tables, summary, curves, {} pictures, report.html)",
            dest.display(),
            names.len()
        );
    } else {
        tracing::info!("add --out DIR to write the tables, pictures and report.html");
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&study.rows)?);
    } else {
        print!("{}", comparison_text(&study, Style::stdout()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_by_side_fits_or_stacks() {
        let a = vec!["title a".to_string(), "  1  2".into(), "  3  4".into()];
        let b = vec!["title b".to_string(), "  5".into()];
        let wide = side_by_side(&[a.clone(), b.clone()], 2, 200);
        assert_eq!(wide.len(), 4);
        assert!(
            wide[1].starts_with("  1  2") && wide[1].ends_with("  5"),
            "{wide:?}"
        );
        let narrow = side_by_side(&[a, b], 2, 30);
        assert_eq!(narrow.len(), 3 + 1 + 2 + 1);
    }
}
