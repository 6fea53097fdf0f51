// `stsw convert IN OUT`: PyTorch zip checkpoints, .npy/.npz and safetensors files to stsw
// safetensors files, streaming, without Python and without executing anything from IN.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "file_kind.hpp"
#include "progress.hpp"
#include "report.hpp"
#include "stsw/convert.hpp"
#include "stsw/dtype.hpp"

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
  bool keep_shared = false;
  std::string dtype;
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

int run_convert(ConvertCliOptions cli) {
  // OUT may be a directory (existing, or named with a trailing '/'): the file is then
  // OUT/model.safetensors, the name transformers looks for. Missing directories are made.
  if (std::error_code ec;
      cli.output.ends_with('/') || std::filesystem::is_directory(cli.output, ec)) {
    cli.output = (cli.output.ends_with('/') ? cli.output : cli.output + "/") + "model.safetensors";
  }
  if (const auto parent = std::filesystem::path(cli.output).parent_path(); !parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) {
      print_error("convert", "Io: " + cli.output + ": cannot create its directory " +
                                 parent.string() + " (" + ec.message() + ")");
      return kExitInvalid;
    }
  }
  ConvertOptions o;
  o.deduplicate_shared = !cli.keep_shared;
  if (!cli.dtype.empty()) o.dtype = parse_dtype(cli.dtype);
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
    std::string text = error_text(e, error_subject(e, cli));
    // An input convert cannot read at all (a Git LFS pointer, an HTML page, ...): say so.
    if (const auto hint = file_kind_hint(sniff_file_kind(cli.input), cli.input, true)) {
      text += "; " + cli.input + " is " + *hint;
    }
    print_error("convert", text);
    return kExitInvalid;
  }
  if (bar) bar->finish();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (r.input != cli.input) {
    std::printf("%s: read %s (the checkpoint transformers would load from this directory)\n",
                printable(cli.input).c_str(), printable(r.input).c_str());
  }
  if (!r.aliases.empty()) {
    std::string names;
    for (const auto& [dropped, kept] : r.aliases) {
      names += (names.empty() ? "" : ", ") + dropped + " = " + kept;
    }
    std::printf(
        "%s: tied tensors stored once, each alias recorded in __metadata__ as the official "
        "save_model does (--keep-shared stores copies): %s\n",
        printable(cli.output).c_str(), printable(names).c_str());
  }
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
  app->add_option("input", opts->input,
                  "checkpoint to convert, a sharded index (model.safetensors.index.json or "
                  "pytorch_model.bin.index.json) or a Hugging Face model directory")
      ->required();
  app->add_option("output", opts->output,
                  "safetensors file to write (e.g. model.safetensors), or a directory (DIR/ "
                  "gets DIR/model.safetensors); missing directories are created")
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
  app->add_option("--dtype", opts->dtype,
                  "cast floating tensors (F64, F32, F16, BF16) to F32, F16 or BF16 (round to "
                  "nearest even); other tensors are written unchanged")
      ->check(CLI::IsMember({"F32", "F16", "BF16"}));
  app->add_flag("--keep-shared", opts->keep_shared,
                "store tensors that share their data (tied weights) once per name, instead of "
                "once with the aliases recorded in __metadata__ (the official save_model's way)");
  app->add_flag(
      "--no-progress", opts->no_progress,
      "no progress bar (it is drawn on stderr, only when stderr is a terminal, after 0.5 s)");
  return {app, [opts] { return run_convert(*opts); }};
}

}  // namespace stsw::cli
