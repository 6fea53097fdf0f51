// Turning stsw's callback-based operations into Boost.Asio asynchronous operations, so any
// completion token works: plain callbacks, asio::use_future, asio::use_awaitable
// (co_await), asio::deferred. Used by stsw/asio.hpp; usable for user extensions.
//
// Contract: the completion handler is invoked exactly once, through its associated
// executor, with the exception_ptr first (null on success), and never inside the
// initiating function (stsw::async_*): an operation that completes during its initiation
// (an invalid argument, an empty range) is posted to the executor, as Asio's rules for
// immediate completion require; one that completes later, on an engine thread, is
// dispatched. Outstanding work is tracked on that executor, so io_context::run() does not
// return while an stsw operation is pending. The operation's arguments (spans) must stay
// alive until the handler runs, as for the callback forms.
#pragma once

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/system_executor.hpp>

#include <atomic>
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
          std::atomic<bool> initiating{true};
        };
        auto state =
            std::make_shared<State>(std::move(handler), boost::asio::make_work_guard(executor));
        start_fn([state](std::exception_ptr error, Args... args) {
          // The work guard is released here, after post/dispatch returned, not in the
          // handler: otherwise run()/join() could return, and the context be destroyed,
          // while this (engine) thread is still inside the executor's post (found by TSan).
          auto work = std::move(state->work);
          auto complete = [state, error, tup = std::make_tuple(std::move(args)...)]() mutable {
            std::apply([&](auto&&... a) { std::move(state->handler)(error, std::move(a)...); },
                       std::move(tup));
          };
          if (state->initiating.load(std::memory_order_acquire)) {
            boost::asio::post(work.get_executor(), std::move(complete));
          } else {
            boost::asio::dispatch(work.get_executor(), std::move(complete));
          }
        });
        state->initiating.store(false, std::memory_order_release);
      },
      token, std::forward<Start>(start));
}

}  // namespace stsw::asio_detail
