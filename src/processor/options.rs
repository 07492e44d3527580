//! Typed kind options. [`options!`] declares a kind's config struct once, with a doc comment and a
//! default on every field, and derives from it serde (unknown options refused), `Default` and the
//! description `chatpulse topology kinds` prints. [`check`] reports every problem of an options table
//! before serde reads it, each naming the option and what to write instead.

use serde::de::DeserializeOwned;

use crate::time::duration::{parse_duration_ms, DurationMs};

/// What an option holds.
#[derive(Debug, Clone, Copy)]
pub enum OptionType {
    /// A duration written as text: `"5s"`, `"10m"`.
    Duration,
    /// A whole number of 0 or more.
    Count,
    /// A whole number.
    Integer,
    /// A number (`2.5`; a whole number reads too).
    Number,
    /// `true` or `false`.
    Bool,
    /// A list of names, such as channels: `["nymn", "forsen"]`.
    Names,
    /// A table of further options, such as `spike = { k_on = 3.0 }` (or `spike.k_on = 3.0`).
    Table(fn() -> Vec<OptionDoc>),
}

impl OptionType {
    /// Its name, as `chatpulse topology kinds` prints it.
    pub fn name(self) -> &'static str {
        match self {
            OptionType::Duration => "duration",
            OptionType::Count => "count",
            OptionType::Integer => "integer",
            OptionType::Number => "number",
            OptionType::Bool => "bool",
            OptionType::Names => "names",
            OptionType::Table(_) => "table",
        }
    }

    /// What to write, for error messages.
    fn expected(self) -> &'static str {
        match self {
            OptionType::Duration => "a duration such as \"5s\"",
            OptionType::Count => "a whole number of 0 or more",
            OptionType::Integer => "a whole number",
            OptionType::Number => "a finite number such as 2.5",
            OptionType::Bool => "true or false",
            OptionType::Names => "a list of names such as [\"nymn\", \"forsen\"]",
            OptionType::Table(_) => "a table such as { name = value }",
        }
    }
}

/// One option of a kind: what `chatpulse topology kinds` prints and [`check`] checks against.
#[derive(Debug, Clone)]
pub struct OptionDoc {
    /// Its name in the options table.
    pub name: &'static str,
    /// What it holds.
    pub ty: OptionType,
    /// Its default as TOML (`"5s"`, `2.0`), or `unset`; empty for a table.
    pub default: String,
    /// Its doc comment, on one line.
    pub doc: String,
}

impl OptionDoc {
    /// An option from its doc comment lines.
    pub fn new(name: &'static str, ty: OptionType, default: String, doc: &[&str]) -> OptionDoc {
        let doc = doc.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ");
        OptionDoc {
            name,
            ty,
            default,
            doc,
        }
    }

    /// The options of the kind flattened: nested tables as dotted names (`spike.k_on`).
    pub fn leaves(docs: &[OptionDoc]) -> Vec<OptionDoc> {
        let mut out = Vec::new();
        for d in docs {
            match d.ty {
                OptionType::Table(inner) => {
                    for mut leaf in OptionDoc::leaves(&inner()) {
                        leaf.name = leak(format!("{}.{}", d.name, leaf.name));
                        out.push(leaf);
                    }
                }
                _ => out.push(d.clone()),
            }
        }
        out
    }
}

/// Dotted names live as long as the program (a handful, built when kinds are described).
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// A type an option may have.
pub trait OptionValue {
    /// What it holds.
    const TYPE: OptionType;
    /// The value as TOML, for the default column.
    fn show(&self) -> String;
}

impl OptionValue for DurationMs {
    const TYPE: OptionType = OptionType::Duration;
    fn show(&self) -> String {
        format!("\"{self}\"")
    }
}

macro_rules! option_values {
    ($ty:ident: $($t:ty),*) => {$(
        impl OptionValue for $t {
            const TYPE: OptionType = OptionType::$ty;
            fn show(&self) -> String {
                format!("{self:?}")
            }
        }
    )*};
}
option_values!(Count: u32, u64, usize);
option_values!(Integer: i64);
option_values!(Number: f64);
option_values!(Bool: bool);

impl OptionValue for Vec<String> {
    const TYPE: OptionType = OptionType::Names;
    fn show(&self) -> String {
        format!("{self:?}").replace(' ', "")
    }
}

impl<T: OptionValue> OptionValue for Option<T> {
    const TYPE: OptionType = T::TYPE;
    fn show(&self) -> String {
        self.as_ref().map_or_else(|| "unset".to_owned(), T::show)
    }
}

/// A kind's options struct, as [`options!`] declares it.
pub trait Options: Default + DeserializeOwned {
    /// Each option with its type, default and doc, in declaration order.
    fn describe() -> Vec<OptionDoc>;
}

/// Declares an options struct: each field with its doc comment, type and default,
/// `pub name: Type = default,`. Derives serde (`deny_unknown_fields`, missing fields default),
/// `Default`, [`Options`] and [`OptionValue`] (so the struct nests as a table in another).
macro_rules! options {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[doc = $doc:literal])+
                pub $field:ident: $ty:ty = $default:expr,
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, ::serde::Deserialize, ::serde::Serialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct $name {
            $( $(#[doc = $doc])+ pub $field: $ty, )*
        }

        impl Default for $name {
            fn default() -> Self {
                $name { $( $field: $default, )* }
            }
        }

        impl $crate::processor::options::Options for $name {
            fn describe() -> Vec<$crate::processor::options::OptionDoc> {
                #[allow(unused_variables)]
                let defaults = <Self as Default>::default();
                vec![$(
                    $crate::processor::options::OptionDoc::new(
                        stringify!($field),
                        <$ty as $crate::processor::options::OptionValue>::TYPE,
                        $crate::processor::options::OptionValue::show(&defaults.$field),
                        &[$($doc),+],
                    ),
                )*]
            }
        }

        impl $crate::processor::options::OptionValue for $name {
            const TYPE: $crate::processor::options::OptionType =
                $crate::processor::options::OptionType::Table(
                    <$name as $crate::processor::options::Options>::describe,
                );
            fn show(&self) -> String {
                String::new()
            }
        }
    };
}
pub(crate) use options;

