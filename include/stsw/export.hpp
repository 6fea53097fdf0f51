// STSW_API: marks what the stsw library exports. The library is compiled with hidden
// visibility (libstsw.so exports nothing else); every public header opens its namespace
// as `namespace STSW_API stsw {`, so everything those headers declare is the public ABI
// and internal code (engine/, namespace blocks without the mark) stays hidden.
// Harmless for the static library and for consumers.
#pragma once

#if defined(__GNUC__) || defined(__clang__)
#define STSW_API [[gnu::visibility("default")]]
#else
#define STSW_API
#endif
