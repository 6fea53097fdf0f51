// stsw::dump: plans files and shards and streams in-memory tensors through StreamWriters.
#include "stsw/dump.hpp"

#include <algorithm>
#include <unordered_map>

#include "codec/text.hpp"
#include "stsw/error.hpp"
#include "writer/dump_control.hpp"
#include "writer/shard_plan.hpp"
#include "writer/shard_set_writer.hpp"

namespace stsw {

namespace {

// Blocks handed to a writer at once: the granularity of progress reports and stop checks.
constexpr std::size_t kDumpBlock = std::size_t{64} << 20;

void check_size(const std::string& path, const std::string& name, std::size_t have,
                std::uint64_t need) {
  if (have != need) {
    throw Error(Errc::LengthMismatch,
                path + ": tensor " + codec::quote(name) + " has " + std::to_string(have) +
                    " bytes of data, shape x dtype needs " + std::to_string(need));
  }
}

// Writes the views `which` (indices into `views`) to one file.
void write_file(const std::vector<TensorView>& views, const std::vector<std::size_t>& which,
                const std::string& path, const DumpOptions& options,
                const WriterOptions& writer_options, writer::DumpTracker& tracker) {
  tracker.check(path);
  std::vector<TensorSpec> specs;
  specs.reserve(which.size());
  std::unordered_map<std::string_view, const TensorView*> by_name;
  for (std::size_t i : which) {
    specs.push_back({views[i].name, views[i].dtype, views[i].shape});
    by_name.emplace(views[i].name, &views[i]);
  }
  const Layout layout = plan_layout(specs, options.order, writer_options.align,
                                    writer_options.metadata, writer_options.crc32);
  // The bytes of the last sourced tensor (TensorView::source) and the futures of its blocks:
  // declared before `w`, so that a failure aborts `w` (which lets go of queued blocks)
  // before the bytes are dropped.
  SourcedBytes sourced;
  std::vector<std::future<void>> sourced_staged;
  const auto drop_sourced = [&] {
    for (auto& f : sourced_staged) f.get();
    sourced_staged.clear();
    sourced = {};
  };
  StreamWriter w = StreamWriter::open(path, layout.tensors, writer_options);
  std::vector<std::future<void>> staged;
  staged.reserve(layout.tensors.size());
  for (const TensorMeta& t : layout.tensors) {
    const TensorView& view = *by_name.at(t.name);
    std::span<const std::byte> data = view.data;
    if (view.source) {
      drop_sourced();  // at most one sourced tensor alive: the previous one is staged
      tracker.check(path);
      sourced = view.source();
      check_size(path, view.name, sourced.data.size(), t.nbytes());
      data = sourced.data;
    }
    std::vector<std::future<void>>& into = view.source ? sourced_staged : staged;
    std::size_t off = 0;
    do {                    // once for an empty tensor
      tracker.check(path);  // a stop destroys `w` unclosed: it aborts, `path` stays as it was
      const std::size_t n = std::min(kDumpBlock, data.size() - off);
      into.push_back(w.write_block(t.name, data.subspan(off, n)));
      off += n;
      tracker.add(n, off == data.size() ? 1 : 0, 0);
    } while (off < data.size());
  }
  drop_sourced();
  for (auto& f : staged) f.get();
  tracker.check(path);
  w.close().get();
  tracker.add(0, 0, 1);
}

std::shared_ptr<Engine> resolve_engine(const DumpOptions& options) {
  if (options.engine) return options.engine;
  if (options.chunk_size == 0 && options.buffer_count == 0) return Engine::shared();
  EngineOptions eo;
  if (options.chunk_size != 0) eo.chunk_size = options.chunk_size;
  if (options.buffer_count != 0) eo.buffer_count = options.buffer_count;
  return Engine::create(eo);
}

}  // namespace

DumpResult dump(const std::vector<TensorView>& tensors, const std::string& path,
                const DumpOptions& options) {
  return dump(tensors, path, options, DumpControl{});
}

DumpResult dump(const std::vector<TensorView>& tensors, const std::string& path,
                const DumpOptions& options, const DumpControl& control) {
  std::vector<std::uint64_t> sizes;
  sizes.reserve(tensors.size());
  std::unordered_map<std::string_view, std::size_t> seen;  // shards are planned separately
  for (const TensorView& t : tensors) {
    if (!seen.emplace(t.name, sizes.size()).second) {
      throw Error(Errc::DuplicateName,
                  path + ": tensor " + codec::quote(t.name) + " appears twice");
    }
    const std::optional<std::uint64_t> n = byte_size(t.dtype, t.shape);
    if (n && !t.source) check_size(path, t.name, t.data.size(), *n);  // sources: once made
    sizes.push_back(n.value_or(0));  // impossible shapes are reported by plan_layout
  }

  WriterOptions wo = options;
  wo.engine = resolve_engine(options);
  const std::vector<std::vector<std::size_t>> shards =
      writer::plan_shards(sizes, options.max_shard_size.value_or(UINT64_MAX));
  std::uint64_t bytes_total = 0;
  for (std::uint64_t n : sizes) bytes_total += n;
  writer::DumpTracker tracker(control, bytes_total, tensors.size(),
                              shards.size() == 1 ? 1 : shards.size() + 1);
  writer::ShardSetWriter set(path, shards.size(), options.durable);
  unsigned parallel = 1;
  if (shards.size() > 1) {
    if (!wo.metadata) wo.metadata = Metadata{{"format", "pt"}};
    const unsigned pool = wo.engine->options().buffer_count;
    parallel = static_cast<unsigned>(std::clamp<std::size_t>(
        options.parallel_shards, 1,
        std::max<std::size_t>(1, std::min<std::size_t>(shards.size(), pool))));
    if (parallel > 1) {
      // Together the writers must hold fewer buffers than the pool, or they could wait on
      // each other forever.
      const unsigned share = std::max(1U, pool / parallel);
      wo.buffer_count = wo.buffer_count != 0 ? std::min(wo.buffer_count, share) : share;
    }
  }
  set.write(parallel, [&](std::size_t s) {
    write_file(tensors, shards[s], set.file(s), options, wo, tracker);
  });

  std::vector<std::pair<std::string, std::size_t>> weight_map;
  std::uint64_t total = 0;
  for (std::size_t s = 0; s < shards.size(); ++s) {
    for (std::size_t i : shards[s]) {
      weight_map.emplace_back(tensors[i].name, s);
      total += sizes[i];
    }
  }
  if (set.size() > 1) tracker.check(path);  // the index is next
  DumpResult result;
  result.index = set.publish(weight_map, total);
  result.files = set.files();
  if (set.size() > 1) tracker.add(0, 0, 1);
  return result;
}

}  // namespace stsw
