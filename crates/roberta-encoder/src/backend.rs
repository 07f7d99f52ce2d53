//! Where the encoder runs: the f32 CPU encoder, or the CUDA one (f16 storage, f32 accumulation).
//! `Device::Auto` picks CUDA when a device is present, else the CPU.
use crate::batch::{BatchInput, EncoderOutput, TokenRows};
use crate::config::Config;
use crate::cuda::{CudaModel, CudaOptions};
use crate::error::Result;
use crate::matmul::CpuOptions;
use crate::model::RobertaModel;
use roberta_checkpoint::TensorSource;

/// The device a user asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Device {
    /// The CPU, f32.
    #[default]
    Cpu,
    /// An NVIDIA GPU.
    Cuda,
    /// CUDA when present, else the CPU.
    Auto,
}

impl std::str::FromStr for Device {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda),
            "auto" => Ok(Device::Auto),
            _ => Err(format!("unknown device {s:?} (cpu, cuda or auto)")),
        }
    }
}

/// How each backend is set up (the libraries read no environment: the runner fills these).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EncoderOptions {
    /// The CPU encoder's kernels.
    pub cpu: CpuOptions,
    /// The CUDA encoder's graphs and kernel sources.
    pub cuda: CudaOptions,
}

/// An encoder on one backend; `forward` has the same contract on each.
#[allow(clippy::large_enum_variant)] // one per loaded model: boxing would only add an indirection
pub enum Encoder {
    /// The CPU encoder.
    Cpu(RobertaModel),
    /// The CUDA encoder.
    Cuda(CudaModel),
}

impl Encoder {
    /// Loads the encoder on `device`, reading the checkpoint tensor by tensor from `src`; with `Auto`, which
    /// backend it chose and why goes to the `log` facade (info level).
    pub fn load(config: &Config, src: &dyn TensorSource, device: Device) -> Result<Encoder> {
        Self::load_with(config, src, device, &EncoderOptions::default())
    }

    /// [`Encoder::load`] with each backend's options.
    pub fn load_with(config: &Config, src: &dyn TensorSource, device: Device, opts: &EncoderOptions) -> Result<Encoder> {
        let (cpu, cuda) = (&opts.cpu, &opts.cuda);
        if cpu.dtype != crate::matmul::CpuDType::F32 {
            match device {
                Device::Cuda => {
                    return Err(crate::EncoderError::Options(format!(
                        "dtype {} runs on the CPU only (the CUDA encoder computes in f16): use --device cpu or drop --dtype",
                        cpu.dtype.name()
                    )))
                }
                Device::Auto => {
                    log::info!("device auto: using the CPU (dtype {} runs on the CPU only)", cpu.dtype.name());
                    return Ok(Encoder::Cpu(RobertaModel::load_with(config, src, cpu)?));
                }
                Device::Cpu => {}
            }
        }
        match device {
            Device::Cpu => Ok(Encoder::Cpu(RobertaModel::load_with(config, src, cpu)?)),
            Device::Cuda => Ok(Encoder::Cuda(CudaModel::load_with(config, src, cuda)?)),
            Device::Auto => {
                if !roberta_gpu::driver_present() {
                    log::info!("device auto: using the CPU (no CUDA driver)");
                    return Ok(Encoder::Cpu(RobertaModel::load_with(config, src, cpu)?));
                }
                match CudaModel::load_with(config, src, cuda) {
                    Ok(m) => {
                        log::info!("device auto: using CUDA ({})", m.describe());
                        Ok(Encoder::Cuda(m))
                    }
                    Err(e) => {
                        log::info!("device auto: using the CPU ({e})");
                        Ok(Encoder::Cpu(RobertaModel::load_with(config, src, cpu)?))
                    }
                }
            }
        }
    }

    /// Runs the encoder; returns the last hidden state (f32, on the host) and, when asked, every hidden state.
    pub fn forward(&self, input: &BatchInput, output_hidden_states: bool) -> Result<EncoderOutput> {
        match self {
            Encoder::Cpu(m) => m.forward(input, output_hidden_states),
            Encoder::Cuda(m) => m.forward(input, output_hidden_states),
        }
    }

    /// The last hidden state of the real tokens only, sequence after sequence ([`TokenRows`]); the masks must be
    /// right padding (ones, then zeros). On CUDA the batch runs packed and no padded tensor is built.
    pub fn forward_tokens(&self, input: &BatchInput) -> Result<TokenRows> {
        match self {
            Encoder::Cpu(m) => m.forward_tokens(input),
            Encoder::Cuda(m) => m.forward_tokens(input),
        }
    }

    /// The last hidden state at positions `(b, t)` only, `[rows.len()·hidden]` (e.g. the MLM head's mask
    /// positions); on CUDA nothing else leaves the device as f32.
    pub fn forward_rows(&self, input: &BatchInput, rows: &[(usize, usize)]) -> Result<Vec<f32>> {
        match self {
            Encoder::Cpu(m) => {
                let h = m.config.hidden_size;
                if let Some(&(b, t)) = rows.iter().find(|&&(b, t)| b >= input.batch || t >= input.seq_len) {
                    return Err(crate::EncoderError::Input(format!(
                        "row ({b}, {t}) outside the {}×{} batch",
                        input.batch, input.seq_len
                    )));
                }
                let out = m.forward(input, false)?.last_hidden_state;
                Ok(rows.iter().flat_map(|&(b, t)| out[(b * input.seq_len + t) * h..][..h].iter().copied()).collect())
            }
            Encoder::Cuda(m) => m.forward_rows(input, rows),
        }
    }

    /// The configuration it was loaded with.
    pub fn config(&self) -> &Config {
        match self {
            Encoder::Cpu(m) => &m.config,
            Encoder::Cuda(m) => &m.config,
        }
    }

    /// The device it runs on, for messages: `cpu`, or the CUDA device's [`CudaModel::describe`]
    /// (`cuda:0 NVIDIA H200 (sm_90)`, `emulated sm_90`).
    pub fn device_description(&self) -> String {
        match self {
            // f32 says `cpu` alone, as before int8 existed (scripts match the line); int8 names its kernel
            Encoder::Cpu(m) if m.dtype_description() == "f32" => "cpu".into(),
            Encoder::Cpu(m) => format!("cpu, {}", m.dtype_description()),
            Encoder::Cuda(m) => m.describe(),
        }
    }

    /// The CPU encoder's word embeddings, to share with a tied masked-LM decoder (None on CUDA, where they
    /// live on the device).
    pub fn word_embeddings(&self) -> Option<crate::model::WordEmbeddings> {
        match self {
            Encoder::Cpu(m) => Some(m.word_embeddings()),
            Encoder::Cuda(_) => None,
        }
    }

    /// Which backend this is, for messages: `cpu` or `cuda`.
    pub fn device_name(&self) -> &'static str {
        match self {
            Encoder::Cpu(_) => "cpu",
            Encoder::Cuda(_) => "cuda",
        }
    }
}
