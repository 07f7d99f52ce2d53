//! roberta-gpu