/// Every problem of the options `table` of a `kind` processor against its `docs`: unknown options
/// (naming the known ones), values of the wrong type and durations that do not parse. `prefix` is
/// the dotted path of a nested table (`spike.`), empty at the top.
pub fn check(
    problems: &mut Vec<String>,
    kind: &str,
    prefix: &str,
    table: &toml::Table,
    docs: &[OptionDoc],
) {
    for (key, value) in table {
        let name = format!("{prefix}{key}");
        let Some(doc) = docs.iter().find(|d| d.name == key) else {
            let known: Vec<String> = docs
                .iter()
                .map(|d| match d.ty {
                    OptionType::Table(_) => format!("{prefix}{}.*", d.name),
                    _ => format!("{prefix}{}", d.name),
                })
                .collect();
            problems.push(format!(
                "option {name:?} is unknown for kind {kind}: {}",
                if known.is_empty() {
                    "it takes no options".to_owned()
                } else {
                    format!("use {}", known.join(", "))
                }
            ));
            continue;
        };
        match (doc.ty, value) {
            (OptionType::Duration, toml::Value::String(t)) => {
                if parse_duration_ms(t).is_none() {
                    problems.push(format!(
                        "options.{name} {t:?} is not a duration: use a number and ms, s, m, h or d"
                    ));
                }
            }
            (OptionType::Count, toml::Value::Integer(n)) if *n >= 0 => {}
            (OptionType::Integer, toml::Value::Integer(_))
            | (OptionType::Bool, toml::Value::Boolean(_)) => {}
            (OptionType::Number, toml::Value::Integer(_)) => {}
            (OptionType::Names, toml::Value::Array(a))
                if a.iter().all(|v| v.as_str().is_some_and(|s| !s.is_empty())) => {}
            (OptionType::Number, toml::Value::Float(x)) if x.is_finite() => {}
            (OptionType::Table(inner), toml::Value::Table(t)) => {
                check(problems, kind, &format!("{name}."), t, &inner());
            }
            (ty, _) => problems.push(format!(
                "options.{name} = {value} has the wrong type: use {}",
                ty.expected()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    options! {
        /// Inner options.
        pub struct Inner {
            /// A threshold.
            pub k: f64 = 2.0,
        }
    }

    options! {
        /// Outer options.
        pub struct Outer {
            /// How late, at most.
            pub grace: DurationMs = DurationMs::secs(5),
            /// How many,
            /// over two lines.
            pub n: usize = 7,
            /// When set.
            pub at: Option<i64> = None,
            /// The inner ones.
            pub inner: Inner = Inner::default(),
            /// Some names.
            pub names: Vec<String> = vec!["a".to_owned()],
        }
    }

    fn problems(text: &str) -> Vec<String> {
        let table: toml::Table = toml::from_str(text).unwrap();
        let mut p = Vec::new();
        check(&mut p, "outer", "", &table, &Outer::describe());
        p
    }

    #[test]
    fn options_read_with_defaults_for_what_is_missing() {
        let o: Outer = toml::from_str("grace = \"10m\"\ninner.k = 3").unwrap();
        assert_eq!(o.grace, DurationMs::mins(10));
        assert_eq!(o.n, 7);
        assert_eq!(o.inner.k, 3.0);
        assert_eq!(toml::from_str::<Outer>("").unwrap(), Outer::default());
    }

    #[test]
    fn unknown_options_are_refused_by_serde_and_by_the_check() {
        let e = toml::from_str::<Outer>("grase = \"5s\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `grase`"), "{e}");
        assert_eq!(
            problems("grase = \"5s\"\ninner = { j = 1 }"),
            vec![
                "option \"grase\" is unknown for kind outer: use grace, n, at, inner.*, names",
                "option \"inner.j\" is unknown for kind outer: use inner.k",
            ]
        );
    }

    #[test]
    fn wrong_types_and_bad_durations_name_the_option() {
        // Table keys are read in name order.
        assert_eq!(
            problems("grace = \"5 weeks\"\nn = -1\ninner.k = \"high\"\nat = 12\nnames = [\"a\", 1]"),
            vec![
                "options.grace \"5 weeks\" is not a duration: use a number and ms, s, m, h or d",
                "options.inner.k = \"high\" has the wrong type: use a finite number such as 2.5",
                "options.n = -1 has the wrong type: use a whole number of 0 or more",
                "options.names = [\"a\", 1] has the wrong type: use a list of names such as [\"nymn\", \"forsen\"]",
            ]
        );
    }

    #[test]
    fn every_option_is_described_with_its_default_and_doc() {
        let leaves = OptionDoc::leaves(&Outer::describe());
        let rows: Vec<(&str, &str, &str, &str)> = leaves
            .iter()
            .map(|d| (d.name, d.ty.name(), d.default.as_str(), d.doc.as_str()))
            .collect();
        assert_eq!(
            rows,
            vec![
                ("grace", "duration", "\"5s\"", "How late, at most."),
                ("n", "count", "7", "How many, over two lines."),
                ("at", "integer", "unset", "When set."),
                ("inner.k", "number", "2.0", "A threshold."),
                ("names", "names", "[\"a\"]", "Some names."),
            ]
        );
    }
}
