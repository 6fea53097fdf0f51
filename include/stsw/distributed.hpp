// Multi-rank checkpoints: several processes (ranks) write one consolidated checkpoint (one
// safetensors file, or a sharded set in the Hugging Face layout) in parallel, each writing
// the byte ranges of the final files that it holds; the committing rank assembles every
// tensor's crc32 from the ranks' pieces (crc32_combine) and publishes the set atomically.
// Transport-independent: the messages between ranks are the plain structs below (strings,
// integers, vectors), which a caller carries over torch.distributed, MPI, or threads.
// Design notes: docs/distributed.md.
//
// The protocol (rank 0 is the coordinator; every step is deterministic):
//   1. every rank declares its pieces (RankDecl); the declarations are all-gathered;
//   2. every rank computes plan_save(all declarations) itself: the same SavePlan everywhere
//      (or the coordinator computes it and broadcasts the error when it throws);
//   3. the coordinator constructs a SaveCoordinator (picks the new shard names by the rules
//      of include/stsw/dump.hpp, creates one pre-sized hidden temporary file per shard next
//      to its final name) and broadcasts temp_files();
//   4. every rank calls write_rank(): pwrites its pieces into the temporary files through
//      the engine, fdatasyncs them, and returns a RankReport (never throws: a failure is a
//      report with ok == false); the reports are gathered on the coordinator;
//   5. the coordinator calls commit(reports): when every rank succeeded and the pieces tile
//      every tensor, it writes each header with the combined CRCs, syncs, renames the
//      temporary files to their shard names and replaces the index (the commit point).
//      Any failure (a rank's report, a gap, a diverged replica, I/O) throws and leaves the
//      previous checkpoint at `path` as it was; the temporary files are removed when the
//      SaveCoordinator is destroyed. The coordinator broadcasts the outcome to every rank.
// A rank that dies before step 5 leaves the previous checkpoint intact: the coordinator's
// collective fails (or times out) and the SaveCoordinator is destroyed; a coordinator that
// dies leaves hidden temporary files that the next writer of the same names removes.
#pragma once

#include "stsw/export.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "stsw/dtype.hpp"
#include "stsw/dump.hpp"
#include "stsw/engine.hpp"
#include "stsw/error.hpp"
#include "stsw/header.hpp"

