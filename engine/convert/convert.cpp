// stsw::convert: plans the output (files, shards, layout) from a SourcePlan and streams
// every tensor through a StreamWriter window by window.
#include "stsw/convert.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <unordered_map>

#include "convert/cast.hpp"
#include "convert/range_copy.hpp"
#include "convert/source.hpp"
#include "core/logging.hpp"
#include "reader/shard_index.hpp"
#include "stsw/error.hpp"
#include "stsw/writer.hpp"
#include "writer/shard_plan.hpp"
#include "writer/shard_set_writer.hpp"
#include "writer/target_file.hpp"

namespace stsw {

namespace {

constexpr std::uint64_t kProgressStep = std::uint64_t{64} << 20;

// Counts copied bytes and tensors, calling on_progress every kProgressStep bytes and after
// every tensor.
class ProgressMeter {
 public:
  ProgressMeter(ConvertProgress& progress, const ConvertOptions& options)
      : progress_(progress), options_(options) {}
  void bytes(std::uint64_t n) {
    progress_.bytes_done += n;
    since_report_ += n;
    if (options_.on_progress && since_report_ >= kProgressStep) {
      since_report_ = 0;
      options_.on_progress(progress_);
    }
  }
  void tensor_done() {
    ++progress_.tensors_done;
    if (options_.on_progress) options_.on_progress(progress_);
  }

 private:
  ConvertProgress& progress_;
  const ConvertOptions& options_;
  std::uint64_t since_report_ = 0;
};

// Feeds one tensor of a StreamWriter through its zero-copy windows, reporting progress.
class WriterSink : public cvt::ByteSink {
 public:
  WriterSink(StreamWriter& w, const std::string& name, ProgressMeter& meter)
      : w_(w), name_(name), meter_(meter) {}
  std::span<std::byte> window(std::size_t max) override { return w_.window(name_, max); }
  void commit(std::size_t n) override {
    w_.commit_window(n);
    meter_.bytes(n);
  }

