//! roberta
