//! roberta-encoder
