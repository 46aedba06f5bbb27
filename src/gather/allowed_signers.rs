//! OpenSSH's `allowed_signers` file (ssh-keygen(1), "ALLOWED SIGNERS"): who may sign the lock.
//! One line per key: `principals [options] keytype base64-key [comment]`, options among
//! `namespaces="…"`, `valid-after=…`, `valid-before=…` and `cert-authority`.

use ssh_key::PublicKey;

/// One usable line of the file.
#[derive(Debug, Clone)]
pub struct AllowedSigner {
    /// The principals as written (comma-separated patterns): the identity ckf-airgap reports.
    pub principals: String,
    pub key: PublicKey,
    /// `namespaces="…"`: the namespaces this key may sign for (patterns); none means any.
    pub namespaces: Option<Vec<String>>,
    /// `valid-after` / `valid-before`, as 14 digits `YYYYMMDDHHMMSS` (UTC).
    pub valid_after: Option<String>,
    pub valid_before: Option<String>,
    /// Its line number in the file, for messages.
    pub line: usize,
}

/// What the file holds, and the lines passed over with why.
#[derive(Debug, Default)]
pub struct AllowedSigners {
    pub signers: Vec<AllowedSigner>,
    pub passed_over: Vec<String>,
}

/// Parses the file's text; a line that cannot be read is an error naming it, so that a typo
/// never silently removes a signer.
pub fn parse(text: &str) -> Result<AllowedSigners, String> {
    let mut out = AllowedSigners::default();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let words = split_words(trimmed).map_err(|e| format!("line {line}: {e}"))?;
        let Some((principals, rest)) = words.split_first() else {
            continue;
        };
        let (options, key_words) = match rest.first() {
            Some(w) if is_key_type(w) => (None, rest),
            Some(w) => (Some(w.as_str()), &rest[1..]),
            None => return Err(format!("line {line}: no key after the principals")),
        };
        let (Some(key_type), Some(key_b64)) = (key_words.first(), key_words.get(1)) else {
            return Err(format!("line {line}: no key after the options"));
        };
        let mut signer = AllowedSigner {
            principals: unquote(principals),
            key: PublicKey::from_openssh(&format!("{key_type} {key_b64}"))
                .map_err(|e| format!("line {line}: not an OpenSSH public key ({e})"))?,
            namespaces: None,
            valid_after: None,
            valid_before: None,
            line,
        };
        let mut certificate_authority = false;
        for option in options.map(split_options).transpose()?.unwrap_or_default() {
            let (name, value) = option
                .split_once('=')
                .map(|(n, v)| (n.to_ascii_lowercase(), Some(unquote(v))))
                .unwrap_or_else(|| (option.to_ascii_lowercase(), None));
            match (name.as_str(), value) {
                ("cert-authority", None) => certificate_authority = true,
                ("namespaces", Some(v)) => {
                    signer.namespaces = Some(v.split(',').map(|s| s.trim().to_owned()).collect())
                }
                ("valid-after", Some(v)) => {
                    signer.valid_after =
                        Some(timestamp(&v).map_err(|e| format!("line {line}: {e}"))?)
                }
                ("valid-before", Some(v)) => {
                    signer.valid_before =
                        Some(timestamp(&v).map_err(|e| format!("line {line}: {e}"))?)
                }
                (other, _) => return Err(format!("line {line}: unknown option {other:?}")),
            }
        }
        if certificate_authority {
            out.passed_over.push(format!(
                "line {line}: a cert-authority line; ckf-airgap takes plain keys only"
            ));
            continue;
        }
        out.signers.push(signer);
    }
    Ok(out)
}

fn is_key_type(word: &str) -> bool {
    word.starts_with("ssh-") || word.starts_with("ecdsa-sha2-") || word.starts_with("sk-")
}

/// Whitespace-separated words, where a double-quoted part may hold spaces.
fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                word.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if quoted {
        return Err("a quote is not closed".into());
    }
    if !word.is_empty() {
        words.push(word);
    }
    Ok(words)
}

/// The options field split at commas outside quotes.
fn split_options(field: &str) -> Result<Vec<String>, String> {
    let mut options = Vec::new();
    let mut option = String::new();
    let mut quoted = false;
    for c in field.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                option.push(c);
            }
            ',' if !quoted => options.push(std::mem::take(&mut option)),
            c => option.push(c),
        }
    }
    if !option.is_empty() {
        options.push(option);
    }
    Ok(options)
}

fn unquote(text: &str) -> String {
    text.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text)
        .to_owned()
}

/// `YYYYMMDD[HHMM[SS]]` (an optional `Z`), padded to 14 digits so timestamps compare as text.
fn timestamp(text: &str) -> Result<String, String> {
    let digits = text.strip_suffix('Z').unwrap_or(text);
    if !matches!(digits.len(), 8 | 12 | 14) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{text:?} is not a time ssh-keygen takes (YYYYMMDD, YYYYMMDDHHMM or YYYYMMDDHHMMSS)"
        ));
    }
    Ok(format!("{digits:0<14}"))
}

/// A principal or namespace pattern as ssh matches them: `*` any run, `?` one character.
pub fn pattern_matches(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::{parse, pattern_matches};

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJtvYBEAztlhD/bQUiafYi+7ruBgQU+VYhoIG1HCTlGN";

    #[test]
    fn every_form_of_line_ssh_keygen_documents_is_read() {
        let text = format!(
            "# who may sign\n\n\
             release@example.com {KEY} laptop\n\
             \"ops team\",ci@* namespaces=\"ckf-airgap,git\",valid-after=20260101 {KEY}\n\
             ca@example.com cert-authority {KEY}\n"
        );
        let file = parse(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(file.signers.len(), 2);
        assert_eq!(file.signers[0].principals, "release@example.com");
        assert_eq!(file.signers[0].line, 3);
        assert!(file.signers[0].namespaces.is_none());
        assert_eq!(
            file.signers[1].namespaces.as_deref(),
            Some(&["ckf-airgap".to_owned(), "git".to_owned()][..])
        );
        assert_eq!(
            file.signers[1].valid_after.as_deref(),
            Some("20260101000000")
        );
        assert_eq!(file.passed_over.len(), 1, "{:?}", file.passed_over);
    }

    #[test]
    fn a_line_that_cannot_be_read_is_named_not_skipped() {
        for (text, expected) in [
            ("someone\n".to_owned(), "line 1: no key"),
            (
                format!("someone bogus=1 {KEY}"),
                "line 1: unknown option \"bogus\"",
            ),
            (
                "someone ssh-ed25519 notbase64".to_owned(),
                "line 1: not an OpenSSH public key",
            ),
            (
                format!("someone valid-before=2026 {KEY}"),
                "line 1: \"2026\" is not a time",
            ),
            (format!("\"someone {KEY}"), "line 1: a quote is not closed"),
        ] {
            let e = parse(&text)
                .err()
                .unwrap_or_else(|| panic!("{text} was taken"));
            assert!(e.starts_with(expected), "{e}");
        }
    }

    #[test]
    fn patterns_match_as_ssh_does() {
        assert!(pattern_matches("ckf-*", "ckf-airgap"));
        assert!(pattern_matches("ckf-airga?", "ckf-airgap"));
        assert!(!pattern_matches("git", "ckf-airgap"));
        assert!(pattern_matches("*", ""));
    }
}
