//! One CLI case in a few lines (the shape of casey/just's `tests/test.rs`):
//! who runs it, the arguments, and what they should see — exit code, text
//! on stdout and stderr, JSON fields. Every case also checks that nothing
//! panicked and that a failure says what went wrong on stderr.
//!
//! ```ignore
//! Case::new(&d, &ann)
//!     .args(&["apps:info", "-a", "ghost"])
//!     .code(1)
//!     .stderr_has("not found")
//!     .run();
//! ```

use serde_json::Value;

use super::{Daemon, Run};

pub struct Case<'a> {
    d: &'a Daemon,
    token: String,
    args: Vec<String>,
    code: i32,
    stdout: Vec<String>,
    stderr: Vec<String>,
    json: Vec<(String, Value)>,
}

impl<'a> Case<'a> {
    /// A case run as the user of `token` (empty: no token at all).
    pub fn new(d: &'a Daemon, token: &str) -> Case<'a> {
        Case {
            d,
            token: token.to_string(),
            args: Vec::new(),
            code: 0,
            stdout: Vec::new(),
            stderr: Vec::new(),
            json: Vec::new(),
        }
    }

    pub fn args(mut self, args: &[&str]) -> Self {
        self.args = args.iter().map(|a| a.to_string()).collect();
        self
    }

    /// The exit code expected (0 unless said).
    pub fn code(mut self, code: i32) -> Self {
        self.code = code;
        self
    }

    pub fn stdout_has(mut self, text: &str) -> Self {
        self.stdout.push(text.to_string());
        self
    }

    pub fn stderr_has(mut self, text: &str) -> Self {
        self.stderr.push(text.to_string());
        self
    }

    /// stdout is JSON whose value at `pointer` (RFC 6901, like `/0/name`)
    /// is `want`.
    pub fn json(mut self, pointer: &str, want: Value) -> Self {
        self.json.push((pointer.to_string(), want));
        self
    }

    pub fn run(self) -> Run {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let mut cli = self.d.cli(&self.token);
        if self.token.is_empty() {
            cli = cli.env_remove("SKYPANEL_TOKEN");
        }
        let r = cli.run(&args);
        let shown = format!(
            "skypanel {args:?}\nstdout:\n{}\nstderr:\n{}",
            r.stdout, r.stderr
        );
        assert_eq!(r.code, self.code, "exit code of {shown}");
        assert!(!r.stderr.contains("panicked"), "panic in {shown}");
        if self.code != 0 {
            assert!(
                r.stderr.contains("error: "),
                "a failure must say why: {shown}"
            );
        }
        for t in &self.stdout {
            assert!(r.stdout.contains(t.as_str()), "stdout lacks {t:?}: {shown}");
        }
        for t in &self.stderr {
            assert!(r.stderr.contains(t.as_str()), "stderr lacks {t:?}: {shown}");
        }
        if !self.json.is_empty() {
            let v: Value = serde_json::from_str(&r.stdout)
                .unwrap_or_else(|e| panic!("stdout is no JSON ({e}): {shown}"));
            for (p, want) in &self.json {
                assert_eq!(v.pointer(p), Some(want), "{p} of {shown}");
            }
        }
        r
    }
}
