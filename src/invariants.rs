//! The architecture invariants of docs/ARCHITECTURE.md that a source scan
//! can check, one test each. They read `src/` as text: cheap, and they fail
//! the moment a change breaks a boundary.

use std::path::{Path, PathBuf};

const MAX_FILE_LINES: usize = 800;
const MAX_FN_LINES: usize = 120;

/// Every `.rs` file under `src/`, with its path relative to `src/`.
fn sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).expect("read src").flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&root, &mut files);
    files.sort();
    files
        .into_iter()
        .filter(|p| !p.ends_with("invariants.rs"))
        .map(|p| {
            let rel = p
                .strip_prefix(&root)
                .expect("under src")
                .to_string_lossy()
                .replace('\\', "/");
            (rel, std::fs::read_to_string(&p).expect("read file"))
        })
        .collect()
}

/// The file without its test module (by our convention the last item,
/// after `#[cfg(test)]`) and without comment lines.
fn code(text: &str) -> String {
    let body = match text.find("\n#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    };
    body.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Files whose code (not tests, not comments) contains `needle`.
fn files_using(needle: &str) -> Vec<String> {
    sources()
        .into_iter()
        .filter(|(_, text)| code(text).contains(needle))
        .map(|(f, _)| f)
        .collect()
}

#[test]
fn only_docker_talks_to_the_engine() {
    let outside: Vec<String> = files_using("bollard")
        .into_iter()
        .filter(|f| !f.starts_with("docker/"))
        .collect();
    assert!(
        outside.is_empty(),
        "bollard used outside docker/: {outside:?}"
    );
}

#[test]
fn only_store_runs_sql() {
    let outside: Vec<String> = files_using("rusqlite")
        .into_iter()
        .filter(|f| !f.starts_with("store/"))
        .collect();
    assert!(
        outside.is_empty(),
        "rusqlite used outside store/: {outside:?}"
    );
}

#[test]
fn wire_types_live_in_api() {
    // The CLI's saved login is a file of its own, not a wire type.
    let allowed = ["cli/client.rs"];
    let outside: Vec<String> = sources()
        .into_iter()
        .filter(|(f, text)| {
            !f.starts_with("api/")
                && !allowed.contains(&f.as_str())
                && code(text)
                    .lines()
                    .any(|l| l.contains("#[derive(") && l.contains("Serialize"))
        })
        .map(|(f, _)| f)
        .collect();
    assert!(outside.is_empty(), "serde types outside api/: {outside:?}");
}

#[test]
fn json_bodies_are_typed_outside_api_and_cli() {
    // Loki's push format is Loki's, built where it is sent.
    let outside: Vec<String> = files_using("json!(")
        .into_iter()
        .filter(|f| !f.starts_with("api/") && !f.starts_with("cli/") && f != "logs/loki.rs")
        .collect();
    assert!(
        outside.is_empty(),
        "json! bodies outside api/ and cli/: {outside:?}"
    );
}

#[test]
fn routes_are_declared_once() {
    // The API's routes come from the table in daemon/routes.rs; only the
    // git endpoint (a wildcard git serves) is added beside it.
    let outside: Vec<String> = files_using(".route(")
        .into_iter()
        .filter(|f| f != "daemon/routes.rs" && f != "daemon/mod.rs")
        .collect();
    assert!(
        outside.is_empty(),
        "routes declared outside the table: {outside:?}"
    );
    let mod_rs = sources()
        .into_iter()
        .find(|(f, _)| f == "daemon/mod.rs")
        .map(|(_, t)| t)
        .expect("daemon/mod.rs");
    assert_eq!(
        code(&mod_rs).matches(".route(").count(),
        2,
        "only the git endpoint"
    );
}

#[test]
fn no_file_is_over_800_lines() {
    let big: Vec<String> = sources()
        .into_iter()
        .filter(|(_, t)| t.lines().count() > MAX_FILE_LINES)
        .map(|(f, t)| format!("{f} ({} lines)", t.lines().count()))
        .collect();
    assert!(big.is_empty(), "split these by job: {big:?}");
}

#[test]
fn no_function_is_over_120_lines() {
    let mut long = Vec::new();
    let (mut declared, mut measured) = (0, 0);
    for (f, text) in sources() {
        declared += text.lines().filter(|l| fn_name(l).is_some()).count();
        let found = functions(&text);
        measured += found.len();
        for (name, line, len) in found {
            if len > MAX_FN_LINES {
                long.push(format!("{f}:{line} {name} ({len} lines)"));
            }
        }
    }
    assert!(long.is_empty(), "split these: {long:?}");
    // A scan that lost track of braces would measure nothing and pass:
    // all but the bodiless declarations (trait items) are measured.
    assert!(
        measured * 100 >= declared * 97,
        "the scan measured {measured} of {declared} functions"
    );
}

#[test]
fn the_function_scan_measures_bodies_with_braces_in_strings() {
    let src = "fn a() {\n    let s = \"{\";\n    let c = '}';\n    // }\n    let r = r#\"}\"#;\n}\nfn b()\n{\n}\n";
    assert_eq!(
        functions(src),
        vec![("a".to_string(), 1, 6), ("b".to_string(), 7, 3)]
    );
}

/// Every `fn` with a body: (name, first line, lines from `fn` to its `}`).
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let depth_at = brace_depths(text);
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let Some(name) = fn_name(l) else { continue };
        // The body opens on this line or a later one (a long signature);
        // a `;` first means a declaration without a body.
        let start_depth = depth_at[i].0;
        let mut end = None;
        let mut opened = false;
        for (j, (before, after, semi)) in depth_at.iter().enumerate().skip(i) {
            if !opened && *semi && *after == start_depth {
                break;
            }
            if *after > start_depth || *before > start_depth {
                opened = true;
            }
            if opened && *after == start_depth {
                end = Some(j);
                break;
            }
        }
        if let Some(j) = end {
            out.push((name, i + 1, j - i + 1));
        }
    }
    out
}

