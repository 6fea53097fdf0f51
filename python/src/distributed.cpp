// _stsw's multi-rank checkpoint pieces (include/stsw/distributed.hpp) for
// stsw.distributed (python/stsw/distributed.py), which carries the messages over
// torch.distributed. Messages cross the binding as plain tuples (picklable):
//   piece declaration: (name, dtype, shape, begin, end)
//   rank report: (rank, ok, kind, error, [(name, begin, end, crc), ...])
// The GIL is released while files are written; the copies a piece needs first (a strided
// tensor's, PieceBytes::source) are made, GIL taken, when the piece is written.
#include <pybind11/stl.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common.hpp"
#include "stsw/crc32.hpp"
#include "stsw/distributed.hpp"
#include "stsw/error.hpp"
#include "stsw/reader.hpp"

namespace stsw::py {
namespace {

using dist::PieceReport;
using dist::RankReport;
using dist::SavePlan;

dist::SaveOptions save_options(std::optional<std::uint64_t> max_shard_size, std::uint64_t align,
                               std::optional<Metadata> metadata, bool durable) {
  dist::SaveOptions o;
  o.max_shard_size = max_shard_size;
  o.align = align;
  o.metadata = std::move(metadata);
  o.durable = durable;
  return o;
}

// ranks: [(rank, [(name, dtype, shape, begin, end), ...]), ...]
std::shared_ptr<SavePlan> py_plan(const pyb::list& ranks, std::optional<std::uint64_t> max_shard,
                                  std::uint64_t align, std::optional<Metadata> metadata) {
  std::vector<dist::RankDecl> decls;
  for (auto r : ranks) {
    auto t = pyb::reinterpret_borrow<pyb::tuple>(r);
    dist::RankDecl d;
    d.rank = t[0].cast<int>();
    for (auto p : pyb::reinterpret_borrow<pyb::list>(t[1])) {
      auto q = pyb::reinterpret_borrow<pyb::tuple>(p);
      dist::PieceDecl piece;
      piece.name = q[0].cast<std::string>();
      const auto dtype_name = q[1].cast<std::string>();
      const auto dtype = parse_dtype(dtype_name);
      if (!dtype) {
        throw Error(Errc::TensorInvalidInfo,
                    "tensor '" + piece.name + "': unknown dtype '" + dtype_name + "'");
      }
      piece.dtype = *dtype;
      piece.shape = q[2].cast<std::vector<std::uint64_t>>();
      piece.begin = q[3].cast<std::uint64_t>();
      piece.end = q[4].cast<std::uint64_t>();
      d.pieces.push_back(std::move(piece));
    }
    decls.push_back(std::move(d));
  }
  return std::make_shared<SavePlan>(
      dist::plan_save(decls, save_options(max_shard, align, std::move(metadata), true)));
}

pyb::tuple report_to_tuple(const RankReport& r) {
  pyb::list pieces;
  for (const PieceReport& p : r.pieces)
    pieces.append(pyb::make_tuple(p.name, p.begin, p.end, p.crc));
  return pyb::make_tuple(r.rank, r.ok, std::string(to_string(r.errc)), r.error, pieces);
}

Errc errc_from_name(const std::string& name) {
  for (int i = 0; i <= static_cast<int>(Errc::Unsupported); ++i) {
    if (to_string(static_cast<Errc>(i)) == name) return static_cast<Errc>(i);
  }
  return Errc::Io;
}

RankReport report_from_tuple(pyb::handle h) {
  auto t = pyb::reinterpret_borrow<pyb::tuple>(h);
  RankReport r;
  r.rank = t[0].cast<int>();
  r.ok = t[1].cast<bool>();
  r.errc = errc_from_name(t[2].cast<std::string>());
  r.error = t[3].cast<std::string>();
  for (auto p : pyb::reinterpret_borrow<pyb::list>(t[4])) {
    auto q = pyb::reinterpret_borrow<pyb::tuple>(p);
    r.pieces.push_back({q[0].cast<std::string>(), q[1].cast<std::uint64_t>(),
                        q[2].cast<std::uint64_t>(), q[3].cast<std::uint32_t>()});
  }
  return r;
}

// A source's Python exception as an stsw::Error (the rank report carries a kind and a
// message): an stsw.Error keeps its kind, anything else is Io "<type>: <message>", as
// stsw.distributed's _as_error words it.
Error source_error(const pyb::error_already_set& e) {
  pyb::gil_scoped_acquire gil;
  const pyb::object& value = e.value();
  const std::string text = pyb::str(value).cast<std::string>();
  if (pyb::hasattr(value, "kind") && pyb::isinstance<pyb::str>(value.attr("kind"))) {
    return Error(errc_from_name(value.attr("kind").cast<std::string>()), text);
  }
  return Error(Errc::Io,
               pyb::str(value.get_type().attr("__name__")).cast<std::string>() + ": " + text);
}

// buffers: one per declared piece, in order: a buffer (read in place), or (make, offset):
// bytes [offset, ...) of what the callable `make` returns (PieceBytes::source: called when
// the piece is written; consecutive pieces with the same `make` object share one call).
pyb::tuple py_write_rank(const SavePlan& plan, int rank, const std::vector<std::string>& temp_files,
                         const pyb::list& buffers, bool durable) {
  std::vector<BufferGuard> guards;
  std::vector<dist::PieceBytes> data;
  guards.reserve(buffers.size());
  pyb::handle last;
  std::shared_ptr<const std::function<SourcedBytes()>> source;
  for (auto b : buffers) {
    if (pyb::isinstance<pyb::tuple>(b)) {
      auto t = pyb::reinterpret_borrow<pyb::tuple>(b);
      // `buffers` holds the callable for the whole call: a borrowed handle, so that the
      // std::function never touches reference counts without the GIL.
      const pyb::handle make = t[0];
      if (!source || !make.is(last)) {
        source = std::make_shared<const std::function<SourcedBytes()>>([make]() {
          try {
            return call_source(make);
          } catch (const pyb::error_already_set& e) {
            throw source_error(e);
          }
        });
        last = make;
      }
      data.push_back({{}, source, t[1].cast<std::uint64_t>()});
      continue;
    }
    guards.emplace_back(b, /*writable=*/false);
    const auto bytes = guards.back().bytes();
    data.push_back({{bytes.data(), bytes.size()}, nullptr, 0});
  }
  RankReport r;
  {
    pyb::gil_scoped_release nogil;
    r = dist::write_rank(plan, rank, temp_files, data, durable);
  }
  return report_to_tuple(r);
}

class PyCoordinator {
 public:
  PyCoordinator(const std::string& path, const SavePlan& plan, bool durable) {
    dist::SaveOptions o;
    o.durable = durable;
    o.align = plan.align;
    o.metadata = plan.metadata;
    pyb::gil_scoped_release nogil;
    coord_ = std::make_unique<dist::SaveCoordinator>(path, plan, o);
  }
  std::vector<std::string> temp_files() const { return coord_->temp_files(); }
  pyb::tuple commit(const pyb::list& reports) {
    std::vector<RankReport> rs;
    for (auto r : reports) rs.push_back(report_from_tuple(r));
    dist::SaveResult res;
    {
      pyb::gil_scoped_release nogil;
      res = coord_->commit(rs);
    }
    pyb::object index = pyb::none();
    if (res.index) index = pyb::str(*res.index);
    return pyb::make_tuple(pyb::cast(res.files), index);
  }
  void abandon() {
    pyb::gil_scoped_release nogil;
    coord_.reset();
  }

