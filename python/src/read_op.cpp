// ReadOp (see read_op.hpp) and its Python binding.
#include "read_op.hpp"

#include <pybind11/stl.h>

#include <chrono>
#include <utility>

namespace stsw::py {
namespace {

bool interpreter_finalizing() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing();
#else
  return _Py_IsFinalizing();
#endif
}

void run_callbacks(std::vector<pyb::object>& callbacks) {
  for (auto& fn : callbacks) {
    try {
      fn();
    } catch (pyb::error_already_set& e) {
      e.discard_as_unraisable("stsw read future callback");
    } catch (...) {
      // A C++ exception escaping a Python callback has nowhere to go: like
      // concurrent.futures, a failing callback never affects the others.
    }
  }
  callbacks.clear();
}

}  // namespace

ReadOp::ReadOp(BufferGuard buffer, pyb::object keep)
    : buffer_(std::move(buffer)), keep_(std::move(keep)) {}

ReadOp::~ReadOp() {
  wait(std::nullopt);  // the engine may still be writing into buffer_
}

DoneCallback ReadOp::completion() const {
  return [state = state_](std::exception_ptr error) {
    std::vector<pyb::object> callbacks;
    {
      std::lock_guard lock(state->mu);
      state->done = true;
      state->error = std::move(error);
      callbacks.swap(state->callbacks);
    }
    state->cv.notify_all();
    if (callbacks.empty()) return;
    if (!Py_IsInitialized() || interpreter_finalizing()) {
      // No interpreter to run them or to drop their references: leak them.
      for (auto& fn : callbacks) fn.release();
      return;
    }
    pyb::gil_scoped_acquire gil;
    run_callbacks(callbacks);
  };
}

bool ReadOp::done() const {
  std::lock_guard lock(state_->mu);
  return state_->done;
}

bool ReadOp::wait(std::optional<double> timeout) const {
  pyb::gil_scoped_release nogil;
  std::unique_lock lock(state_->mu);
  if (!timeout) {
    state_->cv.wait(lock, [&] { return state_->done; });
    return true;
  }
  return state_->cv.wait_for(lock, std::chrono::duration<double>(*timeout),
                             [&] { return state_->done; });
}

void ReadOp::result(std::optional<double> timeout) const {
  if (!wait(timeout)) {
    PyErr_SetString(PyExc_TimeoutError, "stsw read not complete within the timeout");
    throw pyb::error_already_set();
  }
  std::exception_ptr error;
  {
    std::lock_guard lock(state_->mu);
    error = state_->error;
  }
  if (error) std::rethrow_exception(error);
}

void ReadOp::add_done_callback(pyb::object fn) {
  {
    std::lock_guard lock(state_->mu);
    if (!state_->done) {
      state_->callbacks.push_back(std::move(fn));
      return;
    }
  }
  std::vector<pyb::object> now{std::move(fn)};
  run_callbacks(now);
}

void bind_read_op(pyb::module_& m) {
  pyb::class_<ReadOp>(m, "ReadOp")
      .def("done", &ReadOp::done)
      .def("wait", &ReadOp::wait, pyb::arg("timeout") = pyb::none())
      .def("result", &ReadOp::result, pyb::arg("timeout") = pyb::none())
      .def("add_done_callback", &ReadOp::add_done_callback, pyb::arg("fn"))
      .def_property_readonly("out", &ReadOp::out);
}

}  // namespace stsw::py
