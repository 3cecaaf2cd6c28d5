//! Counted nouns in messages: "1 table has", "3 tables have", never "1 table(s)".

/// `n` followed by `one` when it is 1, by `many` otherwise (each may carry its
/// verb: `count(n, "table has", "tables have")`).
pub fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_and_many() {
        assert_eq!(super::count(1, "table is", "tables are"), "1 table is");
        assert_eq!(super::count(0, "table is", "tables are"), "0 tables are");
        assert_eq!(super::count(3, "key", "keys"), "3 keys");
    }
}
