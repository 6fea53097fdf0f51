#include <array>
#include <utility>

#include "reader/for_each.hpp"
#include "reader/read_ops.hpp"
#include "reader/reader_state.hpp"
#include "stsw/crc32.hpp"
#include "stsw/reader.hpp"

namespace stsw {

namespace {

constexpr std::array<std::pair<ReadMode, std::string_view>, 4> kModeNames = {{
    {ReadMode::Auto, "auto"},
    {ReadMode::Direct, "direct"},
    {ReadMode::Buffered, "buffered"},
    {ReadMode::Mmap, "mmap"},
}};

constexpr unsigned kDefaultBuffers = 4;

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

const Metadata& empty_metadata() {
  static const Metadata empty;
  return empty;
}

}  // namespace

std::string_view to_string(ReadMode mode) noexcept {
  for (const auto& [m, name] : kModeNames) {
    if (m == mode) return name;
  }
  return "unknown";
}

std::optional<ReadMode> parse_read_mode(std::string_view s) noexcept {
  for (const auto& [m, name] : kModeNames) {
    if (name == s) return m;
  }
  return std::nullopt;
}

StreamReader StreamReader::open(const std::string& path, const ReaderOptions& options) {
  if (options.chunk_size % 4096 != 0) {
    throw Error(Errc::InvalidArgument, "ReaderOptions::chunk_size " +
                                           std::to_string(options.chunk_size) +
                                           " is not a multiple of 4096");
  }
  auto state = std::make_shared<detail::ReaderState>();
  state->path = path;
  state->options = options;
  state->engine = options.engine ? options.engine : Engine::shared();
  state->options.engine = nullptr;  // held once, in state->engine
  state->buffer_size =
      options.chunk_size != 0 ? options.chunk_size : state->engine->options().chunk_size;
  state->buffer_count = options.buffer_count != 0 ? options.buffer_count : kDefaultBuffers;
  if (ends_with(path, ".json")) {
    detail::open_sharded_set(*state);
  } else {
    detail::open_single_file(*state);
  }
  return StreamReader(std::move(state));
}

StreamReader::StreamReader(std::shared_ptr<detail::ReaderState> state) : state_(std::move(state)) {}
StreamReader::StreamReader(StreamReader&& other) noexcept = default;
StreamReader& StreamReader::operator=(StreamReader&& other) noexcept = default;
StreamReader::~StreamReader() = default;

// The state of a reader that has not been moved from; throws InvalidState otherwise.
static const detail::ReaderState& checked(const std::shared_ptr<detail::ReaderState>& state) {
  if (!state) throw Error(Errc::InvalidState, "StreamReader: used after move");
  return *state;
}

std::vector<std::string> StreamReader::keys() const {
  const detail::ReaderState& st = checked(state_);
  std::vector<std::string> out;
  out.reserve(st.order.size());
  for (const auto& loc : st.order) out.push_back(st.meta(loc).name);
  return out;
}

std::size_t StreamReader::size() const noexcept { return state_ ? state_->order.size() : 0; }

bool StreamReader::contains(std::string_view name) const noexcept {
  return state_ && state_->find(name) != nullptr;
}

const TensorMeta& StreamReader::meta(std::string_view name) const {
  const detail::ReaderState& st = checked(state_);
  return st.meta(st.at(name));
}

const Metadata& StreamReader::metadata() const noexcept {
  if (!state_ || state_->shards.empty() || !state_->shards.front()->header.metadata) {
    return empty_metadata();
  }
  return *state_->shards.front()->header.metadata;
}

const Metadata& StreamReader::index_metadata() const noexcept {
  return state_ ? state_->index_metadata : empty_metadata();
}

const std::string& StreamReader::path() const noexcept {
  static const std::string empty;
  return state_ ? state_->path : empty;
}

bool StreamReader::sharded() const noexcept { return state_ && state_->sharded; }

std::vector<ShardInfo> StreamReader::shards() const {
  const detail::ReaderState& st = checked(state_);
  std::vector<ShardInfo> out;
  for (const auto& s : st.shards) out.push_back({s->path, s->file_size, s->data_offset(), s->mode});
  return out;
}

const Header& StreamReader::header(std::size_t shard) const {
  const detail::ReaderState& st = checked(state_);
  if (shard >= st.shards.size()) {
    throw Error(Errc::InvalidArgument, st.path + ": no shard " + std::to_string(shard));
  }
  return st.shards[shard]->header;
}

const std::string& StreamReader::file_of(std::string_view name) const {
  const detail::ReaderState& st = checked(state_);
  return st.shards[st.at(name).shard]->path;
}

Engine& StreamReader::engine() const { return *checked(state_).engine; }

std::span<const std::byte> StreamReader::get_slice(std::string_view name) const {
  const detail::ReaderState& st = checked(state_);
  const detail::TensorLoc& loc = st.at(name);
  const detail::Shard& s = *st.shards[loc.shard];
  const TensorMeta& m = st.meta(loc);
  const std::uint64_t end = s.abs_end(loc.index);
  if (end > s.file_size) {
    throw Error(Errc::Io, s.path + ": tensor '" + m.name + "' ends at offset " +
                              std::to_string(end) + ", beyond the end of the file (" +
                              std::to_string(s.file_size) + " bytes)");
  }
  const detail::Mapping& map = s.mapping();
  // Handing out a view of pages that no longer exist would SIGBUS in the caller.
  const std::uint64_t now = s.bfile.size();
  if (now < end) {
    throw Error(Errc::Io, s.path + ": the file is now " + std::to_string(now) +
                              " bytes but tensor '" + m.name + "' ends at offset " +
                              std::to_string(end) + " (truncated after open)");
  }
  const auto view = map.bytes().subspan(static_cast<std::size_t>(s.abs_begin(loc.index)),
                                        static_cast<std::size_t>(m.nbytes()));
  if (st.options.verify_crc && m.crc32) {
    auto& state = s.slice_state[loc.index];
    std::uint8_t v = state.load(std::memory_order_acquire);
    if (v != 1) {
      const std::uint32_t crc = crc32(view);
      v = crc == *m.crc32 ? 1 : 2;
      state.store(v, std::memory_order_release);
      if (v == 2) throw detail::crc_mismatch(s, m.name, *m.crc32, crc);
    }
  }
  return view;
}

void StreamReader::read_into(std::string_view name, std::span<std::byte> dst,
                             DoneCallback done) const {
  if (!state_) {
    done(std::make_exception_ptr(Error(Errc::InvalidState, "StreamReader: used after move")));
    return;
  }
  const detail::ReaderState& st = *state_;
  const detail::TensorLoc* loc = st.find(name);
  if (loc == nullptr) {
    detail::post_error(*st.engine, std::make_exception_ptr(st.unknown(name)), std::move(done));
    return;
  }
  const TensorMeta& m = st.meta(*loc);
  if (dst.size() != m.nbytes()) {
    detail::post_error(*st.engine,
                       std::make_exception_ptr(
                           Error(Errc::LengthMismatch,
                                 st.shards[loc->shard]->path + ": tensor '" + m.name + "' has " +
                                     std::to_string(m.nbytes()) + " bytes, the destination holds " +
                                     std::to_string(dst.size()))),
                       std::move(done));
    return;
  }
  detail::start_read(*st.engine, st.shards[loc->shard], loc->index, dst, st.options.verify_crc,
                     std::move(done));
}

std::future<void> StreamReader::read_into(std::string_view name, std::span<std::byte> dst) const {
  auto promise = std::make_shared<std::promise<void>>();
  auto future = promise->get_future();
  read_into(name, dst, [promise](std::exception_ptr err) {
    if (err) {
      promise->set_exception(err);
    } else {
      promise->set_value();
    }
  });
  return future;
}

void StreamReader::verify(VerifyCallback done) const {
  if (!state_) {
    done(std::make_exception_ptr(Error(Errc::InvalidState, "StreamReader: used after move")), {});
    return;
  }
  detail::start_verify(state_->engine, state_->shards, std::move(done));
}

std::future<VerifyReport> StreamReader::verify() const {
  auto promise = std::make_shared<std::promise<VerifyReport>>();
  auto future = promise->get_future();
  verify([promise](std::exception_ptr err, VerifyReport report) {
    if (err) {
      promise->set_exception(err);
    } else {
      promise->set_value(std::move(report));
    }
  });
  return future;
}

void StreamReader::for_each(const PieceCallback& callback) const {
  const detail::ReaderState& st = checked(state_);
  detail::run_for_each(*st.engine, st.shards, st.buffer_size, st.buffer_count,
                       st.options.verify_crc, callback);
}

}  // namespace stsw
