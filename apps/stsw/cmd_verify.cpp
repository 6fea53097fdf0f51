// `stsw verify FILE...`: reads every tensor once at disk speed and checks its stored
// CRC-32; one line per problem, then a summary per file.
#include <CLI/CLI.hpp>
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "checkpoint.hpp"
#include "commands.hpp"
#include "exit_codes.hpp"
#include "file_kind.hpp"
#include "progress.hpp"
#include "report.hpp"
#include "stsw/reader.hpp"

namespace stsw::cli {
namespace {

struct VerifyOptions {
  std::vector<std::string> files;
  bool json = false;
  bool require_crc = false;
  bool strict = false;
  bool no_progress = false;
  std::string io_mode = "auto";
};

std::string check_line(const TensorCheck& c) {
  std::string line = c.file + ": tensor '" + c.name + "': ";
  if (c.status == TensorStatus::Mismatch) {
    line += "CrcMismatch (expected " + (c.expected ? format_crc(*c.expected) : "-") + ", got " +
            format_crc(c.actual) + ")";
  } else {
    line += std::string(to_string(c.status)) + " (" + std::to_string(c.nbytes) +
            " bytes lie beyond the end of the file)";
  }
  return printable(line);
}

boost::json::object check_json(const TensorCheck& c) {
  boost::json::object o;
  o["name"] = utf8_safe(c.name);
  o["file"] = utf8_safe(c.file);
  o["status"] = std::string(to_string(c.status));
  if (c.expected) {
    o["expected"] = *c.expected;
  } else {
    o["expected"] = nullptr;
  }
  o["actual"] = c.actual;
  o["nbytes"] = c.nbytes;
  return o;
}

// Opens `path` for verify. The reader parses every header once; only when it refuses
// the file is it loaded again with load_checkpoint, whose error (the official loader's
// kind, IncompleteFile for an unfinished Python stsw file) is the one reported.
StreamReader open_for_verify(const std::string& path, ReadMode mode) {
  ReaderOptions ro;
  ro.strict = false;  // Python stsw files verify too; --strict judges validity separately
  ro.io_mode = mode;
  try {
    return StreamReader::open(path, ro);
  } catch (const Error&) {
    (void)load_checkpoint(path, /*allow_partial=*/false);
    throw;
  }
}

// Verifies one file or sharded set; prints its problems and summary. Returns its exit code.
int verify_one(const std::string& path, const VerifyOptions& opts, ReadMode mode) {
  const StreamReader reader = open_for_verify(path, mode);
  const std::size_t shard_count = reader.shards().size();
  std::uint64_t tensor_bytes = 0;
  bool strict_valid = true;
  for (std::size_t i = 0; i < shard_count; ++i) {
    tensor_bytes += reader.header(i).total_tensor_bytes();
    strict_valid = strict_valid && reader.header(i).strict_valid;
  }
  const std::uint64_t baseline = reader.engine().stats().bytes_completed;
  ProgressBar bar(
      path.substr(path.rfind('/') + 1), tensor_bytes, !opts.json && !opts.no_progress,
      [&reader, baseline] { return reader.engine().stats().bytes_completed - baseline; });
  const VerifyReport report = reader.verify().get();
  bar.finish();

  std::vector<std::string> problems;
  for (const TensorCheck* c : report.failures()) problems.push_back(check_line(*c));
  if (opts.require_crc && report.unchecked > 0) {
    problems.push_back(printable(path) + ": " + std::to_string(report.unchecked) + " of " +
                       std::to_string(report.tensors.size()) +
                       " tensors have no crc32 (--require-crc)");
  }
  if (opts.strict && !strict_valid) {
    const auto shards = reader.shards();
    for (std::size_t i = 0; i < shard_count; ++i) {
      if (reader.header(i).strict_valid) continue;
      // Only here, for the reason's text, is a header parsed a second time.
      const FileHeader s = load_file_header(shards[i].path, /*allow_partial=*/false);
      problems.push_back(printable(s.path) + ": the official loader would refuse it (--strict): " +
                         printable(s.strict_error));
    }
  }
  const bool passed = problems.empty() && report.passed();

  if (opts.json) {
    boost::json::object o;
    o["path"] = utf8_safe(path);
    o["passed"] = passed;
    o["sharded"] = reader.sharded();
    o["strict_valid"] = strict_valid;
    o["tensor_count"] = report.tensors.size();
    o["ok"] = report.ok;
    o["mismatched"] = report.mismatched;
    o["unchecked"] = report.unchecked;
    o["missing"] = report.missing;
    o["bytes"] = report.bytes;
    o["seconds"] = report.seconds;
    boost::json::array p, n, t;
    for (const auto& s : problems) p.emplace_back(utf8_safe(s));
    for (const auto& s : report.notes) n.emplace_back(utf8_safe(s));
    for (const auto& c : report.tensors) t.emplace_back(check_json(c));
    o["problems"] = std::move(p);
    o["notes"] = std::move(n);
    o["tensors"] = std::move(t);
    std::puts(boost::json::serialize(o).c_str());
  } else {
    for (const auto& line : problems) std::puts(line.c_str());
    if (!report.passed() || !passed) {
      for (const auto& note : report.notes) {
        std::printf("%s: note: %s\n", printable(path).c_str(), printable(note).c_str());
      }
    }
    if (!opts.require_crc && report.unchecked > 0 && report.ok == 0 && report.mismatched == 0) {
      std::printf(
          "%s: note: no tensor carries a crc32, so only readability was checked "
          "(--require-crc fails such files)\n",
          printable(path).c_str());
    }
    std::printf(
        "%s: %s: %zu tensors, %zu checksums match, %zu mismatched, %zu without checksum; "
        "%s in %.3f s (%s)\n",
        printable(path).c_str(), passed ? "OK" : "FAILED", report.tensors.size(), report.ok,
        report.mismatched, report.unchecked, format_bytes(report.bytes).c_str(), report.seconds,
        format_rate(report.bytes, report.seconds).c_str());
  }
  std::fflush(stdout);
  return passed ? kExitOk : kExitVerifyFailed;
}

int run_verify(const VerifyOptions& opts) {
  const auto mode = parse_read_mode(opts.io_mode);
  int rc = kExitOk;
  std::size_t passed = 0, failed = 0, unreadable = 0;
  for (const auto& path : opts.files) {
    int file_rc = kExitInvalid;
    try {
      file_rc = verify_one(path, opts, mode.value_or(ReadMode::Auto));
    } catch (const std::exception& e) {
      if (opts.json) {
        boost::json::object o;
        o["path"] = utf8_safe(path);
        o["passed"] = false;
        o["error"] = boost::json::object{{"kind", error_kind(e)},
                                         {"message", utf8_safe(error_text(e, path))}};
        std::puts(boost::json::serialize(o).c_str());
        std::fflush(stdout);
      }
      print_error("verify", error_text_with_hint(e, path));
    }
    (file_rc == kExitOk ? passed : file_rc == kExitVerifyFailed ? failed : unreadable)++;
    rc = verify_precedence(rc, file_rc);
  }
  if (!opts.json && opts.files.size() > 1) {
    std::printf("verify: %zu files: %zu passed, %zu failed, %zu unreadable\n", opts.files.size(),
                passed, failed, unreadable);
  }
  return rc;
}

}  // namespace

Command register_verify(CLI::App& parent) {
  auto opts = std::make_shared<VerifyOptions>();
  CLI::App* app = parent.add_subcommand(
      "verify",
      "Check every stored CRC-32 of safetensors files or sharded index files (all shards) at "
      "disk speed; one line per problem, then a summary");
  app->add_option("files", opts->files, "safetensors files or model.safetensors.index.json")
      ->required();
  app->add_flag("--require-crc", opts->require_crc, "fail files with tensors that carry no crc32");
  app->add_flag("--strict", opts->strict,
                "also fail files the official safetensors loader would refuse (e.g. Python "
                "stsw 1.0 files)");
  app->add_flag("--json", opts->json, "one JSON document per file, one per line");
  app->add_flag(
      "--no-progress", opts->no_progress,
      "no progress bar (it is drawn on stderr, only when stderr is a terminal, after 0.5 s)");
  app->add_option("--io-mode", opts->io_mode, "how to read: auto, direct or buffered")
      ->check(CLI::IsMember({"auto", "direct", "buffered"}));
  return {app, [opts] { return run_verify(*opts); }};
}

}  // namespace stsw::cli
