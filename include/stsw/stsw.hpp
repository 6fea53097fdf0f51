// Umbrella header: the whole public API of stsw (the Boost.Asio forms are separate:
// stsw/asio.hpp, CMake target stsw::asio). "FORMAT.md section N" in these headers is
// docs/FORMAT.md in the source tree, share/doc/stsw/FORMAT.md when installed.
#pragma once

#include "stsw/aligned_buffer.hpp"
#include "stsw/convert.hpp"
#include "stsw/crc32.hpp"
#include "stsw/dtype.hpp"
#include "stsw/dump.hpp"
#include "stsw/engine.hpp"
#include "stsw/error.hpp"
#include "stsw/header.hpp"
#include "stsw/log.hpp"
#include "stsw/reader.hpp"
#include "stsw/shard_index.hpp"
#include "stsw/temp_files.hpp"
#include "stsw/tensor_meta.hpp"
#include "stsw/units.hpp"
#include "stsw/utf8.hpp"
#include "stsw/verify_report.hpp"
#include "stsw/version.hpp"
#include "stsw/writer.hpp"
