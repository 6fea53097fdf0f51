// NumPy .npy files and .npz archives as SourcePlans.
#include <algorithm>
#include <cstring>
#include <utility>

#include "convert/entry_stream.hpp"
#include "convert/npy.hpp"
#include "convert/source.hpp"
#include "convert/zip_reader.hpp"
#include "stsw/error.hpp"

namespace stsw::cvt {

namespace {

StridedView array_view(const NpyHeader& h) {
  return StridedView{0, h.shape, h.fortran_order ? f_strides(h.shape) : c_strides(h.shape),
                     bit_size(h.dtype) / 8};
}

// True when the data is already in C order (Fortran order with at most one dimension
// larger than 1 is the same layout).
bool c_ordered(const NpyHeader& h) {
  if (!h.fortran_order) return true;
  return std::count_if(h.shape.begin(), h.shape.end(), [](std::uint64_t d) { return d > 1; }) <= 1;
}

NpyHeader header_from_range(const ByteRange& r) {
  std::uint64_t pos = 0;
  NpyHeader h = read_npy_header(
      [&](std::span<std::byte> dst) {
        r.read(pos, dst);
        pos += dst.size();
      },
      r.name);
  if (h.data_offset > r.size || h.data_size > r.size - h.data_offset) {
    throw Error(Errc::InvalidArgument, r.name + ": truncated: the array needs " +
                                           std::to_string(h.data_offset + h.data_size) +
                                           " bytes, the file holds " + std::to_string(r.size));
  }
  return h;
}

std::string stem_of(const std::string& path) {
  std::string base = path.substr(path.find_last_of('/') + 1);
  if (base.size() > 4 && base.substr(base.size() - 4) == ".npy") base.resize(base.size() - 4);
  return base;
}

// Streams a deflated C-order member: its data follows the header in the inflated bytes.
void stream_member(const ZipArchive& zip, const ZipEntry& entry, const NpyHeader& h,
                   ByteSink& sink) {
  EntryStream s(zip, entry);
  std::vector<std::byte> buf(std::size_t{1} << 20);
  std::uint64_t skip = h.data_offset;
  while (skip > 0) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(skip, buf.size()));
    s.read_exact(std::span(buf).first(n));
    skip -= n;
  }
  const unsigned es = bit_size(h.dtype) / 8;
  std::uint64_t left = h.data_size;
  while (left > 0) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(left, buf.size() / es * es));
    s.read_exact(std::span(buf).first(n));
    if (h.swap_unit > 1) byte_swap(std::span(buf).first(n), h.swap_unit);
    sink.write(std::span(buf).first(n));
    left -= n;
  }
  s.finish();  // size and CRC of the whole member
}

}  // namespace

SourcePlan open_npy(const std::string& path, const SourceOptions& options) {
  auto file = std::make_shared<InputFile>(InputFile::open(path));
  const ByteRange whole{file.get(), 0, file->size(), path};
  const NpyHeader h = header_from_range(whole);
  SourcePlan plan;
  plan.format = ConvertFormat::Npy;
  if (h.data_offset + h.data_size < file->size()) {
    plan.warnings.push_back(path + ": ignored " +
                            std::to_string(file->size() - h.data_offset - h.data_size) +
                            " bytes after the array data");
  }
  SourceTensor t;
  t.name = stem_of(path);
  t.dtype = h.dtype;
  t.shape = h.shape;
  t.produce = [range = ByteRange{file.get(), h.data_offset, h.data_size, path}, h,
               options](ByteSink& sink) {
    gather(range, array_view(h), h.swap_unit, sink, options.gather);
  };
  plan.tensors.push_back(std::move(t));
  plan.keep_alive.push_back(file);
  return plan;
}

SourcePlan open_npz(const std::string& path, const SourceOptions& options) {
  auto file = std::make_shared<InputFile>(InputFile::open(path));
  auto zip = std::make_shared<ZipArchive>(ZipArchive::open(*file));
  SourcePlan plan;
  plan.format = ConvertFormat::Npz;
  for (const ZipEntry& e : zip->entries()) {
    if (e.name.size() <= 4 || e.name.substr(e.name.size() - 4) != ".npy") {
      if (!e.name.empty() && e.name.back() != '/') {
        plan.warnings.push_back("skipped '" + e.name + "': not a .npy member");
      }
      continue;
    }
    SourceTensor t;
    t.name = e.name.substr(0, e.name.size() - 4);
    NpyHeader h;
    const ZipArchive* z = zip.get();
    const ZipEntry* entry = &e;
    if (e.method == 0) {
      const ByteRange r = zip->stored_range(e);
      h = header_from_range(r);
      t.produce = [range = ByteRange{file.get(), r.offset + h.data_offset, h.data_size, r.name}, h,
                   options](ByteSink& sink) {
        gather(range, array_view(h), h.swap_unit, sink, options.gather);
      };
    } else {
      EntryStream s(*zip, e);
      h = read_npy_header([&](std::span<std::byte> dst) { s.read_exact(dst); }, s.describe());
      if (h.data_offset + h.data_size != e.uncompressed_size) {
        throw Error(Errc::InvalidArgument, s.describe() + ": the array needs " +
                                               std::to_string(h.data_offset + h.data_size) +
                                               " bytes, the member holds " +
                                               std::to_string(e.uncompressed_size));
      }
      if (c_ordered(h)) {
        t.produce = [z, entry, h](ByteSink& sink) { stream_member(*z, *entry, h, sink); };
      } else {
        t.produce = [z, entry, h, options](ByteSink& sink) {
          auto tmp = inflate_to_temp(*z, *entry, options.temp_dir);
          const ByteRange range{tmp.get(), h.data_offset, h.data_size, z->describe(*entry)};
          gather(range, array_view(h), h.swap_unit, sink, options.gather);
        };
      }
    }
    t.dtype = h.dtype;
    t.shape = h.shape;
    plan.tensors.push_back(std::move(t));
  }
  // An archive without members (np.savez(f)) converts to a file without tensors; members
  // that are all something else are most likely not NumPy at all.
  if (plan.tensors.empty() && !zip->entries().empty()) {
    throw Error(Errc::InvalidArgument, path + ": the archive holds no .npy members");
  }
  plan.keep_alive.push_back(zip);
  plan.keep_alive.push_back(file);
  return plan;
}

}  // namespace stsw::cvt
