#include "io/fault_injection.hpp"

#include <cerrno>

#include "core/logging.hpp"
#include "io/backend.hpp"
#include "io/engine_impl.hpp"

namespace stsw::testing {

namespace {

using detail::IoOp;
using detail::IoRequest;

class FaultyBackend final : public detail::Backend {
 public:
  FaultyBackend(std::unique_ptr<Backend> inner, FaultPlan plan,
                std::shared_ptr<FaultCounters> counters)
      : inner_(std::move(inner)), plan_(std::move(plan)), counters_(std::move(counters)) {}

  [[nodiscard]] BackendKind kind() const noexcept override { return inner_->kind(); }
  [[nodiscard]] bool buffers_registered() const noexcept override {
    return inner_->buffers_registered();
  }
  void shutdown() noexcept override { inner_->shutdown(); }

  void submit(IoRequest* req) noexcept override {
    std::atomic<std::uint64_t>& per_op = req->op == IoOp::Read    ? counters_->reads
                                         : req->op == IoOp::Write ? counters_->writes
                                                                  : counters_->syncs;
    const std::uint64_t index = per_op.fetch_add(1);
    const std::uint64_t any = counters_->any.fetch_add(1);
    for (const Fault& f : plan_.faults) {
      const bool hit =
          f.op == Fault::Op::Any ? f.index == any : matches(f.op, req->op) && f.index == index;
      if (hit) {
        inject(*req, f.kind);
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

  void inject(IoRequest& req, Fault::Kind kind) noexcept {
    int res = 0;
    switch (kind) {
      case Fault::Kind::Eio: res = -EIO; break;
      case Fault::Kind::Enospc: res = -ENOSPC; break;
      case Fault::Kind::Eagain: res = -EAGAIN; break;
      case Fault::Kind::Eintr: res = -EINTR; break;
      case Fault::Kind::Short:
        if (req.op == IoOp::Sync || req.len < 2) return;
        req.inject_short(static_cast<int>(req.len / 2));
        counters_->injected.fetch_add(1);
        detail::logger().debug("fault injection: short {} at offset {}", req.len, req.offset);
        return;
    }
    // No I/O happens: the request runs with length 0 and its result is replaced.
    req.len = 0;
    req.inject_result(res);
    counters_->injected.fetch_add(1);
    detail::logger().debug("fault injection: result {} at offset {}", res, req.offset);
  }

  std::unique_ptr<Backend> inner_;
  FaultPlan plan_;
  std::shared_ptr<FaultCounters> counters_;
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
