//! Replacing placeholder image references (`172.17.0.2:5000/x/y:tag`) with the pushed ones, both
//! as whole values (resources) and inside strings (JSON maps, Python lists in config options).

use std::collections::BTreeMap;

/// `text` with every mapped reference replaced, and how many were. A reference only matches at
/// reference boundaries, so `…/python:3.7` does not rewrite the front of `…/python:3.7.1`, and
/// the longest source wins where several start at the same place.
pub fn apply(text: &str, map: &BTreeMap<String, String>) -> (String, usize) {
    if let Some(target) = map.get(text) {
        return (target.clone(), 1);
    }
    let mut sources: Vec<(&String, &String)> = map.iter().filter(|(s, _)| !s.is_empty()).collect();
    sources.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
    let mut out = String::with_capacity(text.len());
    let mut count = 0;
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let at_start = text[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !is_ref_char(c));
        let hit = at_start
            .then(|| {
                sources.iter().find(|(s, _)| {
                    rest.starts_with(s.as_str())
                        && rest[s.len()..]
                            .chars()
                            .next()
                            .is_none_or(|c| !is_ref_char(c))
                })
            })
            .flatten();
        match hit {
            Some((source, target)) => {
                out.push_str(target);
                i += source.len();
                count += 1;
            }
            None => {
                let c = rest.chars().next().unwrap_or_default();
                out.push(c);
                i += c.len_utf8().max(1);
            }
        }
    }
    (out, count)
}

fn is_ref_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._-:/@".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_and_inner_references_with_boundaries() {
        let map: BTreeMap<String, String> = [
            ("r:5000/python:3.7", "reg.corp:443/ckf/python:3.7"),
            ("r:5000/a/b:v1", "reg.corp:443/ckf/a/b:v1"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect();
        assert_eq!(
            apply("r:5000/python:3.7", &map).0,
            "reg.corp:443/ckf/python:3.7"
        );
        let (s, n) = apply(
            r#"{"x": "r:5000/a/b:v1", "y": "r:5000/python:3.7.1", }"#,
            &map,
        );
        assert_eq!(
            s,
            r#"{"x": "reg.corp:443/ckf/a/b:v1", "y": "r:5000/python:3.7.1", }"#
        );
        assert_eq!(n, 1);
        assert_eq!(apply("['r:5000/a/b:v1','r:5000/python:3.7']", &map).1, 2);
    }
}
