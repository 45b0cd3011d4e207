//! How results reach the terminal: tables for people, JSON for scripts.

use comfy_table::{ContentArrangement, Table, presets};
use serde::Serialize;

pub fn json<T: Serialize>(v: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

pub fn table<const N: usize>(header: [&str; N], rows: impl IntoIterator<Item = [String; N]>) {
    let mut t = Table::new();
    t.load_style(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled);
    t.set_header(header.iter().map(|h| h.to_uppercase()));
    let mut n = 0;
    for r in rows {
        t.add_row(r.to_vec());
        n += 1;
    }
    if n == 0 {
        return;
    }
    for line in t.to_string().lines() {
        println!(
            "{}",
            line.trim_end().strip_prefix(' ').unwrap_or(line.trim_end())
        );
    }
}

/// `=== title` as Heroku prints it.
pub fn heading(title: &str) {
    println!("=== {title}");
}

/// `key: value` lines with the values aligned.
pub fn pairs(rows: &[(&str, String)]) {
    let w = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    for (k, v) in rows {
        println!("{:<w$} {v}", format!("{k}:"));
    }
}

pub fn opt(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "-".into())
}

pub fn interactive() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}
