//! `qfactor games`: the built-in game library.

use clap::Args;

/// Arguments of `qfactor games`.
#[derive(Args)]
pub struct GamesArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Lists the built-in games.
pub fn run(args: &GamesArgs) -> anyhow::Result<()> {
    let list = reference::io::builtins();
    if args.json {
        let v: Vec<_> = list
            .iter()
            .map(|b| {
                serde_json::json!({
                    "name": b.name, "title": b.title, "source": b.source,
                    "note": b.note, "parameters": b.parameters,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let w = list.iter().map(|b| b.name.len()).max().unwrap_or(4).max(4);
    for b in &list {
        println!("{:w$}  {}", b.name, b.title);
        println!("{:w$}  source: {}", "", b.source);
        if let Some(p) = b.parameters {
            println!("{:w$}  parameters: {p}", "");
        }
        if let Some(n) = &b.note {
            if !n.is_empty() {
                println!("{:w$}  note: {n}", "");
            }
        }
    }
    Ok(())
}
