//! Writing YAML for Juju (`--config file.yaml`). Values are always double-quoted with every
//! character outside YAML's printable set escaped, so any string — JSON maps with trailing
//! commas, backslashes, quotes, newlines — reads back byte for byte with YAML 1.1 (Juju's
//! go-yaml) and 1.2 parsers alike.

use crate::bundle::yaml::ScalarValue;

/// A YAML double-quoted scalar whose value is exactly `s`.
pub fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{20}'..='\u{7e}' => out.push(c),
            // Printable in YAML, except the line and paragraph separators (line breaks in YAML
            // 1.1) and the BOM.
            '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..
                if !matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') =>
            {
                out.push(c)
            }
            c if (c as u32) <= 0xff => out.push_str(&format!("\\x{:02X}", c as u32)),
            c => out.push_str(&format!("\\u{:04X}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// A mapping key: plain when it cannot be read as anything but that string, else quoted.
pub fn key(s: &str) -> String {
    // YAML 1.1 reads these plain words as booleans or null.
    const RESERVED: [&str; 12] = [
        "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", "Y", "N",
    ];
    let plain = s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        && !RESERVED.contains(&s.to_ascii_lowercase().as_str())
        && !RESERVED.contains(&s);
    if plain {
        s.to_owned()
    } else {
        double_quoted(s)
    }
}

/// An option value for a `--config` file: text (quoted), or a boolean or number as the
/// bundle gave it (Juju checks the option's type, so `true` must not arrive as `"true"`).
/// Kept in records as the plain JSON value.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum ConfigValue {
    Text(String),
    Bool(bool),
    Int(i64),
    Float(f64),
}

impl From<&ScalarValue> for ConfigValue {
    /// A bundle's option value with the type the bundle gave it.
    fn from(v: &ScalarValue) -> Self {
        match v {
            ScalarValue::Bool(b) => ConfigValue::Bool(*b),
            ScalarValue::Int(i) => ConfigValue::Int(*i),
            ScalarValue::Float(f) => ConfigValue::Float(*f),
            other => ConfigValue::Text(other.to_string()),
        }
    }
}

/// Juju's `--config` file with typed values.
pub fn typed_app_config(application: &str, options: &[(String, ConfigValue)]) -> String {
    let mut out = format!("{}:\n", key(application));
    for (k, v) in options {
        let value = match v {
            ConfigValue::Text(t) => double_quoted(t),
            ConfigValue::Bool(b) => b.to_string(),
            ConfigValue::Int(i) => i.to_string(),
            ConfigValue::Float(f) => f.to_string(),
        };
        out.push_str(&format!("  {}: {value}\n", key(k)));
    }
    out
}

/// Juju's `--config` file: options keyed by application name.
pub fn app_config(application: &str, options: &[(String, String)]) -> String {
    let mut out = format!("{}:\n", key(application));
    for (k, v) in options {
        out.push_str(&format!("  {}: {}\n", key(k), double_quoted(v)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use saphyr::{LoadableYamlNode, Yaml};

    fn read_back(yaml: &str) -> String {
        let docs = Yaml::load_from_str(yaml).unwrap();
        docs[0]["app"]["k"].as_str().unwrap().to_owned()
    }

    #[test]
    fn awkward_values_round_trip() {
        for v in [
            "{\"a\": \"b\", }",
            "back\\slash \"quoted\" 'single'",
            "line\nbreak\ttab\r",
            "\u{7f}\u{1}\u{85}\u{2028}\u{feff}é😀",
            "",
            "- not a list",
            "# not a comment",
            "  spaces  ",
        ] {
            let yaml = app_config("app", &[("k".to_owned(), v.to_owned())]);
            assert_eq!(read_back(&yaml), v, "{yaml}");
        }
        assert_eq!(key("on"), "\"on\"");
        assert_eq!(key("custom_images"), "custom_images");
    }
}
