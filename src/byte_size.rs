//! Sizes an operator writes in the answers file (`max_volume_size = "4GiB"`): binary units
//! (KiB, MiB, GiB, TiB, and K, M, G, T as their short forms) and decimal ones (kB, MB, GB, TB),
//! as media are sold in decimal and FAT32's limit is binary.

/// The size `text` names in bytes, or why it is not one.
pub fn parse_byte_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let unit = unit.trim();
    let factor: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {unit:?} (use B, KiB, MiB, GiB, TiB, or kB, MB, GB, TB)"
            ));
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size such as \"4GiB\" or \"4700MB\""))?;
    let bytes = value * factor as f64;
    if !(bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(format!("{text:?} is not a size above zero"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::parse_byte_size;

    #[test]
    fn sizes_in_binary_and_decimal_units() {
        assert_eq!(parse_byte_size("4GiB"), Ok(4 << 30));
        assert_eq!(parse_byte_size("4 G"), Ok(4 << 30));
        assert_eq!(parse_byte_size("4700MB"), Ok(4_700_000_000));
        assert_eq!(parse_byte_size("1.5KiB"), Ok(1536));
        assert_eq!(parse_byte_size("65536"), Ok(65536));
        for bad in ["", "0", "4 parsecs", "GiB", "-1GiB"] {
            assert!(parse_byte_size(bad).is_err(), "{bad}");
        }
    }
}