 private:
  std::unique_ptr<dist::SaveCoordinator> coord_;
};

std::optional<std::uint32_t> py_combine(const std::string& name, std::uint64_t nbytes,
                                        const pyb::list& pieces) {
  std::vector<PieceReport> ps;
  std::vector<int> ranks;
  for (auto p : pieces) {
    auto q = pyb::reinterpret_borrow<pyb::tuple>(p);
    ps.push_back(
        {name, q[1].cast<std::uint64_t>(), q[2].cast<std::uint64_t>(), q[3].cast<std::uint32_t>()});
    ranks.push_back(q[0].cast<int>());
  }
  return dist::combine_pieces(name, nbytes, ps, ranks);
}

// requests: [(tensor, offset, writable buffer), ...]. Reads every range of the checkpoint
// at `path` through the engine (StreamReader::read_batch: O_DIRECT, all in flight up to its
// byte cap), then, when `crc`, returns the CRC-32 of each range (else zeros). The reader is
// opened without CRC checks: the caller combines the ranges' CRCs across ranks.
std::vector<std::uint32_t> py_read_ranges(const std::string& path, const pyb::list& requests,
                                          bool crc) {
  std::vector<BufferGuard> guards;
  std::vector<ReadRequest> reqs;
  guards.reserve(requests.size());
  reqs.reserve(requests.size());
  for (auto q : requests) {
    auto t = pyb::reinterpret_borrow<pyb::tuple>(q);
    guards.emplace_back(t[2], /*writable=*/true);
    reqs.push_back({t[0].cast<std::string>(), t[1].cast<std::uint64_t>(), guards.back().bytes()});
  }
  std::vector<std::uint32_t> crcs(reqs.size(), 0);
  pyb::gil_scoped_release nogil;
  ReaderOptions o;
  o.verify_crc = false;
  const StreamReader r = StreamReader::open(path, o);
  r.read_batch(reqs).get();
  if (crc) {
    for (std::size_t i = 0; i < reqs.size(); ++i) crcs[i] = stsw::crc32(reqs[i].dst);
  }
  return crcs;
}

}  // namespace

void bind_distributed(pyb::module_& m) {
  pyb::class_<SavePlan, std::shared_ptr<SavePlan>>(m, "DistPlan")
      .def_property_readonly("shards", [](const SavePlan& p) { return p.shards.size(); })
      .def_property_readonly("total_size", [](const SavePlan& p) { return p.total_size; });
  m.def("dist_plan", &py_plan, pyb::arg("ranks"), pyb::arg("max_shard_size"), pyb::arg("align"),
        pyb::arg("metadata"));
  m.def("dist_write_rank", &py_write_rank, pyb::arg("plan"), pyb::arg("rank"),
        pyb::arg("temp_files"), pyb::arg("buffers"), pyb::arg("durable"));
  pyb::class_<PyCoordinator>(m, "DistCoordinator")
      .def(pyb::init<const std::string&, const SavePlan&, bool>(), pyb::arg("path"),
           pyb::arg("plan"), pyb::arg("durable"))
      .def("temp_files", &PyCoordinator::temp_files)
      .def("commit", &PyCoordinator::commit, pyb::arg("reports"))
      .def("abandon", &PyCoordinator::abandon);
  m.def("dist_read_ranges", &py_read_ranges, pyb::arg("path"), pyb::arg("requests"),
        pyb::arg("crc"));
  // pieces: [(rank, begin, end, crc), ...]
  m.def("dist_combine", &py_combine, pyb::arg("name"), pyb::arg("nbytes"), pyb::arg("pieces"));
  m.def(
      "crc32",
      [](const pyb::object& data, std::uint32_t crc) {
        BufferGuard g(data, false);
        const auto b = g.bytes();
        pyb::gil_scoped_release nogil;
        return stsw::crc32({b.data(), b.size()}, crc);
      },
      pyb::arg("data"), pyb::arg("crc") = 0);
}

}  // namespace stsw::py