namespace STSW_API stsw {
namespace dist {

// A contiguous byte range [begin, end) of a tensor's row-major bytes held by one rank. A
// row-sharded tensor (split along dimension 0) is one piece per rank; a replicated tensor
// is the whole range [0, nbytes) declared by several ranks (written once, by the lowest
// rank; the replicas' CRCs must agree).
struct PieceDecl {
  std::string name;
  DType dtype = DType::U8;
  std::vector<std::uint64_t> shape;  // the global shape
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
};

struct RankDecl {
  int rank = 0;
  std::vector<PieceDecl> pieces;
};

struct SaveOptions {
  // Shard when the tensors hold more than this many bytes (greedy in canonical order, as
  // stsw::dump); nullopt: one file.
  std::optional<std::uint64_t> max_shard_size;
  std::uint64_t align = 64;
  // nullopt: {"format": "pt"} when sharded, no "__metadata__" when one file (as dump).
  std::optional<Metadata> metadata;
  // fdatasync every file and fsync the directory before the commit point.
  bool durable = true;
};

// One write (or, for a replica that is not the writer, one CRC) a rank performs.
struct PieceWrite {
  int rank = 0;
  std::size_t piece = 0;   // index into that rank's RankDecl::pieces
  std::size_t tensor = 0;  // index into SavePlan::tensors
  std::size_t shard = 0;
  std::uint64_t file_offset = 0;  // where the piece's first byte goes in the shard file
  std::uint64_t begin = 0;        // the range within the tensor
  std::uint64_t end = 0;
  bool write = true;  // false: an identical range is written by a lower rank
};

struct PlannedShard {
  std::vector<TensorMeta> tensors;  // file order, data-region offsets, no crc32 yet
  std::uint64_t header_size = 0;    // N, with room for every crc32
  std::uint64_t data_size = 0;
  [[nodiscard]] std::uint64_t file_size() const noexcept { return 8 + header_size + data_size; }
};

struct PlannedTensor {
  std::string name;
  std::uint64_t nbytes = 0;
  std::size_t shard = 0;
  std::size_t index = 0;  // position in PlannedShard::tensors
};

struct SavePlan {
  std::vector<PlannedTensor> tensors;  // canonical order (the official writer's)
  std::vector<PlannedShard> shards;
  std::vector<PieceWrite> writes;  // sorted by (rank, piece)
  std::optional<Metadata> metadata;
  std::uint64_t align = 64;
  std::uint64_t total_size = 0;  // tensor bytes
};

// Plans the set from every rank's declarations (any order of `ranks`; the result depends
// only on their content). Throws Error naming the tensor, the ranks and the byte offset:
// InvalidArgument when ranks declare one name with different dtypes or shapes, when a
// range is empty-but-not-at-a-zero-size-tensor, reversed or past the tensor's end, when
// two different ranges overlap, or when the ranges leave a gap (they must tile every
// tensor exactly); DuplicateName when one rank declares one range twice; the errors of
// plan_layout (InvalidName, impossible shapes).
[[nodiscard]] SavePlan plan_save(const std::vector<RankDecl>& ranks, const SaveOptions& options);

// A rank's report of one piece: the CRC-32 of bytes [begin, end) of tensor `name`.
struct PieceReport {
  std::string name;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
  std::uint32_t crc = 0;
};

struct RankReport {
  int rank = 0;
  bool ok = true;
  Errc errc = Errc::Io;  // when !ok
  std::string error;     // when !ok: what() of the failure
  std::vector<PieceReport> pieces;
};

// The CRC of a whole tensor of `nbytes` from pieces reported by any ranks: identical ranges
// reported by several ranks must have one CRC (else CrcMismatch naming the tensor, the
// range and the ranks, `ranks[i]` being the rank of pieces[i]); the distinct ranges must
// tile [0, nbytes). Returns nullopt when they do not tile (a gap or an overlap): the
// caller decides whether that is an error (commit: yes; a partial load: nothing to check).
[[nodiscard]] std::optional<std::uint32_t> combine_pieces(const std::string& tensor,
                                                          std::uint64_t nbytes,
                                                          const std::vector<PieceReport>& pieces,
                                                          const std::vector<int>& ranks);

// The bytes of one of a rank's pieces for write_rank: `data` in caller memory, or, when
// `source` is set (`data` is then ignored), bytes [offset, offset + end - begin) of what
// `*source` returns: bytes made on demand (a contiguous copy of a strided tensor, a
// byte-order conversion, a device-to-host copy), with TensorView::source's contract
// (include/stsw/dump.hpp). Consecutive pieces may share one source (the same pointer: the
// runs of a column block share the block's copy). write_rank calls a source when the
// first piece using it is written, on the calling thread, never after a failure, and
// drops the returned owner once those pieces are staged (the blocks written O_DIRECT are
// copied into staging buffers; the head/tail blocks and short pieces written through the
// page cache are waited for) and before it calls the next source: a rank holds one
// sourced buffer at a time, whatever the number of its tensors. The owner is dropped on
// the calling thread, also after a failure (once the engine let go of the bytes). A
// source shared by pieces that are not consecutive is called again for each run of them.
struct PieceBytes {
  std::span<const std::byte> data;
  std::shared_ptr<const std::function<SourcedBytes()>> source;
  std::uint64_t offset = 0;
};

// Step 4: writes this rank's pieces (`data[i]`: the bytes of decl.pieces[i], exactly
// end - begin of them) into the coordinator's temporary files, computes their CRCs and,
// when `durable`, fdatasyncs the files it wrote. The blocks wholly inside a piece are
// written O_DIRECT where the file system allows it (staged through the engine's buffers
// when `data[i]` is not congruent with its file offset, or is sourced: at most the pool's
// buffer_count staged writes in flight, so a disk slower than the copies is waited for
// instead of growing the pool), the blocks shared with a neighbouring piece or the header
// through the page cache. Never throws: any
// failure (a missing file, a short buffer: LengthMismatch, I/O, an exception from a
// source: its kind, or Io, naming the tensor) is returned as ok == false. `engine`: null
// for Engine::shared(). The spans of `data` must stay valid until it returns.
[[nodiscard]] RankReport write_rank(const SavePlan& plan, int rank,
                                    const std::vector<std::string>& temp_files,
                                    const std::vector<PieceBytes>& data, bool durable,
                                    std::shared_ptr<Engine> engine = nullptr);
// The same with every piece in caller memory.
[[nodiscard]] RankReport write_rank(const SavePlan& plan, int rank,
                                    const std::vector<std::string>& temp_files,
                                    const std::vector<std::span<const std::byte>>& data,
                                    bool durable, std::shared_ptr<Engine> engine = nullptr);

struct SaveResult {
  std::vector<std::string> files;    // the safetensors files, in shard order
  std::optional<std::string> index;  // the index, when sharded
};

// Steps 3 and 5 on the coordinator. Not thread-safe; the temporary files it creates are
// written by other processes (or threads) between construction and commit().
class SaveCoordinator {
 public:
  // `path`: the destination file name ("dir/model.safetensors"); the shards and the index
  // are named as by stsw::dump. Throws the errors of the sharded-set writer and of creating
  // the temporary files (Io, NoSpace, InvalidArgument for a directory in the way).
  SaveCoordinator(const std::string& path, SavePlan plan, const SaveOptions& options);
  SaveCoordinator(const SaveCoordinator&) = delete;
  SaveCoordinator& operator=(const SaveCoordinator&) = delete;
  ~SaveCoordinator();  // removes the temporary files unless committed

  // The temporary file of each shard (hidden names in the destination directory).
  [[nodiscard]] const std::vector<std::string>& temp_files() const noexcept { return temp_; }
  [[nodiscard]] const SavePlan& plan() const noexcept { return plan_; }

  // Step 5. Throws Error: the first failed rank's kind, naming every failed rank and its
  // message; InvalidArgument when a rank is missing or a planned piece was not reported;
  // CrcMismatch for diverged replicas; Io / NoSpace. After a throw the previous checkpoint
  // is untouched (unless the index rename itself succeeded, see ShardSetWriter::publish).
  SaveResult commit(const std::vector<RankReport>& reports);

 private:
  struct Impl;
  SavePlan plan_;
  std::unique_ptr<Impl> impl_;
  std::vector<std::string> temp_;
};

}  // namespace dist
}  // namespace stsw
