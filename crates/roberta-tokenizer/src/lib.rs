//! roberta-tokenizer
