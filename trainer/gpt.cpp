#include "trainer/gpt.h"

#include <cmath>
#include <cstring>
#include <stdexcept>

#include "trainer/kernels.h"
#include "trainer/rng.h"

namespace bulwark::train {

namespace k = kernels;

GptLayout::GptLayout(const ModelConfig& m) {
  const size_t V = m.vocab_size, T = m.seq_len, C = m.d_model;
  Add("wte", V * C, true);
  Add("wpe", T * C, false);
  for (int l = 0; l < m.n_layers; ++l) {
    const std::string p = "h" + std::to_string(l) + ".";
    Add(p + "ln1.w", C, false);
    Add(p + "ln1.b", C, false);
    Add(p + "attn.qkv.w", 3 * C * C, true);
    Add(p + "attn.qkv.b", 3 * C, false);
    Add(p + "attn.proj.w", C * C, true);
    Add(p + "attn.proj.b", C, false);
    Add(p + "ln2.w", C, false);
    Add(p + "ln2.b", C, false);
    Add(p + "mlp.fc.w", 4 * C * C, true);
    Add(p + "mlp.fc.b", 4 * C, false);
    Add(p + "mlp.proj.w", 4 * C * C, true);
    Add(p + "mlp.proj.b", C, false);
  }
  Add("lnf.w", C, false);
  Add("lnf.b", C, false);
}

size_t GptLayout::Add(const std::string& name, size_t size, bool decay) {
  tensors_.push_back({name, total_, size, decay});
  total_ += size;
  return tensors_.back().offset;
}

const TensorSlot& GptLayout::Find(const std::string& name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return t;
  throw std::out_of_range("no tensor named " + name);
}

// Pointers to one layer's tensors inside a flat vector (parameters or gradients).
struct Gpt::Layer {
  float *ln1w, *ln1b, *qkvw, *qkvb, *projw, *projb, *ln2w, *ln2b, *fcw, *fcb, *fcprojw, *fcprojb;
};

Gpt::Layer Gpt::LayerView(const float* base, int l) const {
  // The layout puts a layer's 12 tensors next to each other, in this order.
  auto* p = const_cast<float*>(base) + layout_.Find("h" + std::to_string(l) + ".ln1.w").offset;
  const size_t C = config_.d_model;
  Layer v{};
  float** fields[] = {&v.ln1w, &v.ln1b, &v.qkvw, &v.qkvb, &v.projw,   &v.projb,
                      &v.ln2w, &v.ln2b, &v.fcw,  &v.fcb,  &v.fcprojw, &v.fcprojb};
  const size_t sizes[] = {C, C, 3 * C * C, 3 * C, C * C, C, C, C, 4 * C * C, 4 * C, 4 * C * C, C};
  for (int i = 0; i < 12; ++i) {
    *fields[i] = p;
    p += sizes[i];
  }
  return v;
}

Gpt::Gpt(const ModelConfig& config, int batch) : config_(config), batch_(batch), layout_(config) {
  const size_t B = batch, T = config.seq_len, C = config.d_model, L = config.n_layers, NH = config.n_heads;
  const size_t BT = B * T, V = config.vocab_size;
  encoded_.resize(BT * C);
  residual_.resize(L * BT * C);  // input of each layer
  ln1_.resize(L * BT * C);
  ln1_mean_.resize(L * BT);
  ln1_rstd_.resize(L * BT);
  qkv_.resize(L * BT * 3 * C);
  atty_.resize(L * BT * C);
  att_.resize(L * B * NH * T * T);
  attproj_.resize(BT * C);
  residual2_.resize(L * BT * C);
  ln2_.resize(L * BT * C);
  ln2_mean_.resize(L * BT);
  ln2_rstd_.resize(L * BT);
  fch_.resize(L * BT * 4 * C);
  fch_gelu_.resize(L * BT * 4 * C);
  fcproj_.resize(BT * C);
  lnf_.resize(BT * C);
  lnf_mean_.resize(BT);
  lnf_rstd_.resize(BT);
  logits_.resize(BT * V);
  dresidual_.resize(BT * C);
  dln_.resize(BT * C);
  dqkv_.resize(BT * 3 * C);
  datty_.resize(BT * C);
  dfch_.resize(BT * 4 * C);
  dfch_gelu_.resize(BT * 4 * C);
  dlnf_.resize(BT * C);
  scratch_.resize(T);
}

void Gpt::Initialize(float* params, uint64_t seed) const {
  SplitMix64 rng(seed);
  const float residual_std = 0.02f / std::sqrt(2.0f * config_.n_layers);
  for (const auto& t : layout_.tensors()) {
    float* p = params + t.offset;
    const bool is_norm_weight = t.name.ends_with("ln1.w") || t.name.ends_with("ln2.w") || t.name == "lnf.w";
    if (is_norm_weight) {
      for (size_t i = 0; i < t.size; ++i) p[i] = 1.0f;
    } else if (t.name.ends_with(".b")) {
      std::memset(p, 0, t.size * sizeof(float));
    } else {
      const bool residual_proj = t.name.ends_with("attn.proj.w") || t.name.ends_with("mlp.proj.w");
      const float std = residual_proj ? residual_std : 0.02f;
      for (size_t i = 0; i < t.size; i += 2) {
        double a, b;
        rng.NormalPair(&a, &b);
        p[i] = static_cast<float>(a) * std;
        if (i + 1 < t.size) p[i + 1] = static_cast<float>(b) * std;
      }
    }
  }
}

double Gpt::ForwardBackward(const float* params, float* grads, const int32_t* inputs, const int32_t* targets) {
  const int B = batch_, T = config_.seq_len, C = config_.d_model, L = config_.n_layers, NH = config_.n_heads;
  const int V = config_.vocab_size;
  const size_t BT = (size_t)B * T, BTC = BT * C;
  const float* wte = params + layout_.Find("wte").offset;
  const float* wpe = params + layout_.Find("wpe").offset;
  const float* lnfw = params + layout_.Find("lnf.w").offset;
  const float* lnfb = params + layout_.Find("lnf.b").offset;

  // ---- forward ----
  k::EncoderForward(encoded_.data(), inputs, wte, wpe, B, T, C);
  const float* x = encoded_.data();
  for (int l = 0; l < L; ++l) {
    Layer p = LayerView(params, l);
    float* res = residual_.data() + l * BTC;
    std::memcpy(res, x, BTC * sizeof(float));
    float* ln1 = ln1_.data() + l * BTC;
    float* qkv = qkv_.data() + l * BTC * 3;
    float* atty = atty_.data() + l * BTC;
    float* att = att_.data() + (size_t)l * B * NH * T * T;
    float* res2 = residual2_.data() + l * BTC;
    float* ln2 = ln2_.data() + l * BTC;
    float* fch = fch_.data() + l * BTC * 4;
    float* fch_gelu = fch_gelu_.data() + l * BTC * 4;
    k::LayerNormForward(ln1, ln1_mean_.data() + l * BT, ln1_rstd_.data() + l * BT, res, p.ln1w, p.ln1b, BT, C);
    k::MatmulForward(qkv, ln1, p.qkvw, p.qkvb, BT, C, 3 * C);
    k::AttentionForward(atty, att, qkv, B, T, C, NH);
    k::MatmulForward(attproj_.data(), atty, p.projw, p.projb, BT, C, C);
    for (size_t i = 0; i < BTC; ++i) res2[i] = res[i] + attproj_[i];
    k::LayerNormForward(ln2, ln2_mean_.data() + l * BT, ln2_rstd_.data() + l * BT, res2, p.ln2w, p.ln2b, BT, C);
    k::MatmulForward(fch, ln2, p.fcw, p.fcb, BT, C, 4 * C);
    k::GeluForward(fch_gelu, fch, BTC * 4);
    k::MatmulForward(fcproj_.data(), fch_gelu, p.fcprojw, p.fcprojb, BT, 4 * C, C);
    // The next layer's input: reuse encoded_ as the running residual stream.
    for (size_t i = 0; i < BTC; ++i) encoded_[i] = res2[i] + fcproj_[i];
    x = encoded_.data();
  }
  k::LayerNormForward(lnf_.data(), lnf_mean_.data(), lnf_rstd_.data(), x, lnfw, lnfb, BT, C);
  k::MatmulForward(logits_.data(), lnf_.data(), wte, nullptr, BT, C, V);
  const double loss_sum =
      k::CrossEntropyForwardBackward(logits_.data(), targets, BT, V, 1.0f / static_cast<float>(BT));

  // ---- backward ----
  std::memset(grads, 0, layout_.parameter_count() * sizeof(float));
  float* dwte = grads + layout_.Find("wte").offset;
  float* dwpe = grads + layout_.Find("wpe").offset;
  std::fill(dlnf_.begin(), dlnf_.end(), 0.f);
  k::MatmulBackward(dlnf_.data(), dwte, nullptr, logits_.data(), lnf_.data(), wte, BT, C, V);
  std::fill(dresidual_.begin(), dresidual_.end(), 0.f);
  k::LayerNormBackward(dresidual_.data(), grads + layout_.Find("lnf.w").offset, grads + layout_.Find("lnf.b").offset,
                       dlnf_.data(), x, lnfw, lnf_mean_.data(), lnf_rstd_.data(), BT, C);
  for (int l = L - 1; l >= 0; --l) {
    Layer p = LayerView(params, l);
    Layer g = LayerView(grads, l);
    const float* res = residual_.data() + l * BTC;
    const float* ln1 = ln1_.data() + l * BTC;
    const float* qkv = qkv_.data() + l * BTC * 3;
    const float* atty = atty_.data() + l * BTC;
    const float* att = att_.data() + (size_t)l * B * NH * T * T;
    const float* res2 = residual2_.data() + l * BTC;
    const float* ln2 = ln2_.data() + l * BTC;
    const float* fch = fch_.data() + l * BTC * 4;
    const float* fch_gelu = fch_gelu_.data() + l * BTC * 4;
    // dresidual_ holds d(output of layer l); it flows unchanged into both residual branches.
    std::fill(dfch_gelu_.begin(), dfch_gelu_.end(), 0.f);
    k::MatmulBackward(dfch_gelu_.data(), g.fcprojw, g.fcprojb, dresidual_.data(), fch_gelu, p.fcprojw, BT, 4 * C, C);
    std::fill(dfch_.begin(), dfch_.end(), 0.f);
    k::GeluBackward(dfch_.data(), fch, dfch_gelu_.data(), BTC * 4);
    std::fill(dln_.begin(), dln_.end(), 0.f);
    k::MatmulBackward(dln_.data(), g.fcw, g.fcb, dfch_.data(), ln2, p.fcw, BT, C, 4 * C);
    k::LayerNormBackward(dresidual_.data(), g.ln2w, g.ln2b, dln_.data(), res2, p.ln2w, ln2_mean_.data() + l * BT,
                         ln2_rstd_.data() + l * BT, BT, C);
    std::fill(datty_.begin(), datty_.end(), 0.f);
    k::MatmulBackward(datty_.data(), g.projw, g.projb, dresidual_.data(), atty, p.projw, BT, C, C);
    std::fill(dqkv_.begin(), dqkv_.end(), 0.f);
    k::AttentionBackward(dqkv_.data(), scratch_.data(), datty_.data(), qkv, att, B, T, C, NH);
    std::fill(dln_.begin(), dln_.end(), 0.f);
    k::MatmulBackward(dln_.data(), g.qkvw, g.qkvb, dqkv_.data(), ln1, p.qkvw, BT, C, 3 * C);
    k::LayerNormBackward(dresidual_.data(), g.ln1w, g.ln1b, dln_.data(), res, p.ln1w, ln1_mean_.data() + l * BT,
                         ln1_rstd_.data() + l * BT, BT, C);
  }
  k::EncoderBackward(dwte, dwpe, dresidual_.data(), inputs, B, T, C);
  return loss_sum / static_cast<double>(BT);
}

double Gpt::FlopsPerStep() const {
  const double B = batch_, T = config_.seq_len, C = config_.d_model, L = config_.n_layers, V = config_.vocab_size;
  const double matmul_params = L * 12.0 * C * C + V * C;  // weights touched by matmuls
  const double attention_forward = L * 2.0 * T * T * C;    // QKᵀ and AV over the causal half
  return 6.0 * B * T * matmul_params + 3.0 * B * attention_forward;  // backward costs 2× forward
}

}  // namespace bulwark::train
