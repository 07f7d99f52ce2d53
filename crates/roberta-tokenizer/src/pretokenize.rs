//! The GPT-2 pre-tokenization pattern, scanned by hand (no regex engine):
//! `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
//! Every character belongs to one of the classes, so the matches partition the text.
use crate::unicode_tables::{LETTER, NUMBER};

/// The character classes the pattern distinguishes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Class {
    /// `\p{L}`
    Letter,
    /// `\p{N}`
    Number,
    /// `\s` (Unicode White_Space)
    Space,
    /// anything else
    Other,
}

fn in_table(table: &[(u32, u32)], c: u32) -> bool {
    table
        .binary_search_by(|&(lo, hi)| {
            if hi < c {
                std::cmp::Ordering::Less
            } else if lo > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

const ASCII_CLASS: [Class; 128] = {
    let mut t = [Class::Other; 128];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        t[b] = if c.is_ascii_alphabetic() {
            Class::Letter
        } else if c.is_ascii_digit() {
            Class::Number
        } else if matches!(c, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r') {
            Class::Space
        } else {
            Class::Other
        };
        b += 1;
    }
    t
};

/// The class of one character.
#[inline]
pub fn class_of(c: char) -> Class {
    let u = c as u32;
    if u < 128 {
        return ASCII_CLASS[u as usize];
    }
    if c.is_whitespace() {
        Class::Space
    } else if in_table(LETTER, u) {
        Class::Letter
    } else if in_table(NUMBER, u) {
        Class::Number
    } else {
        Class::Other
    }
}

/// Decodes the character at byte `i` of `s` (which must be a char boundary) with its length.
#[inline]
fn char_at(s: &str, i: usize) -> (char, usize) {
    let b = s.as_bytes()[i];
    if b < 128 {
        return (b as char, 1);
    }
    let c = s[i..].chars().next().expect("char boundary inside the string");
    (c, c.len_utf8())
}

/// End (byte) of the run of characters of class `class` starting at `i`.
#[inline]
fn run_end(s: &str, mut i: usize, class: Class) -> usize {
    while i < s.len() {
        let (c, n) = char_at(s, i);
        if class_of(c) != class {
            break;
        }
        i += n;
    }
    i
}

/// Length of a contraction (`'s`, `'t`, `'re`, `'ve`, `'m`, `'ll`, `'d`) at byte `i`, or 0.
#[inline]
fn contraction_len(b: &[u8], i: usize) -> usize {
    if b[i] != b'\'' || i + 1 >= b.len() {
        return 0;
    }
    match b[i + 1] {
        b's' | b't' | b'm' | b'd' => 2,
        b'r' | b'v' if b.get(i + 2) == Some(&b'e') => 3,
        b'l' if b.get(i + 2) == Some(&b'l') => 3,
        _ => 0,
    }
}

/// Calls `f(start, end)` with the byte range of each pre-token of `s`, in order.
pub fn split(s: &str, mut f: impl FnMut(usize, usize)) {
    let b = s.as_bytes();
    let mut i = 0;
    while i < s.len() {
        let end = next_end(s, b, i);
        f(i, end);
        i = end;
    }
}

/// End of the match starting at `i`.
fn next_end(s: &str, b: &[u8], i: usize) -> usize {
    let k = contraction_len(b, i);
    if k > 0 {
        return i + k;
    }
    let (c, n) = char_at(s, i);
    if c == ' ' && i + 1 < s.len() {
        let (c2, _) = char_at(s, i + 1);
        let cls = class_of(c2);
        if cls != Class::Space {
            return run_end(s, i + 1, cls);
        }
    }
    let cls = class_of(c);
    if cls != Class::Space {
        return run_end(s, i + n, cls);
    }
    // `\s+(?!\S)` then `\s+`: a whitespace run leaves its last character to the next word,
    // unless the run ends the text or is a single character.
    let mut j = i;
    let mut last = i;
    while j < s.len() {
        let (c, n) = char_at(s, j);
        if class_of(c) != Class::Space {
            break;
        }
        last = j;
        j += n;
    }
    if j == s.len() || last == i {
        j
    } else {
        last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<&str> {
        let mut v = Vec::new();
        split(s, |a, b| v.push(&s[a..b]));
        v
    }

    #[test]
    fn gpt2_pattern_cases() {
        assert_eq!(words("Hello world"), ["Hello", " world"]);
        assert_eq!(words("   doble  espacio"), ["  ", " doble", " ", " espacio"]);
        assert_eq!(words("a\t\tb"), ["a", "\t", "\t", "b"]);
        assert_eq!(words("fin  "), ["fin", "  "]);
        assert_eq!(words("it's they're 'x"), ["it", "'s", " they", "'re", " '", "x"]);
        assert_eq!(words("10.5 mg/kg"), ["10", ".", "5", " mg", "/", "kg"]);
        assert_eq!(words("Ä\u{301} x"), ["Ä", "\u{301}", " x"]);
        assert_eq!(words("l\u{a0}x"), ["l", "\u{a0}", "x"]);
        assert_eq!(words(" \n x"), [" \n", " x"]);
    }
}
