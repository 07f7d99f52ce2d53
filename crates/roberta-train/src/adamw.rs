//! AdamW as torch's `torch.optim.AdamW` (decoupled weight decay `p ← p·(1 − lr·wd)`, bias-corrected moments,
//! `eps` added to the corrected root), `clip_grad_norm_`, and Trainer's linear schedule with warm-up.
use crate::model::Param;
use rayon::prelude::*;

/// AdamW's state and hyper-parameters (torch's defaults: betas 0.9 / 0.999, eps 1e-8).
pub struct AdamW {
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    t: i32,
}

impl AdamW {
    /// State for these parameters.
    pub fn new(params: &[Param], weight_decay: f32) -> AdamW {
        AdamW {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
            m: params.iter().map(|p| vec![0.0; p.data.len()]).collect(),
            v: params.iter().map(|p| vec![0.0; p.data.len()]).collect(),
            t: 0,
        }
    }

    /// One step at learning rate `lr` (decay only on the parameters marked `decay`, as Trainer's groups).
    pub fn step(&mut self, params: &mut [Param], lr: f32) {
        self.t += 1;
        let (b1, b2, eps) = (self.beta1, self.beta2, self.eps);
        let bc1 = 1.0 - (b1 as f64).powi(self.t);
        let bc2 = 1.0 - (b2 as f64).powi(self.t);
        let step_size = (lr as f64 / bc1) as f32;
        let bc2_sqrt = bc2.sqrt() as f32;
        for ((p, m), v) in params.iter_mut().zip(&mut self.m).zip(&mut self.v) {
            let wd = if p.decay { self.weight_decay } else { 0.0 };
            let decay = 1.0 - lr * wd;
            p.data.par_iter_mut().zip(p.grad.par_iter()).zip(m.par_iter_mut().zip(v.par_iter_mut())).for_each(|((x, &g), (mm, vv))| {
                *x *= decay;
                *mm = b1 * *mm + (1.0 - b1) * g;
                *vv = b2 * *vv + (1.0 - b2) * g * g;
                let denom = vv.sqrt() / bc2_sqrt + eps;
                *x -= step_size * *mm / denom;
            });
        }
    }
}

/// `torch.nn.utils.clip_grad_norm_(params, max_norm)`: scales every gradient by `max_norm / (‖g‖ + 1e-6)` when
/// that is below 1; returns the norm before clipping.
pub fn clip_grad_norm(params: &mut [Param], max_norm: f32) -> f32 {
    let sq: f64 = params.iter().map(|p| p.grad.par_iter().map(|&g| g as f64 * g as f64).sum::<f64>()).sum();
    let norm = sq.sqrt() as f32;
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
        for p in params.iter_mut() {
            p.grad.par_iter_mut().for_each(|g| *g *= coef);
        }
    }
    norm
}

/// Trainer's `get_linear_schedule_with_warmup`: the factor of the base learning rate at optimizer step `step`
/// (0-based): `step / warmup` during warm-up, then linear decay to 0 at `total`.
pub fn linear_schedule(step: usize, warmup: usize, total: usize) -> f32 {
    if step < warmup {
        return step as f32 / warmup.max(1) as f32;
    }
    ((total.saturating_sub(step)) as f32 / total.saturating_sub(warmup).max(1) as f32).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_as_transformers() {
        // total 10, warm-up 2: 0, .5, then 8/8 .. 1/8
        let f: Vec<f32> = (0..10).map(|s| linear_schedule(s, 2, 10)).collect();
        assert_eq!(f[0], 0.0);
        assert_eq!(f[1], 0.5);
        assert_eq!(f[2], 1.0);
        assert!((f[9] - 0.125).abs() < 1e-7);
        assert_eq!(linear_schedule(3, 0, 4), 0.25);
    }

    #[test]
    fn one_adamw_step_by_hand() {
        let mut ps = vec![Param { name: "w".into(), data: vec![1.0, -2.0], grad: vec![0.5, -0.25], decay: true, parts: vec![] }];
        let mut opt = AdamW::new(&ps, 0.1);
        opt.step(&mut ps, 0.01);
        // t=1: m = 0.1 g, v = 0.001 g², m̂ = g, v̂ = g² → update lr·g/(|g| + eps) = ±0.01; decay first: p·(1 − 0.001)
        assert!((ps[0].data[0] - (1.0 * 0.999 - 0.01)).abs() < 1e-6);
        assert!((ps[0].data[1] - (-2.0 * 0.999 + 0.01)).abs() < 1e-6);
    }

    #[test]
    fn clipping_scales_to_the_max_norm() {
        let mut ps = vec![Param { name: "w".into(), data: vec![0.0; 2], grad: vec![3.0, 4.0], decay: false, parts: vec![] }];
        let n = clip_grad_norm(&mut ps, 1.0);
        assert_eq!(n, 5.0);
        assert!((ps[0].grad[0] - 0.6).abs() < 1e-6 && (ps[0].grad[1] - 0.8).abs() < 1e-6);
        let n = clip_grad_norm(&mut ps, 10.0);
        assert!((n - 1.0).abs() < 1e-6 && (ps[0].grad[0] - 0.6).abs() < 1e-6);
    }
}
