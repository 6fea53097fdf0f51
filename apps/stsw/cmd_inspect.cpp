// `stsw inspect FILE...`: what a checkpoint declares (tensors, sizes, offsets, CRCs,
// metadata, validity), from the header alone.
#include <CLI/CLI.hpp>
#include <boost/json/serialize.hpp>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "checkpoint.hpp"
#include "checkpoint_json.hpp"
#include "commands.hpp"
#include "exit_codes.hpp"
#include "file_kind.hpp"
#include "report.hpp"
#include "stsw/tensor_meta.hpp"

namespace stsw::cli {
namespace {

struct InspectOptions {
  std::vector<std::string> files;
  bool json = false;
};

// Pads by bytes, which is close enough for the mostly-ASCII names of real checkpoints.
std::string pad(std::string s, std::size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

void print_tensor_table(const std::vector<TensorMeta>& tensors) {
  constexpr std::size_t kMaxNameWidth = 60;
  std::vector<std::array<std::string, 6>> rows;
  rows.push_back({"name", "dtype", "shape", "size", "offsets", "crc32"});
  for (const auto& t : tensors) {
    rows.push_back(
        {printable(t.name), std::string(to_string(t.dtype)), shape_string(t.shape),
         format_bytes(t.nbytes()),
         "[" + std::to_string(t.offset_begin) + ", " + std::to_string(t.offset_end) + ")",
         t.crc32 ? format_crc(*t.crc32) : "-"});
  }
  std::array<std::size_t, 6> width{};
  for (const auto& r : rows) {
    for (std::size_t c = 0; c < r.size(); ++c) width[c] = std::max(width[c], r[c].size());
  }
  width[0] = std::min(width[0], kMaxNameWidth);
  for (const auto& r : rows) {
    std::string line = " ";
    for (std::size_t c = 0; c < r.size(); ++c) {
      line += " " + (c + 1 < r.size() ? pad(r[c], width[c]) : r[c]) + (c + 1 < r.size() ? " " : "");
    }
    std::puts(line.c_str());
  }
}

std::string metadata_text(const std::optional<Metadata>& md) {
  if (!md) return "none";
  if (md->empty()) return "{} (empty)";
  std::string s;
  for (const auto& [k, v] : *md) {
    if (!s.empty()) s += ", ";
    s += printable(k) + "=" + printable(v);
  }
  return s;
}

void print_file_summary(const FileHeader& f) {
  const Header& h = f.header;
  std::printf("  tensors: %zu   data: %s   file: %s\n", h.tensors.size(),
              format_bytes(h.total_tensor_bytes()).c_str(), format_bytes(f.file_size).c_str());
  std::printf("  header: %llu bytes   data offset: %llu (aligned to %llu)\n",
              static_cast<unsigned long long>(h.header_size),
              static_cast<unsigned long long>(h.data_offset()),
              static_cast<unsigned long long>(alignment_of(h.data_offset())));
  std::printf("  metadata: %s\n", metadata_text(h.metadata).c_str());
  if (f.strict_valid) {
    std::puts("  valid: strict (the official safetensors loader accepts it)");
  } else {
    std::printf("  valid: lenient only (the official loader refuses it: %s)\n",
                printable(f.strict_error).c_str());
  }
  if (h.version) {
    std::printf("  written by: Python stsw (\"__version__\": \"%s\")\n",
                printable(*h.version).c_str());
  }
  if (h.incomplete) std::puts("  incomplete: yes (\"__incomplete__\": the writer did not finish)");
}

void print_checkpoint(const Checkpoint& cp) {
  if (!cp.sharded) {
    const FileHeader& f = cp.shards.front();
    std::printf("%s\n", printable(f.path).c_str());
    print_tensor_table(f.header.tensors);
    print_file_summary(f);
    return;
  }
  std::printf("%s (sharded checkpoint, %zu shards)\n", printable(cp.path).c_str(),
              cp.shards.size());
  for (const auto& s : cp.shards) {
    std::printf("\nshard %s\n", printable(s.path).c_str());
    print_tensor_table(s.header.tensors);
    print_file_summary(s);
  }
  std::printf("\ntotal: %zu tensors, %s in %zu shards; valid: %s\n", cp.tensor_count(),
              format_bytes(cp.tensor_bytes()).c_str(), cp.shards.size(),
              cp.strict_valid() ? "strict" : "lenient only");
  if (!cp.index_metadata.empty()) {
    std::printf("index metadata: %s\n",
                printable(boost::json::serialize(cp.index_metadata)).c_str());
  }
}

int run_inspect(const InspectOptions& opts) {
  int rc = kExitOk;
  bool first = true;
  for (const auto& path : opts.files) {
    try {
      const Checkpoint cp = load_checkpoint(path);
      if (opts.json) {
        std::puts(boost::json::serialize(checkpoint_json(cp)).c_str());
      } else {
        if (!first) std::putchar('\n');
        print_checkpoint(cp);
      }
    } catch (const std::exception& e) {
      if (opts.json) std::puts(boost::json::serialize(error_json(path, e)).c_str());
      print_error("inspect", error_text_with_hint(e, path));
      rc = worst(rc, kExitInvalid);
    }
    first = false;
    std::fflush(stdout);
  }
  return rc;
}

}  // namespace

Command register_inspect(CLI::App& parent) {
  auto opts = std::make_shared<InspectOptions>();
  CLI::App* app = parent.add_subcommand(
      "inspect",
      "Show the tensors (name, dtype, shape, size, offsets, CRC), metadata and validity of "
      "safetensors files or sharded index files (*.json), from their headers alone");
  app->add_option("files", opts->files, "safetensors files or model.safetensors.index.json")
      ->required();
  app->add_flag("--json", opts->json,
                "one JSON document per file, one per line: {path, header_size, data_offset, "
                "strict_valid, metadata, tensors: [{name, dtype, shape, data_offsets, nbytes, "
                "crc32}]}");
  return {app, [opts] { return run_inspect(*opts); }};
}

}  // namespace stsw::cli
