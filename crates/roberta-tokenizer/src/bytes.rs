//! GPT-2's byte-to-unicode map: every byte gets a printable character, so BPE tokens are strings.
//! Printable Latin-1 bytes map to themselves; the other 68 map to U+0100 onwards, in byte order.

/// The character standing for each byte.
pub fn byte_to_char() -> [char; 256] {
    let mut map = ['\0'; 256];
    let mut next = 256u32;
    for b in 0..256u32 {
        let printable = (0x21..=0x7E).contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b);
        let c = if printable {
            b
        } else {
            next += 1;
            next - 1
        };
        map[b as usize] = char::from_u32(c).expect("byte map stays in the BMP");
    }
    map
}

/// The byte a character stands for, if it is one of the byte map's characters.
#[inline]
fn char_byte(c: char) -> Option<u8> {
    let u = c as u32;
    if u < 256 && ((0x21..=0x7E).contains(&u) || (0xA1..=0xAC).contains(&u) || (0xAE..=0xFF).contains(&u)) {
        Some(u as u8)
    } else if (256..256 + 68).contains(&u) {
        NON_PRINTABLE.get((u - 256) as usize).copied()
    } else {
        None
    }
}

/// Decodes a token string back to bytes as HF's ByteLevel decoder does: each character to its byte when all of
/// the token's characters are in the byte map, else the token's own UTF-8.
pub fn token_to_bytes(token: &str, out: &mut Vec<u8>) {
    let n = out.len();
    for c in token.chars() {
        match char_byte(c) {
            Some(b) => out.push(b),
            None => {
                out.truncate(n);
                out.extend_from_slice(token.as_bytes());
                return;
            }
        }
    }
}

/// The 68 bytes that are not printable, in order: U+0100 + i stands for NON_PRINTABLE[i].
const NON_PRINTABLE: [u8; 68] = {
    let mut t = [0u8; 68];
    let mut i = 0;
    let mut b = 0usize;
    while b < 256 {
        let printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        if !printable {
            t[i] = b as u8;
            i += 1;
        }
        b += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn space_and_newline_map_as_gpt2() {
        let m = byte_to_char();
        assert_eq!(m[b' ' as usize], 'Ġ');
        assert_eq!(m[b'\n' as usize], 'Ċ');
        assert_eq!(m[b'\t' as usize], 'ĉ');
        assert_eq!(m[b'a' as usize], 'a');
    }

    #[test]
    fn round_trip_every_byte() {
        let m = byte_to_char();
        let s: String = m.iter().collect();
        let mut out = Vec::new();
        token_to_bytes(&s, &mut out);
        assert_eq!(out, (0..=255u8).collect::<Vec<_>>());
    }
}

/// Counts the leading and trailing characters of a token string that are `Ġ` or whitespace (trim_offsets).
pub fn space_counts(token: &str) -> (u8, u8) {
    let is_space = |c: &char| *c == 'Ġ' || c.is_whitespace();
    let lead = token.chars().take_while(is_space).count().min(255) as u8;
    let trail = token.chars().rev().take_while(is_space).count().min(255) as u8;
    (lead, trail)
}
