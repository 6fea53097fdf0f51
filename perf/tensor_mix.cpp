#include "tensor_mix.hpp"

#include <string>

#include "stsw/error.hpp"
#include "stsw/tensor_meta.hpp"
#include "units.hpp"

namespace stsw::bench {
namespace {

// Per-layer tensors of a Llama-style block with grouped-query attention (kv = h / 4)
// and an MLP of width 4h, in BF16, plus the tiny norms and biases.
void add_layer(std::vector<TensorSpec>& out, unsigned layer, std::uint64_t h) {
  const std::string p = "model.layers." + std::to_string(layer) + ".";
  const std::uint64_t kv = h / 4;
  const std::uint64_t ffn = 4 * h;
  out.push_back({p + "self_attn.q_proj.weight", DType::BF16, {h, h}});
  out.push_back({p + "self_attn.k_proj.weight", DType::BF16, {kv, h}});
  out.push_back({p + "self_attn.v_proj.weight", DType::BF16, {kv, h}});
  out.push_back({p + "self_attn.o_proj.weight", DType::BF16, {h, h}});
  out.push_back({p + "self_attn.q_proj.bias", DType::BF16, {h}});
  out.push_back({p + "self_attn.k_proj.bias", DType::BF16, {kv}});
  out.push_back({p + "self_attn.v_proj.bias", DType::BF16, {kv}});
  out.push_back({p + "mlp.gate_proj.weight", DType::BF16, {ffn, h}});
  out.push_back({p + "mlp.up_proj.weight", DType::BF16, {ffn, h}});
  out.push_back({p + "mlp.down_proj.weight", DType::BF16, {h, ffn}});
  out.push_back({p + "input_layernorm.weight", DType::BF16, {h}});
  out.push_back({p + "post_attention_layernorm.weight", DType::BF16, {h}});
  out.push_back({p + "self_attn.rotary_emb.inv_freq", DType::F32, {64}});
}

std::uint64_t layer_bytes(std::uint64_t h) {
  std::vector<TensorSpec> one;
  add_layer(one, 0, h);
  return total_bytes(one);
}

std::vector<TensorSpec> llm_mix(std::uint64_t total) {
  if (total < (std::uint64_t{1} << 20)) {
    throw Error(Errc::InvalidArgument,
                "llm mix needs at least 1 MiB (asked for " + format_bytes(total) + ")");
  }
  const std::uint64_t vocab = total >= (std::uint64_t{1} << 30) ? 128256 : 32000;
  const std::uint64_t emb_per_h = 2 * vocab * 2;  // embed_tokens + lm_head, BF16
  // The widest hidden size (multiple of 64) that leaves room for 16 layers.
  std::uint64_t h = 64;
  while (emb_per_h * (h + 64) + 16 * layer_bytes(h + 64) <= total) h += 64;
  // Small files: shrink the vocabulary until the embeddings fit beside a few layers.
  std::uint64_t v = vocab;
  while (2 * v * h * 2 + 4 * layer_bytes(h) > total && v > 256) v /= 2;
  std::vector<TensorSpec> out;
  out.push_back({"model.embed_tokens.weight", DType::BF16, {v, h}});
  out.push_back({"lm_head.weight", DType::BF16, {v, h}});
  out.push_back({"model.norm.weight", DType::BF16, {h}});
  std::uint64_t used = total_bytes(out);
  const std::uint64_t per_layer = layer_bytes(h);
  unsigned layers = 0;
  while (used + per_layer <= total) {
    add_layer(out, layers++, h);
    used += per_layer;
  }
  return out;
}

}  // namespace

std::uint64_t total_bytes(const std::vector<TensorSpec>& tensors) {
  std::uint64_t sum = 0;
  for (const auto& t : tensors) sum += byte_size(t.dtype, t.shape).value_or(0);
  return sum;
}

std::optional<TensorMix> parse_mix(std::string_view text) noexcept {
  if (text == "llm") return TensorMix{TensorMix::Kind::Llm, 0};
  constexpr std::string_view kUniform = "uniform:";
  if (text.substr(0, kUniform.size()) == kUniform) {
    auto size = parse_size(text.substr(kUniform.size()));
    if (!size || *size == 0) return std::nullopt;
    return TensorMix{TensorMix::Kind::Uniform, *size};
  }
  return std::nullopt;
}

std::string to_string(const TensorMix& mix) {
  if (mix.kind == TensorMix::Kind::Llm) return "llm";
  return "uniform:" + format_size_short(mix.tensor_size);
}

std::vector<TensorSpec> generate_mix(const TensorMix& mix, std::uint64_t total) {
  if (mix.kind == TensorMix::Kind::Llm) return llm_mix(total);
  if (mix.tensor_size == 0 || mix.tensor_size > total) {
    throw Error(Errc::InvalidArgument, "uniform mix: tensor size " + format_bytes(mix.tensor_size) +
                                           " does not fit in " + format_bytes(total));
  }
  const std::uint64_t count = total / mix.tensor_size;
  std::vector<TensorSpec> out;
  out.reserve(count);
  for (std::uint64_t i = 0; i < count; ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "tensor.%06llu", static_cast<unsigned long long>(i));
    out.push_back({name, DType::U8, {mix.tensor_size}});
  }
  return out;
}

}  // namespace stsw::bench
