// The registered-file table on its own (io/file_table.hpp), with a fake ring in place of
// io_uring_register_files_update, so it runs where io_uring is denied: slots installed on
// first use and cleared after close, a full table and a refusing kernel falling back to
// plain descriptors, and tables and Files destroyed in either order.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <vector>

#include "engine_test_util.hpp"
#include "io/file_table.hpp"

namespace stsw {
namespace {

using detail::FileTable;
using test::TempDir;

// What the kernel's table would hold: the descriptor installed in each slot (-1: empty).
struct FakeRing {
  explicit FakeRing(unsigned n) : slots(n, -1) {}
  std::vector<int> slots;
  int refuse = 0;  // errno every update fails with (0: none)
  int updates = 0;
  int wakes = 0;

  static int update(void* self, unsigned slot, int fd) {
    auto* r = static_cast<FakeRing*>(self);
    ++r->updates;
    if (r->refuse != 0) return -r->refuse;
    r->slots.at(slot) = fd;
    return 1;
  }
  static void wake(void* self) { ++static_cast<FakeRing*>(self)->wakes; }
};

File open_buffered(const TempDir& dir, const std::string& name) {
  return File::open(dir.file(name), O_RDWR | O_CREAT, 0644, IoMode::Buffered);
}

TEST(FileTableTest, SlotsAreInstalledOnFirstUseAndClearedAfterClose) {
  TempDir dir;
  FakeRing ring(4);
  FileTable table(4, &FakeRing::update, &FakeRing::wake, &ring);
  File a = open_buffered(dir, "a");
  const int fd = a.fd();
  EXPECT_EQ(table.slot_for(fd), -1) << "a descriptor no File noted stays plain";
  table.note(a);
  EXPECT_EQ(ring.updates, 0) << "installed on first use, not on note";
  const int slot = table.slot_for(fd);
  ASSERT_GE(slot, 0);
  EXPECT_EQ(ring.slots[slot], fd);
  EXPECT_EQ(table.slot_for(fd), slot);
  EXPECT_EQ(table.registered(), 1u);

  a.close();  // forgets the number before closing it, and wakes the driver
  EXPECT_EQ(ring.wakes, 1);
  EXPECT_EQ(table.slot_for(fd), -1) << "a closed File's number is no longer mapped";
  table.apply();
  EXPECT_EQ(ring.slots[slot], -1);
  EXPECT_EQ(table.registered(), 0u);

  // The number, handed to another File, is installed afresh (a fd -> slot cache that
  // outlived the close would return the old slot without an update).
  File b = open_buffered(dir, "b");
  ASSERT_EQ(b.fd(), fd) << "open(2) hands out the lowest free number";
  table.note(b);
  const int updates = ring.updates;
  const int again = table.slot_for(fd);
  ASSERT_GE(again, 0);
  EXPECT_EQ(ring.updates, updates + 1);
  EXPECT_EQ(ring.slots[again], fd);
}

TEST(FileTableTest, FullTableFallsBackToPlainDescriptorsUntilASlotFrees) {
  TempDir dir;
  FakeRing ring(2);
  FileTable table(2, &FakeRing::update, &FakeRing::wake, &ring);
  std::vector<File> files;
  for (int i = 0; i < 3; ++i) {
    files.push_back(open_buffered(dir, "f" + std::to_string(i)));
    table.note(files.back());
  }
  EXPECT_GE(table.slot_for(files[0].fd()), 0);
  EXPECT_GE(table.slot_for(files[1].fd()), 0);
  EXPECT_EQ(table.slot_for(files[2].fd()), -1) << "no free slot: the plain descriptor";
  EXPECT_EQ(table.registered(), 2u);
  files[0].close();
  // slot_for() clears forgotten slots first, so the freed slot is taken at once.
  const int slot = table.slot_for(files[2].fd());
  ASSERT_GE(slot, 0);
  EXPECT_EQ(ring.slots[slot], files[2].fd());
  EXPECT_EQ(table.registered(), 2u);
}

TEST(FileTableTest, RefusedRegistrationFallsBackAndIsNotRetried) {
  TempDir dir;
  FakeRing ring(2);
  ring.refuse = EBADF;
  FileTable table(2, &FakeRing::update, &FakeRing::wake, &ring);
  File a = open_buffered(dir, "a");
  table.note(a);
  EXPECT_EQ(table.slot_for(a.fd()), -1);
  EXPECT_EQ(table.slot_for(a.fd()), -1);
  EXPECT_EQ(ring.updates, 1);
  EXPECT_EQ(table.registered(), 0u);
}

TEST(FileTableTest, TablesAndFilesMayBeDestroyedInEitherOrder) {
  TempDir dir;
  FakeRing ring(2);
  File a = open_buffered(dir, "a");
  {
    FileTable first(2, &FakeRing::update, &FakeRing::wake, &ring);
    first.note(a);
    EXPECT_GE(first.slot_for(a.fd()), 0);
  }  // the table goes first
  auto second = std::make_unique<FileTable>(2, &FakeRing::update, &FakeRing::wake, &ring);
  second->note(a);
  EXPECT_GE(second->slot_for(a.fd()), 0);
  second->detach();  // a detached table is no longer told
  a.close();
  EXPECT_EQ(ring.wakes, 0);
  second.reset();
  File b = open_buffered(dir, "b");
  {
    FileTable third(2, &FakeRing::update, &FakeRing::wake, &ring);
    third.note(b);
    EXPECT_GE(third.slot_for(b.fd()), 0);
    b.close();  // the File goes first
    EXPECT_EQ(ring.wakes, 1);
    EXPECT_EQ(third.registered(), 1u);
    third.apply();
    EXPECT_EQ(third.registered(), 0u);
  }
}

}  // namespace
}  // namespace stsw
