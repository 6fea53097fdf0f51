// The Boost.Asio completion-token forms: callbacks, use_future and co_await drive the same
// writer, reader and engine operations, and failures arrive as exceptions/error pointers.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <filesystem>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "stsw/asio.hpp"
#include "stsw/crc32.hpp"
#include "stsw/error.hpp"
#include "stsw/header.hpp"

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace {

class AsioTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::current_path() / ("asio-test-" + std::to_string(::getpid()) + "-" +
                                 ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    path_ = (dir_ / "model.safetensors").string();
    layout_ = stsw::plan_layout({{"big", stsw::DType::F32, {300'000}},
                                 {"small", stsw::DType::U8, {1000}},
                                 {"empty", stsw::DType::I64, {0}}},
                                stsw::LayoutOrder::Canonical);
    for (const auto& t : layout_.tensors) {
      std::vector<std::byte> bytes(t.nbytes());
      std::mt19937 rng(static_cast<unsigned>(t.nbytes()));
      for (auto& b : bytes) b = static_cast<std::byte>(rng());
      data_.push_back(std::move(bytes));
    }
  }
  void TearDown() override { fs::remove_all(dir_); }

  asio::awaitable<void> write_file() {
    auto w = stsw::StreamWriter::open(path_, layout_.tensors, {});
    for (std::size_t i = 0; i < layout_.tensors.size(); ++i) {
      co_await stsw::async_write_block(w, layout_.tensors[i].name, data_[i], asio::use_awaitable);
    }
    co_await stsw::async_close(w, asio::use_awaitable);
  }

  const std::vector<std::byte>& data_of(const std::string& name) const {
    for (std::size_t i = 0; i < layout_.tensors.size(); ++i) {
      if (layout_.tensors[i].name == name) return data_[i];
    }
    throw std::out_of_range(name);
  }

  fs::path dir_;
  std::string path_;
  stsw::Layout layout_;
  std::vector<std::vector<std::byte>> data_;
};

TEST_F(AsioTest, CoroutinesWriteAndReadBack) {
  asio::io_context io;
  bool done = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await write_file();
        auto r = stsw::StreamReader::open(path_, {});
        for (std::size_t i = 0; i < layout_.tensors.size(); ++i) {
          std::vector<std::byte> dst(layout_.tensors[i].nbytes());
          co_await stsw::async_read_into(r, layout_.tensors[i].name, dst, asio::use_awaitable);
          EXPECT_EQ(dst, data_[i]) << layout_.tensors[i].name;
        }
        stsw::VerifyReport report = co_await stsw::async_verify(r, asio::use_awaitable);
        EXPECT_TRUE(report.passed());
        EXPECT_EQ(report.tensors.size(), 3u);
        done = true;
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  io.run();  // returns only after every stsw operation has completed (work is tracked)
  EXPECT_TRUE(done);
}

TEST_F(AsioTest, UseFutureAndPlainCallbacks) {
  asio::io_context io;
  asio::co_spawn(io, write_file(), asio::detached);
  io.run();

  auto r = stsw::StreamReader::open(path_, {});
  std::vector<std::byte> dst(r.meta("big").nbytes());
  std::future<void> f = stsw::async_read_into(r, "big", dst, asio::use_future);
  f.get();
  EXPECT_EQ(dst, data_of("big"));

  asio::thread_pool pool(1);
  std::promise<stsw::VerifyReport> got;
  stsw::async_verify(
      r, boost::asio::bind_executor(pool, [&](std::exception_ptr e, stsw::VerifyReport rep) {
        if (e)
          got.set_exception(e);
        else
          got.set_value(std::move(rep));
      }));
  EXPECT_TRUE(got.get_future().get().passed());
  pool.join();
}

TEST_F(AsioTest, FailuresArriveThroughTheToken) {
  asio::io_context io;
  asio::co_spawn(io, write_file(), asio::detached);
  io.run();
  auto r = stsw::StreamReader::open(path_, {});

  std::vector<std::byte> wrong_size(3);
  auto f = stsw::async_read_into(r, "big", wrong_size, asio::use_future);
  try {
    f.get();
    FAIL() << "expected LengthMismatch";
  } catch (const stsw::Error& e) {
    EXPECT_EQ(e.code(), stsw::Errc::LengthMismatch);
  }

  std::vector<std::byte> dst(16);
  auto g = stsw::async_read_into(r, "no-such-tensor", dst, asio::use_future);
  try {
    g.get();
    FAIL() << "expected UnknownTensor";
  } catch (const stsw::Error& e) {
    EXPECT_EQ(e.code(), stsw::Errc::UnknownTensor);
    EXPECT_NE(std::string(e.what()).find("no-such-tensor"), std::string::npos);
  }
}

TEST_F(AsioTest, EngineReadComputesCrc) {
  asio::io_context io;
  asio::co_spawn(io, write_file(), asio::detached);
  io.run();
  auto engine = stsw::Engine::create({});
  stsw::File file = stsw::File::open(path_, O_RDONLY, 0, stsw::IoMode::Buffered);
  std::vector<std::byte> all(file.size());
  std::future<std::uint32_t> f = stsw::async_read(*engine, file, 0, all, true, asio::use_future);
  const std::uint32_t crc = f.get();
  EXPECT_EQ(crc, stsw::crc32(all));
}

}  // namespace
