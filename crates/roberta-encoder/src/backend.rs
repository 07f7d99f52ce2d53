//! Where the encoder runs: the f32 CPU encoder, or the CUDA one (f16 storage, f32 accumulation).
//! `Device::Auto` picks CUDA when a device is present, else the CPU.
use crate::config::Config;
use crate::error::{EncoderError, Result};
use crate::model::{BatchInput, EncoderOutput, RobertaModel};
use crate::weights::Weights;

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

/// An encoder on one backend; `forward` has the same contract on each.
pub enum Encoder {
    /// The CPU encoder.
    Cpu(RobertaModel),
}

impl Encoder {
    /// Loads the encoder on `device`; `Auto` says on stderr which backend it chose.
    pub fn load(config: &Config, weights: &Weights, device: Device) -> Result<Encoder> {
        match device {
            Device::Cpu => Ok(Encoder::Cpu(RobertaModel::load(config, weights)?)),
            Device::Cuda => Err(EncoderError::Input("CUDA backend not built yet: use --device cpu".into())),
            Device::Auto => {
                eprintln!("device auto: using the CPU (no CUDA backend in this build)");
                Ok(Encoder::Cpu(RobertaModel::load(config, weights)?))
            }
        }
    }

    /// Runs the encoder; returns the last hidden state (f32, on the host) and, when asked, every hidden state.
    pub fn forward(&self, input: &BatchInput, output_hidden_states: bool) -> Result<EncoderOutput> {
        match self {
            Encoder::Cpu(m) => m.forward(input, output_hidden_states),
        }
    }

    /// The configuration it was loaded with.
    pub fn config(&self) -> &Config {
        match self {
            Encoder::Cpu(m) => &m.config,
        }
    }

    /// Which backend this is, for messages.
    pub fn device_name(&self) -> &'static str {
        match self {
            Encoder::Cpu(_) => "cpu",
        }
    }
}
