#include "reliability/crash_writers.hpp"

#include <unistd.h>

#include <map>
#include <span>
#include <stdexcept>

#include "reliability/crash_support.hpp"
#include "stsw/dump.hpp"
#include "stsw/tensor_meta.hpp"
#include "stsw/writer.hpp"

namespace stsw::reliability {

namespace {
constexpr std::size_t kChunk = 256 * 1024;
}  // namespace

std::vector<TensorSpec> generation_specs(int gen, bool sharded) {
  if (sharded) {  // the same layout in both generations: the same shard names
    std::vector<TensorSpec> s;
    for (std::uint64_t i = 0; i < 6; ++i) {
      s.push_back({"layer." + std::to_string(i) + ".w", DType::F32, {80 * 1024 + 7 * i}});
    }
    s.push_back({"bias", DType::BF16, {4097}});
    return s;
  }
  std::vector<TensorSpec> s = {{"embed", DType::BF16, {256, 1024}},
                               {"norm", DType::F32, {4099}},
                               {"scalar", DType::F64, {}},
                               {"empty", DType::U8, {0}},
                               {"head", DType::U8, {(1U << 20) + 123}}};
  if (gen == 1) s.push_back({"extra", DType::I32, {50000}});  // a different size
  return s;
}

std::vector<std::byte> tensor_bytes(const TensorSpec& t, int gen) {
  return seeded_bytes(byte_size(t.dtype, t.shape).value(),
                      static_cast<std::uint32_t>(gen * 1000 + t.name.size() * 31 +
                                                 static_cast<unsigned char>(t.name[0])));
}

namespace {
WriterOptions child_writer_options(int gen) {
  WriterOptions o;
  o.chunk_size = kChunk;  // a private engine: many requests per file, fast start
  o.buffer_count = 4;
  o.metadata = Metadata{{"generation", std::to_string(gen)}};
  return o;
}

}  // namespace

// Child: StreamWriter replacing model.safetensors; signals the marker before close().
void write_single(const std::string& dir, int gen, int marker_fd) {
  const std::vector<TensorSpec> specs = generation_specs(gen, false);
  const Layout layout = plan_layout(specs, LayoutOrder::Keep);
  std::map<std::string, std::vector<std::byte>> data;
  for (const TensorSpec& t : specs) data[t.name] = tensor_bytes(t, gen);
  auto w =
      StreamWriter::open(dir + "/model.safetensors", layout.tensors, child_writer_options(gen));
  for (const TensorMeta& t : layout.tensors) {
    const auto& b = data.at(t.name);
    for (std::size_t off = 0; off < b.size(); off += kChunk) {
      w.write_block(t.name, std::span(b).subspan(off, std::min(kChunk, b.size() - off))).get();
    }
  }
  if (::write(marker_fd, "c", 1) != 1) throw std::runtime_error("marker write failed");
  w.close().get();
}

namespace {

// Dumps generation `gen` (`sharded`: generation_specs' sharded set) to
// dir/model.safetensors with the children's writer options, in the specs' order.
void dump_generation(const std::string& dir, int gen, bool sharded) {
  const std::vector<TensorSpec> specs = generation_specs(gen, sharded);
  std::vector<std::vector<std::byte>> data;
  std::vector<TensorView> views;
  for (const TensorSpec& t : specs) data.push_back(tensor_bytes(t, gen));
  for (std::size_t i = 0; i < specs.size(); ++i) {
    views.push_back({specs[i].name, specs[i].dtype, specs[i].shape, data[i]});
  }
  DumpOptions o;
  static_cast<WriterOptions&>(o) = child_writer_options(gen);
  o.order = LayoutOrder::Keep;
  if (sharded) {
    o.metadata.reset();             // shards get {"format": "pt"}
    o.max_shard_size = 700 * 1024;  // three shards of two tensors, the last with "bias"
  }
  (void)dump(views, dir + "/model.safetensors", o);
}

}  // namespace

// Child: dump into three shards plus the index, replacing the previous set.
void write_sharded(const std::string& dir, int gen, int /*marker_fd*/) {
  dump_generation(dir, gen, true);
}

// Child: dump of one file (the sharded-set writer's single-file path) replacing a set.
void dump_single(const std::string& dir, int gen, int /*marker_fd*/) {
  dump_generation(dir, gen, false);
}

}  // namespace stsw::reliability
