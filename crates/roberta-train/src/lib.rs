//! roberta-train: fine-tuning RoBERTa-family encoders with a token- or sequence-classification head on the CPU,
//! with HF Trainer's semantics. [`ops`] holds every op's forward beside its backward.
pub mod ops;
