//! The parts of SentencePiece's `ModelProto` (protobuf, `sentencepiece_model.proto`) an XLM-R tokenizer needs:
//! the pieces with their scores and types (field 1), and the normalizer's compiled map (field 3, NormalizerSpec
//! field 2). Every other field is skipped by its wire type; a malformed message is an error, never a panic.

/// One piece.
#[derive(Clone, Debug, PartialEq)]
pub struct Piece {
    /// Its text (`▁` for a space).
    pub piece: String,
    /// Its log-probability.
    pub score: f32,
    /// NORMAL 1, UNKNOWN 2, CONTROL 3, USER_DEFINED 4, UNUSED 5, BYTE 6.
    pub kind: u32,
}

/// The model's pieces and compiled normalization map.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelProto {
    /// The pieces, in id order.
    pub pieces: Vec<Piece>,
    /// NormalizerSpec.precompiled_charsmap (empty for the identity).
    pub precompiled_charsmap: Vec<u8>,
}

/// A protobuf reader over one message.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// A field's value.
enum Value<'a> {
    Varint(u64),
    Fixed32(u32),
    Bytes(&'a [u8]),
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or("truncated varint")?;
            self.pos += 1;
            v |= u64::from(b & 0x7F) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint longer than 10 bytes".into())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len()).ok_or("a field runs past the end of its message")?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// The next (field number, value), or None at the end.
    fn next(&mut self) -> Result<Option<(u64, Value<'a>)>, String> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => Value::Bytes(self.take(8)?),
            2 => {
                let n = usize::try_from(self.varint()?).map_err(|_| "length too large")?;
                Value::Bytes(self.take(n)?)
            }
            5 => Value::Fixed32(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes"))),
            w => return Err(format!("unsupported wire type {w} (field {})", key >> 3)),
        };
        Ok(Some((key >> 3, value)))
    }
}

impl ModelProto {
    /// Parses a serialized ModelProto.
    pub fn parse(bytes: &[u8]) -> Result<ModelProto, String> {
        let mut m = ModelProto::default();
        let mut r = Reader { buf: bytes, pos: 0 };
        while let Some((field, v)) = r.next().map_err(|e| format!("not a SentencePiece model: {e}"))? {
            match (field, v) {
                (1, Value::Bytes(b)) => m.pieces.push(parse_piece(b).map_err(|e| format!("piece {}: {e}", m.pieces.len()))?),
                (3, Value::Bytes(b)) => {
                    let mut n = Reader { buf: b, pos: 0 };
                    while let Some((f, v)) = n.next().map_err(|e| format!("normalizer_spec: {e}"))? {
                        if let (2, Value::Bytes(cm)) = (f, v) {
                            m.precompiled_charsmap = cm.to_vec();
                        }
                    }
                }
                (1 | 3, _) => return Err(format!("not a SentencePiece model: field {field} has the wrong wire type")),
                _ => {}
            }
        }
        Ok(m)
    }
}

fn parse_piece(b: &[u8]) -> Result<Piece, String> {
    let mut p = Piece { piece: String::new(), score: 0.0, kind: 1 };
    let mut r = Reader { buf: b, pos: 0 };
    while let Some((f, v)) = r.next()? {
        match (f, v) {
            (1, Value::Bytes(s)) => p.piece = String::from_utf8(s.to_vec()).map_err(|_| "piece text is not UTF-8")?,
            (2, Value::Fixed32(x)) => p.score = f32::from_bits(x),
            (3, Value::Varint(k)) => p.kind = k as u32,
            _ => {}
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pieces_and_rejects_truncation() {
        // piece "▁a" score -1.5 type 1, then a normalizer_spec with charsmap [1, 2]
        let mut piece = vec![0x0a, 4];
        piece.extend("▁a".as_bytes());
        piece.push(0x15);
        piece.extend((-1.5f32).to_le_bytes());
        piece.extend([0x18, 1]);
        let mut msg = vec![0x0a, piece.len() as u8];
        msg.extend(&piece);
        msg.extend([0x1a, 4, 0x12, 2, 1, 2]);
        let m = ModelProto::parse(&msg).unwrap();
        assert_eq!(m.pieces, [Piece { piece: "▁a".into(), score: -1.5, kind: 1 }]);
        assert_eq!(m.precompiled_charsmap, [1, 2]);
        assert!(ModelProto::parse(&msg[..msg.len() - 1]).is_err());
        assert!(ModelProto::parse(&[0x0a, 0xff]).is_err());
    }
}
