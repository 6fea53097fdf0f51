// PyTorch zip checkpoints as a SourcePlan, and inflating entries to temporary files.
#include <utility>

#include "convert/entry_stream.hpp"
#include "convert/source.hpp"
#include "convert/torch_checkpoint.hpp"
#include "stsw/error.hpp"

namespace stsw::cvt {

std::shared_ptr<InputFile> inflate_to_temp(const ZipArchive& zip, const ZipEntry& entry,
                                           const std::string& dir) {
  auto tmp = std::make_shared<InputFile>(InputFile::temporary(dir));
  EntryStream s(zip, entry);
  std::vector<std::byte> buf(std::size_t{1} << 20);
  for (;;) {
    const std::size_t n = s.read(buf);
    if (n == 0) break;
    tmp->append(std::span(buf).first(n));
  }
  s.finish();
  return tmp;
}

namespace {

// Equal keys: the same bytes (one storage entry, one view, one dtype).
std::string alias_key(const TorchTensor& t, unsigned swap) {
  std::string key = t.storage->name + "|" + std::string(to_string(t.dtype)) + "|" +
                    std::to_string(swap) + "|" + std::to_string(t.view.offset) + "|";
  for (std::size_t i = 0; i < t.view.shape.size(); ++i) {
    key += std::to_string(t.view.shape[i]) + ":" + std::to_string(t.view.stride[i]) + ",";
  }
  key += "|";
  for (const std::uint64_t d : t.shape) key += std::to_string(d) + ",";
  return key;
}

}  // namespace

SourcePlan open_torch(const std::string& path, const SourceOptions& options) {
  auto file = std::make_shared<InputFile>(InputFile::open(path));
  auto zip = std::make_shared<ZipArchive>(ZipArchive::open(*file));
  TorchCheckpoint ck = read_torch_checkpoint(*zip, options.key);
  SourcePlan plan;
  plan.format = ConvertFormat::Torch;
  plan.warnings = std::move(ck.warnings);
  for (TorchTensor& t : ck.tensors) {
    const unsigned esize = t.view.element_size;
    const unsigned swap = ck.big_endian && esize > 1 ? (t.dtype == DType::C64 ? 4 : esize) : 0;
    SourceTensor s;
    s.name = t.name;
    s.dtype = t.dtype;
    s.shape = t.shape;
    const ZipEntry* entry = t.storage;
    s.alias_key = alias_key(t, swap);
    s.produce = [zip = zip.get(), entry, view = std::move(t.view), swap, options](ByteSink& sink) {
      if (entry->method == 0) {
        gather(zip->stored_range(*entry), view, swap, sink, options.gather);
        return;
      }
      // torch.save stores entries; a re-compressed archive needs random access, so the
      // storage is inflated to a temporary file first.
      auto tmp = inflate_to_temp(*zip, *entry, options.temp_dir);
      gather(ByteRange{tmp.get(), 0, tmp->size(), zip->describe(*entry)}, view, swap, sink,
             options.gather);
    };
    plan.tensors.push_back(std::move(s));
  }
  plan.keep_alive.push_back(zip);
  plan.keep_alive.push_back(file);
  return plan;
}

}  // namespace stsw::cvt