fn fn_name(line: &str) -> Option<String> {
    let mut words = line.split_whitespace().peekable();
    while let Some(w) = words.next() {
        match w {
            "pub" | "async" | "const" | "unsafe" | "extern" => continue,
            w if w.starts_with("pub(") => continue,
            "fn" => {
                let n = words.next()?;
                let name: String = n
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                return (!name.is_empty()).then_some(name);
            }
            _ => return None,
        }
    }
    None
}

/// Per line: brace depth at its start, at its end, and whether a `;` is
/// on it outside strings — ignoring braces in strings, chars and comments.
fn brace_depths(text: &str) -> Vec<(i64, i64, bool)> {
    let mut out = Vec::new();
    let mut depth = 0i64;
    let mut in_str: Option<(usize, bool)> = None; // (hashes, raw) inside a string
    for line in text.lines() {
        let start = depth;
        let mut semi = false;
        let b: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            if let Some((hashes, raw)) = in_str {
                if c == '\\' && !raw {
                    i += 2;
                    continue;
                }
                if c == '"'
                    && b[i + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|&&h| h == '#')
                        .count()
                        == hashes
                {
                    in_str = None;
                    i += 1 + hashes;
                    continue;
                }
                i += 1;
                continue;
            }
            match c {
                '/' if b.get(i + 1) == Some(&'/') => break,
                '"' => in_str = Some((0, false)),
                'r' if matches!(b.get(i + 1), Some('"') | Some('#'))
                    && (i == 0 || !b[i - 1].is_alphanumeric()) =>
                {
                    let hashes = b[i + 1..].iter().take_while(|&&h| h == '#').count();
                    if b.get(i + 1 + hashes) == Some(&'"') {
                        in_str = Some((hashes, true));
                        i += 2 + hashes;
                        continue;
                    }
                }
                '\'' => {
                    // A char literal ('{', '\'', '\n'); a lifetime has no closing quote.
                    if b.get(i + 1) == Some(&'\\') {
                        if let Some(k) = b[i + 2..].iter().position(|&x| x == '\'') {
                            i += 3 + k;
                            continue;
                        }
                    } else if b.get(i + 2) == Some(&'\'') {
                        i += 3;
                        continue;
                    }
                }
                '{' => depth += 1,
                '}' => depth -= 1,
                ';' => semi = true,
                _ => {}
            }
            i += 1;
        }
        out.push((start, depth, semi));
    }
    out
}
