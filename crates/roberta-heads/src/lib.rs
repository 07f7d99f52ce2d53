//! roberta-heads