 private:
  StreamWriter& w_;
  const std::string& name_;
  ProgressMeter& meter_;
};

// Whether the reader of the copied ranges reads through the page cache on every shard
// (ReadMode::Auto found the input cached, or its file system has no O_DIRECT).
bool reads_cached(const cvt::SourcePlan& plan, const std::vector<std::size_t>& which) {
  const StreamReader* seen = nullptr;  // the ranges of a plan share its reader
  for (std::size_t i : which) {
    const auto& range = plan.tensors[i].range;
    if (!range || range->reader.get() == seen) continue;
    seen = range->reader.get();
    for (const ShardInfo& s : seen->shards()) {
      if (s.mode == ReadMode::Direct) return false;
    }
  }
  return true;
}

// Tensors with a reader range go through the RangeCopier (reads overlapping writes, across
// tensors; unless the engine's pool is capped at one buffer); the others through their
// producer, after the copier drained (the writer takes tensors in order).
void write_one_file(cvt::SourcePlan& plan, const std::vector<std::size_t>& which,
                    const std::string& path, const ConvertOptions& options, const WriterOptions& wo,
                    ConvertProgress& progress) {
  std::vector<TensorSpec> specs;
  std::unordered_map<std::string_view, cvt::SourceTensor*> by_name;
  for (std::size_t i : which) {
    cvt::SourceTensor& t = plan.tensors[i];
    specs.push_back({t.name, t.dtype, t.shape});
    by_name.emplace(t.name, &t);
  }
  const Layout layout = plan_layout(specs, options.order, wo.align, wo.metadata, wo.crc32);
  // The copier's ring borrows pool buffers: the writer gets the rest of the registered set,
  // so that the two never make the pool grow (range_copy.hpp). A pool capped at one buffer
  // (the writer's) has none for a ring: the tensors then go through their producers.
  WriterOptions copy_wo = wo;
  const std::shared_ptr<Engine> engine = wo.engine ? wo.engine : Engine::shared();
  const unsigned pool = engine->options().buffer_count;
  const bool use_copier = engine->stats().buffers_max >= 2;
  unsigned ring = 0;
  if (use_copier && std::any_of(which.begin(), which.end(),
                                [&](std::size_t i) { return plan.tensors[i].range.has_value(); })) {
    const bool cached = reads_cached(plan, which);
    ring = cvt::RangeCopier::ring_slots(pool, cached);
    copy_wo.engine = engine;
    copy_wo.buffer_count = cvt::RangeCopier::writer_buffers(pool, cached);
    detail::logger().debug("{}: a copy ring of {} buffers, the writer {} (input read {})", path,
                           ring, copy_wo.buffer_count,
                           cached ? "through the page cache" : "O_DIRECT");
  }
  StreamWriter w = StreamWriter::open(path, layout.tensors, copy_wo);
  ProgressMeter meter(progress, options);
  cvt::RangeCopier copier(
      w, *engine, ring, wo.crc32, [&](std::uint64_t n, const std::string* finished) {
        meter.bytes(n);
        if (finished == nullptr) return;
        progress.tensor = by_name.find(*finished)->first;  // the plan's name: outlives the call
        meter.tensor_done();
      });
  try {
    for (const TensorMeta& m : layout.tensors) {
      progress.tensor = m.name;
      cvt::SourceTensor& t = *by_name.at(m.name);
      if (use_copier && t.range) {
        copier.add(m.name, *t.range, m.nbytes());
        continue;
      }
      copier.drain();
      WriterSink sink(w, m.name, meter);
      t.produce(sink);
      w.finalize_tensor(m.name);
      meter.tensor_done();
    }
    copier.drain();
  } catch (...) {
    w.abort();  // fails the copier's queued blocks; the copier then waits for its reads
    throw;
  }
  w.close().get();
}

// The files a conversion reads: `input`, and the shards an input index names.
std::vector<std::string> input_files(const std::string& input) {
  std::vector<std::string> files = {input};
  if (input.size() < 5 || input.compare(input.size() - 5, 5, ".json") != 0) return files;
  try {
    std::string dir, base;
    writer::split_path(input, dir, base);
    const detail::ShardIndex index = detail::parse_index(detail::read_index_file(input), input);
    for (const std::string& n : index.shard_names) files.push_back(dir + "/" + n);
  } catch (const Error&) {
    // Opened by the source already; a file that changed since only loses this protection.
  }
  return files;
}

// Converting a file onto itself (the same name, a hard link or a symlink to it) replaces the
// input with the output. A safetensors input is read in full before the rename, so that is a
// safe re-layout; any other input would be lost: refuse before anything is written.
void refuse_converting_onto_input(const std::string& input, const std::string& output,
                                  ConvertFormat format) {
  if (format == ConvertFormat::Safetensors) return;
  struct stat in {};
  struct stat out {};
  if (::stat(input.c_str(), &in) != 0 || ::stat(output.c_str(), &out) != 0) return;
  if (in.st_dev != out.st_dev || in.st_ino != out.st_ino) return;
  throw Error(Errc::InvalidArgument,
              output + ": the output is the input file " + input +
                  " (the same file, by name or through a link); converting a " +
                  std::string(to_string(format)) +
                  " file onto itself would destroy it: choose another output");
}

cvt::SourcePlan open_source(const std::string& input, ConvertFormat format,
                            const cvt::SourceOptions& so) {
  if ((format == ConvertFormat::Auto || format == ConvertFormat::Torch) &&
      cvt::is_torch_index(input)) {
    return cvt::open_torch_index(input, so);
  }
  switch (format) {
    case ConvertFormat::Torch: return cvt::open_torch(input, so);
    case ConvertFormat::Npy: return cvt::open_npy(input, so);
    case ConvertFormat::Npz: return cvt::open_npz(input, so);
    case ConvertFormat::Safetensors: return cvt::open_safetensors(input, so);
    case ConvertFormat::Auto: break;
  }
  return open_source(input, cvt::detect_format(input), so);
}

// Stores tensors holding the same bytes once (ConvertOptions::deduplicate_shared): the
// first name by bytes is kept, as the official save_model keeps sorted(names)[0]; the
// others are dropped from the plan and recorded as {dropped, kept}.
std::vector<std::pair<std::string, std::string>> drop_aliases(cvt::SourcePlan& plan) {
  std::unordered_map<std::string, std::string> kept;  // alias key -> kept name (copies:
                                                      // the tensors move below)
  for (const cvt::SourceTensor& t : plan.tensors) {
    if (t.alias_key.empty()) continue;
    auto [it, fresh] = kept.emplace(t.alias_key, t.name);
    if (!fresh && t.name < it->second) it->second = t.name;
  }
  std::vector<std::pair<std::string, std::string>> aliases;
  std::vector<cvt::SourceTensor> tensors;
  for (cvt::SourceTensor& t : plan.tensors) {
    if (!t.alias_key.empty()) {
      const std::string& keep = kept.at(t.alias_key);
      if (keep != t.name) {
        aliases.emplace_back(t.name, keep);
        continue;
      }
    }
    tensors.push_back(std::move(t));
  }
  plan.tensors = std::move(tensors);
  std::sort(aliases.begin(), aliases.end());
  return aliases;
}

}  // namespace

std::string_view to_string(ConvertFormat format) noexcept {
  switch (format) {
    case ConvertFormat::Auto: return "auto";
    case ConvertFormat::Torch: return "torch";
    case ConvertFormat::Npy: return "npy";
    case ConvertFormat::Npz: return "npz";
    case ConvertFormat::Safetensors: return "safetensors";
  }
  return "unknown";
}

ConvertResult convert(const std::string& requested_input, const std::string& output,
                      const ConvertOptions& options) {
  const std::string input = cvt::resolve_model_dir(requested_input).value_or(requested_input);
  if (!options.key.empty() && options.format != ConvertFormat::Auto &&
      options.format != ConvertFormat::Torch) {
    throw Error(Errc::InvalidArgument, "--key applies to PyTorch checkpoints only");
  }
  std::string dir, base;
  writer::split_path(output, dir, base);
  cvt::SourceOptions so;
  so.key = options.key;
  so.temp_dir = options.temp_dir.empty() ? dir : options.temp_dir;
  so.gather = cvt::GatherOptions{options.gather_chunk_bytes, options.gather_window_bytes};
  so.engine = options.engine;
  cvt::SourcePlan plan = open_source(input, options.format, so);
  if (!options.key.empty() && plan.format != ConvertFormat::Torch) {
    throw Error(Errc::InvalidArgument, input + ": --key applies to PyTorch checkpoints only");
  }

  refuse_converting_onto_input(input, output, plan.format);

  ConvertResult result;
  result.format = plan.format;
  result.input = input;
  result.warnings = plan.warnings;
  if (options.on_warning) {
    for (const auto& w : plan.warnings) options.on_warning(w);
  }

  Metadata md;
  if (options.keep_input_metadata && plan.metadata) md = *plan.metadata;
  for (const auto& [k, v] : options.metadata) md[k] = v;
  if (options.dtype) {
    if (!cvt::is_cast_target(*options.dtype)) {
      throw Error(Errc::InvalidArgument, "--dtype " + std::string(to_string(*options.dtype)) +
                                             ": floating tensors can be cast to F32, F16 or "
                                             "BF16 only");
    }
    for (cvt::SourceTensor& t : plan.tensors) {
      if (!cvt::is_cast_source(t.dtype) || t.dtype == *options.dtype) continue;
      t.produce = cvt::cast_producer(std::move(t.produce), t.dtype, *options.dtype);
      t.range.reset();  // the bytes change: the producer path only
      t.dtype = *options.dtype;
    }
  }
  if (options.deduplicate_shared) {
    // A plan holds the aliases' bytes once whether they were deduplicated here or not: the
    // plan's tensors are all that is read below (the dropped ones are never produced).
    result.aliases = drop_aliases(plan);
    for (const auto& [dropped, kept] : result.aliases) md.emplace(dropped, kept);
  }
  if (md.find("format") == md.end()) md["format"] = "pt";

  WriterOptions wo;
  wo.crc32 = options.crc32;
  wo.align = options.align;
  wo.metadata = md;
  wo.durable = options.durable;
  wo.io_mode = options.io_mode;
  wo.engine = options.engine;

  std::vector<std::uint64_t> sizes;
  ConvertProgress progress;
  progress.tensors_total = plan.tensors.size();
  for (const auto& t : plan.tensors) {
    const std::optional<std::uint64_t> n = byte_size(t.dtype, t.shape);
    if (!n) {
      throw Error(Errc::ValidationOverflow, input + ": tensor '" + t.name + "' is too large");
    }
    sizes.push_back(*n);
    progress.bytes_total += *n;
  }
  const auto shards = writer::plan_shards(sizes, options.max_shard_size.value_or(UINT64_MAX));
  writer::ShardSetWriter set(output, shards.size(), options.durable, input_files(input));
  set.write(1, [&](std::size_t s) {
    write_one_file(plan, shards[s], set.file(s), options, wo, progress);
  });
  std::vector<std::pair<std::string, std::size_t>> weight_map;
  for (std::size_t s = 0; s < shards.size(); ++s) {
    for (std::size_t i : shards[s]) weight_map.emplace_back(plan.tensors[i].name, s);
  }
  result.index = set.publish(weight_map, progress.bytes_total);
  result.files = set.files();
  result.tensors = plan.tensors.size();
  result.bytes = progress.bytes_total;
  return result;
}

}  // namespace stsw
