//! What a processor kind is: its typed config ([`KindConfig`]: name, summary, window rule, options
//! and `build()`), the parts of a plan every kind builds from ([`BuildContext`]), and the descriptor
//! [`super::registry`] lists ([`Kind`]). A new kind implements [`KindConfig`] in its own file.

use std::any::Any;
use std::fmt::{self, Write};
use std::sync::Arc;

use super::options::{check, OptionDoc, Options};
use super::Processor;
use crate::table::SharedTable;
use crate::time::duration::DurationMs;
use crate::window::{EmitMode, WindowSpec};

/// Lateness accepted by default by the kinds without a window (their `grace` option).
pub const DEFAULT_GRACE: DurationMs = DurationMs::secs(5);

/// Whether a kind's processors need a `window = { ... }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowRule {
    /// Every processor of the kind has a window.
    Required,
    /// None has one (lateness, where it matters, is an option).
    Forbidden,
    /// Every processor of the kind has a session window (`window = { kind = "session", gap = ... }`),
    /// and only kinds with this rule take one.
    Session,
}

/// What a kind's processors read from their `source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    /// IRC chat lines ([`Processor::process`]).
    Chat,
    /// JSON or Avro rows, such as `twitch.streams` snapshots ([`Processor::process_row`]); a table
    /// source may be read this way too, as the stream of its changes.
    Rows,
}

/// The parts of a processor plan every kind builds from, checked by validation.
#[derive(Debug, Clone, Copy)]
pub struct BuildContext<'a> {
    /// The processor's name (for late-record reports and state errors).
    pub name: &'a str,
    /// Index of its sink in the topology.
    pub sink: usize,
    /// Its window: `Some` exactly when the kind's window is [`WindowRule::Required`] (then never a
    /// session window) or [`WindowRule::Session`] (then always one).
    pub window: Option<WindowSpec>,
    /// When window results are emitted.
    pub emit: EmitMode,
    /// Its state store.
    pub store: &'a str,
    /// The table it joins (`join = { table = ... }`), for the kinds that read one.
    pub table: Option<&'a SharedTable>,
}

impl BuildContext<'_> {
    /// The window of a kind whose window is [`WindowRule::Required`] or [`WindowRule::Session`].
    pub fn window(&self) -> WindowSpec {
        self.window
            .expect("validated: a kind that requires a window has one")
    }
}

/// A processor kind: its options ([`Options`], declared with `options!`), what validation checks
/// beyond their types, and how a processor is built from them.
pub trait KindConfig: Options + fmt::Debug + PartialEq + Send + Sync + 'static {
    /// The `kind = "..."` of a topology file.
    const NAME: &'static str;
    /// What it computes, in one line.
    const SUMMARY: &'static str;
    /// Whether it takes a window.
    const WINDOW: WindowRule;
    /// Whether it reads a joined table (`join = { table = ... }`); false by default.
    const JOINS: bool = false;
    /// What it reads from its `source`; chat by default.
    const READS: Reads = Reads::Chat;
    /// Whether it reads more sources (`cogroup = [...]`), chat and rows alike; false by default.
    const COGROUPS: bool = false;

    /// Problems the types do not show (ranges, relations between options), each naming the option
    /// (`options.spike.k_off ...`) and saying what to change.
    fn problems(&self) -> Vec<String> {
        Vec::new()
    }

    /// A fresh processor for one task.
    fn build(&self, ctx: &BuildContext<'_>) -> Box<dyn Processor>;
}

/// A validated config of any kind, as a plan keeps it.
pub trait Configured: fmt::Debug + Send + Sync {
    /// A fresh processor for one task ([`KindConfig::build`]).
    fn processor(&self, ctx: &BuildContext<'_>) -> Box<dyn Processor>;
    /// The typed config, for tests and tools that know the kind.
    fn as_any(&self) -> &dyn Any;
    /// Whether `other` is the same kind with the same options.
    fn same(&self, other: &dyn Configured) -> bool;
}

impl<C: KindConfig> Configured for C {
    fn processor(&self, ctx: &BuildContext<'_>) -> Box<dyn Processor> {
        self.build(ctx)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn same(&self, other: &dyn Configured) -> bool {
        other.as_any().downcast_ref::<C>() == Some(self)
    }
}

/// A kind's options read and checked, or every problem with them.
pub type Parsed = Result<Arc<dyn Configured>, Vec<String>>;

/// A kind as the registry lists it.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    /// The `kind = "..."` of a topology file.
    pub name: &'static str,
    /// What it computes, in one line.
    pub summary: &'static str,
    /// Whether it takes a window.
    pub window: WindowRule,
    /// Whether it reads a joined table.
    pub joins: bool,
    /// What it reads from its `source`.
    pub reads: Reads,
    /// Whether it reads more sources (`cogroup = [...]`).
    pub cogroups: bool,
    /// Checks an options table and reads it into the kind's config; every problem on error.
    pub parse: fn(&toml::Table) -> Parsed,
    /// Its options with their types, defaults and docs.
    pub options: fn() -> Vec<OptionDoc>,
}

impl Kind {
    /// The descriptor of the kind whose config is `C`.
    pub const fn of<C: KindConfig>() -> Kind {
        Kind {
            name: C::NAME,
            summary: C::SUMMARY,
            window: C::WINDOW,
            joins: C::JOINS,
            reads: C::READS,
            cogroups: C::COGROUPS,
            parse: parse::<C>,
            options: C::describe,
        }
    }

    /// The kind for `chatpulse topology kinds`: summary, window rule, then one line per option with
    /// its type, default and doc (nested options as `table.name`).
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "{}: {}", self.name, self.summary);
        let _ = writeln!(
            s,
            "  window: {}",
            match self.window {
                WindowRule::Required => "required (window = { kind = ..., size = ... })",
                WindowRule::Forbidden => "none",
                WindowRule::Session =>
                    "session (window = { kind = \"session\", gap = ..., grace = ... })",
            }
        );
        let _ = writeln!(
            s,
            "  reads: {}",
            match self.reads {
                Reads::Chat => "chat (a source of format \"irc\")",
                Reads::Rows => "rows (a source of format \"json\" or \"avro\", a table's too)",
            }
        );
        if self.cogroups {
            let _ = writeln!(
                s,
                "  cogroup: optional (cogroup = [\"<source>\", ...]: chat or rows, co-partitioned)"
            );
        }
        if self.joins {
            let _ = writeln!(
                s,
                "  join: optional (join = {{ table = \"<table source>\" }})"
            );
        }
        let options = OptionDoc::leaves(&(self.options)());
        if options.is_empty() {
            let _ = write!(s, "  options: none");
            return s;
        }
        let width = options.iter().map(|o| o.name.len()).max().unwrap_or(0);
        let default_width = options.iter().map(|o| o.default.len()).max().unwrap_or(0);
        let _ = write!(s, "  options (options = {{ name = value, ... }}):");
        for o in options {
            let _ = write!(
                s,
                "\n    {:width$}  {:8}  {:default_width$}  {}",
                o.name,
                o.ty.name(),
                o.default,
                o.doc
            );
        }
        s
    }
}

fn parse<C: KindConfig>(table: &toml::Table) -> Parsed {
    let mut problems = Vec::new();
    check(&mut problems, C::NAME, "", table, &C::describe());
    if !problems.is_empty() {
        return Err(problems);
    }
    let config: C = toml::Value::Table(table.clone())
        .try_into()
        .map_err(|e| vec![format!("options: {e}")])?;
    let problems = config.problems();
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Arc::new(config))
}
