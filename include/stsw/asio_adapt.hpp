// Turning stsw's callback-based operations into Boost.Asio asynchronous operations, so any
// completion token works: plain callbacks, asio::use_future, asio::use_awaitable
// (co_await), asio::deferred. Used by stsw/asio.hpp; usable for user extensions.
//
// Contract: the completion handler is invoked exactly once, through its associated
// executor (asio::dispatch), with the exception_ptr first (null on success). Outstanding
// work is tracked on that executor, so io_context::run() does not return while an stsw
// operation is pending. The operation's arguments (spans) must stay alive until the handler
// runs, as for the callback forms.
#pragma once

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/system_executor.hpp>

#include <exception>
#include <memory>
#include <tuple>
#include <utility>

namespace stsw::asio_detail {

// Calls `start(callback)` where `callback(std::exception_ptr, Args...)` completes the Asio
// handler derived from `token` with the signature void(std::exception_ptr, Args...).
template <typename... Args, typename CompletionToken, typename Start>
auto initiate(CompletionToken&& token, Start&& start) {
  return boost::asio::async_initiate<CompletionToken, void(std::exception_ptr, Args...)>(
      [](auto handler, auto start_fn) {
        using Handler = std::decay_t<decltype(handler)>;
        auto executor =
            boost::asio::get_associated_executor(handler, boost::asio::system_executor());
        // std::function needs a copyable callable; Asio handlers may be move-only.
        struct State {
          Handler handler;
          boost::asio::executor_work_guard<decltype(executor)> work;
        };
        auto state = std::make_shared<State>(
            State{std::move(handler), boost::asio::make_work_guard(executor)});
        start_fn([state](std::exception_ptr error, Args... args) {
          // The work guard is released here, after dispatch returned, not in the handler:
          // otherwise run()/join() could return, and the context be destroyed, while this
          // (engine) thread is still inside the executor's post (found by TSan).
          auto work = std::move(state->work);
          boost::asio::dispatch(
              work.get_executor(),
              [state, error, tup = std::make_tuple(std::move(args)...)]() mutable {
                std::apply([&](auto&&... a) { std::move(state->handler)(error, std::move(a)...); },
                           std::move(tup));
              });
        });
      },
      token, std::forward<Start>(start));
}

}  // namespace stsw::asio_detail
