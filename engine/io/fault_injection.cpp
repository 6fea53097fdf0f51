#include "io/fault_injection.hpp"

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <memory>

#include "core/logging.hpp"
#include "io/backend.hpp"
#include "io/engine_impl.hpp"

namespace stsw::testing {

namespace {

using detail::IoOp;
using detail::IoRequest;

// Stands in for one faulted request: the inner backend runs the proxy (a copy of the
// request, with no I/O for a replaced result), and the proxy hands the altered result to
// the original request. The fault's state lives here, not in every production IoRequest.
class FaultProxy final : public IoRequest {
 public:
  enum class Mode : std::uint8_t { Replace, Cap };

  // Takes `req`'s fields; the result delivered to `req` becomes `value` (Replace) or at
  // most `value` bytes (Cap).
  void arm(IoRequest& req, Mode mode, int value) noexcept {
    IoRequest::operator=(req);
    next = nullptr;
    if (mode == Mode::Replace) len = 0;  // no I/O happens
    original_ = &req;
    mode_ = mode;
    value_ = value;
  }

 private:
  void complete(int res) noexcept override {
    if (mode_ == Mode::Replace) {
      res = value_;
    } else if (res >= 0) {
      res = std::min(res, value_);
    }
    original_->on_result(res);  // may end the transfer: nothing of it is touched after
  }

  IoRequest* original_ = nullptr;
  Mode mode_ = Mode::Replace;
  int value_ = 0;
};

class FaultyBackend final : public detail::Backend {
 public:
  FaultyBackend(std::unique_ptr<Backend> inner, FaultPlan plan,
                std::shared_ptr<FaultCounters> counters)
      : inner_(std::move(inner)),
        plan_(std::move(plan)),
        counters_(std::move(counters)),
        // One proxy per planned fault: a fault matches one request number, so it fires
        // at most once and its proxy is never in flight twice.
        proxies_(std::make_unique<FaultProxy[]>(plan_.faults.size())) {}

  [[nodiscard]] BackendKind kind() const noexcept override { return inner_->kind(); }
  [[nodiscard]] bool buffers_registered() const noexcept override {
    return inner_->buffers_registered();
  }
  void shutdown() noexcept override { inner_->shutdown(); }
  void note_file(const File& file) noexcept override { inner_->note_file(file); }
  [[nodiscard]] unsigned files_registered() const noexcept override {
    return inner_->files_registered();
  }

  void submit(IoRequest* req) noexcept override {
    std::atomic<std::uint64_t>& per_op = req->op == IoOp::Read    ? counters_->reads
                                         : req->op == IoOp::Write ? counters_->writes
                                                                  : counters_->syncs;
    const std::uint64_t index = per_op.fetch_add(1);
    const std::uint64_t any = counters_->any.fetch_add(1);
    for (std::size_t i = 0; i < plan_.faults.size(); ++i) {
      const Fault& f = plan_.faults[i];
      const bool hit =
          f.op == Fault::Op::Any ? f.index == any : matches(f.op, req->op) && f.index == index;
      if (hit) {
        if (inject(proxies_[i], *req, f.kind)) req = &proxies_[i];
        break;
      }
    }
    inner_->submit(req);
  }

 private:
  static bool matches(Fault::Op f, IoOp op) noexcept {
    return (f == Fault::Op::Read && op == IoOp::Read) ||
           (f == Fault::Op::Write && op == IoOp::Write) ||
           (f == Fault::Op::Sync && op == IoOp::Sync);
  }

  // Arms `proxy` to stand in for `req`; false when the fault does not apply to it.
  bool inject(FaultProxy& proxy, IoRequest& req, Fault::Kind kind) noexcept {
    int res = 0;
    switch (kind) {
      case Fault::Kind::Eio: res = -EIO; break;
      case Fault::Kind::Enospc: res = -ENOSPC; break;
      case Fault::Kind::Eagain: res = -EAGAIN; break;
      case Fault::Kind::Eintr: res = -EINTR; break;
      case Fault::Kind::Short:
        if (req.op == IoOp::Sync || req.len < 2) return false;
        proxy.arm(req, FaultProxy::Mode::Cap, static_cast<int>(req.len / 2));
        counters_->injected.fetch_add(1);
        detail::logger().debug("fault injection: short {} at offset {}", req.len, req.offset);
        return true;
    }
    // No I/O happens: the proxy runs with length 0 and its result is replaced.
    proxy.arm(req, FaultProxy::Mode::Replace, res);
    counters_->injected.fetch_add(1);
    detail::logger().debug("fault injection: result {} at offset {}", res, req.offset);
    return true;
  }

  std::unique_ptr<Backend> inner_;
  FaultPlan plan_;
  std::shared_ptr<FaultCounters> counters_;
  std::unique_ptr<FaultProxy[]> proxies_;
};

}  // namespace

std::shared_ptr<Engine> make_faulty_engine(const EngineOptions& options, FaultPlan plan,
                                           std::shared_ptr<FaultCounters>* out) {
  auto counters = std::make_shared<FaultCounters>();
  if (out != nullptr) *out = counters;
  const bool no_registration = plan.fail_buffer_registration;
  return detail::make_engine(
      options, [plan = std::move(plan), counters, no_registration](
                   const EngineOptions& o, std::span<const iovec> buffers, detail::OwnerTag owner) {
        if (no_registration && o.register_buffers) {
          detail::logger().info(
              "fault injection: buffer registration fails; using unregistered buffers");
        }
        auto inner =
            detail::make_backend(o, no_registration ? std::span<const iovec>() : buffers, owner);
        return std::make_unique<FaultyBackend>(std::move(inner), plan, counters);
      });
}

}  // namespace stsw::testing
