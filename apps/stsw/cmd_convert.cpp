// `stsw convert IN OUT`: PyTorch zip checkpoints, .npy/.npz and safetensors files to stsw
// safetensors files, streaming, without Python and without executing anything from IN.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "progress.hpp"
#include "report.hpp"
#include "stsw/convert.hpp"

namespace stsw::cli {
namespace {

struct ConvertCliOptions {
  std::string input;
  std::string output;
  bool crc32 = true;
  std::vector<std::string> metadata;
  std::uint64_t align = 64;
  std::string order = "canonical";
  std::string max_shard_size;
  std::string key;
  bool no_progress = false;
};

// The file an error is about, for its prefix: the library names the destination (or one of
// its shards) in errors about it; anything else is about the input.
std::string_view error_subject(const std::exception& e, const ConvertCliOptions& cli) {
  const std::string_view what = e.what();
  if (what.find(cli.output) != std::string_view::npos) return cli.output;
  const std::size_t slash = cli.output.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "./" : cli.output.substr(0, slash + 1);
  if (what.find(dir) != std::string_view::npos) return {};  // a shard or the index: named
  return cli.input;
}

int run_convert(const ConvertCliOptions& cli) {
  ConvertOptions o;
  o.crc32 = cli.crc32;
  o.align = cli.align;
  o.order = cli.order == "keep" ? LayoutOrder::Keep : LayoutOrder::Canonical;
  o.key = cli.key;
  for (const std::string& kv : cli.metadata) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      print_error("convert", "--metadata expects KEY=VALUE, got '" + kv + "'");
      return kExitInvalid;
    }
    o.metadata[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  if (!cli.max_shard_size.empty()) {
    // stsw::parse_size: "5GB" is 5 * 10^9 bytes as in the ecosystem, "5G"/"5GiB" binary.
    o.max_shard_size = parse_size(cli.max_shard_size);
    if (!o.max_shard_size || *o.max_shard_size == 0) {
      print_error("convert", "--max-shard-size: not a size: '" + cli.max_shard_size +
                                 "' (e.g. 5GB, 500MB, 2GiB, 1048576)");
      return kExitInvalid;
    }
  }

  std::unique_ptr<ProgressBar> bar;
  std::uint64_t shown = 0;
  o.on_progress = [&](const ConvertProgress& p) {
    if (cli.no_progress) return;
    if (!bar) bar = std::make_unique<ProgressBar>(printable(cli.output), p.bytes_total, true);
    bar->set_label(printable(std::string(p.tensor)));
    bar->add(p.bytes_done - shown);
    shown = p.bytes_done;
  };
  o.on_warning = [&](std::string_view w) {
    std::fflush(stdout);
    std::fprintf(stderr, "stsw convert: warning: %s\n", printable(w).c_str());
  };

  const auto start = std::chrono::steady_clock::now();
  ConvertResult r;
  try {
    r = convert(cli.input, cli.output, o);
  } catch (const std::exception& e) {
    if (bar) bar->finish();
    print_error("convert", e, error_subject(e, cli));
    return kExitInvalid;
  }
  if (bar) bar->finish();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const std::string& f : r.files) {
    if (r.files.size() > 1) std::printf("%s\n", printable(f).c_str());
  }
  if (r.index) std::printf("%s\n", printable(*r.index).c_str());
  std::string extra;
  if (r.files.size() > 1) extra += ", " + std::to_string(r.files.size()) + " shards";
  if (!r.warnings.empty()) extra += ", " + std::to_string(r.warnings.size()) + " entries skipped";
  std::printf("%s: converted %zu tensors (%s) from %s in %.3f s (%s)%s\n",
              printable(cli.output).c_str(), r.tensors, format_bytes(r.bytes).c_str(),
              std::string(to_string(r.format)).c_str(), secs, format_rate(r.bytes, secs).c_str(),
              extra.c_str());
  std::fflush(stdout);
  return kExitOk;
}

}  // namespace

Command register_convert(CLI::App& parent) {
  auto opts = std::make_shared<ConvertCliOptions>();
  CLI::App* app = parent.add_subcommand(
      "convert",
      "Convert a PyTorch zip checkpoint (.pt/.pth/.bin), a NumPy .npy/.npz or a safetensors "
      "file (or sharded index) into a checksummed safetensors file; nothing in the input is "
      "ever executed");
  app->add_option("input", opts->input, "checkpoint to convert")->required();
  app->add_option("output", opts->output, "safetensors file to write (e.g. model.safetensors)")
      ->required();
  app->add_flag("--crc32,!--no-crc32", opts->crc32, "store a crc32 per tensor (default on)");
  app->add_option("--metadata", opts->metadata,
                  "KEY=VALUE added to __metadata__ (repeatable; \"format\": \"pt\" is added "
                  "unless given)");
  app->add_option("--align", opts->align,
                  "data region alignment, a power of two >= 8 (default 64)");
  app->add_option("--order", opts->order,
                  "tensor order: canonical (the official writer's) or keep (the input's)")
      ->check(CLI::IsMember({"canonical", "keep"}));
  app->add_option("--max-shard-size", opts->max_shard_size,
                  "split into model-0000i-of-0000N.safetensors shards plus an index; 5GB is "
                  "5*10^9 bytes as in the ecosystem, 5GiB or 5G binary");
  app->add_option("--key", opts->key,
                  "convert the state dict nested under this key (e.g. model, state_dict, "
                  "or a dotted path)");
  app->add_flag("--no-progress", opts->no_progress,
                "no progress bar (it is shown only when stdout is a terminal anyway)");
  return {app, [opts] { return run_convert(*opts); }};
}

}  // namespace stsw::cli
