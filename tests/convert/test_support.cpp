#include "convert/test_support.hpp"

#include <isa-l/igzip_lib.h>

#include <stdexcept>
#include <vector>

#include "stsw/crc32.hpp"

namespace stsw::cvt::test {

std::string deflate_raw(std::string_view data) {
  isal_zstream z{};
  isal_deflate_stateless_init(&z);
  std::string out(data.size() + data.size() / 8 + 1024, '\0');
  z.next_in = reinterpret_cast<std::uint8_t*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<std::uint32_t>(data.size());
  z.next_out = reinterpret_cast<std::uint8_t*>(out.data());
  z.avail_out = static_cast<std::uint32_t>(out.size());
  z.end_of_stream = 1;
  z.flush = NO_FLUSH;
  std::vector<std::uint8_t> level_buf(ISAL_DEF_LVL1_DEFAULT);
  z.level = 1;
  z.level_buf = level_buf.data();
  z.level_buf_size = static_cast<std::uint32_t>(level_buf.size());
  if (isal_deflate_stateless(&z) != COMP_OK) throw std::runtime_error("isal_deflate_stateless");
  out.resize(z.total_out);
  return out;
}

std::uint32_t zip_crc32(std::string_view data) {
  return stsw::crc32(std::as_bytes(std::span(data.data(), data.size())));
}

std::string make_zip(const std::vector<ZipMember>& members, const ZipOptions& opt) {
  std::string out, cd;
  for (const auto& m : members) {
    const std::string body = m.deflate ? deflate_raw(m.data) : m.data;
    const std::uint64_t lho = out.size();
    const std::uint32_t crc = zip_crc32(m.data);
    const std::uint16_t method = m.deflate ? 8 : 0;
    std::string extra;
    if (opt.zip64) {
      put_le(extra, 0x0001, 2);
      put_le(extra, 16, 2);
      put_le(extra, m.data.size(), 8);
      put_le(extra, body.size(), 8);
    }
    if (opt.extra_padding > 0) {
      put_le(extra, 0x4246, 2);  // arbitrary id, as torch's padding field
      put_le(extra, opt.extra_padding, 2);
      extra.append(opt.extra_padding, 'Z');
    }
    put_le(out, 0x04034b50, 4);
    put_le(out, opt.zip64 ? 45 : 20, 2);
    put_le(out, 0, 2);
    put_le(out, method, 2);
    put_le(out, 0, 4);  // time, date
    put_le(out, crc, 4);
    put_le(out, opt.zip64 ? 0xFFFFFFFF : body.size(), 4);
    put_le(out, opt.zip64 ? 0xFFFFFFFF : m.data.size(), 4);
    put_le(out, m.name.size(), 2);
    put_le(out, extra.size(), 2);
    out += m.name;
    out += extra;
    out += body;
    std::string cextra;
    if (opt.zip64) {
      put_le(cextra, 0x0001, 2);
      put_le(cextra, 24, 2);
      put_le(cextra, m.data.size(), 8);
      put_le(cextra, body.size(), 8);
      put_le(cextra, lho, 8);
    }
    put_le(cd, 0x02014b50, 4);
    put_le(cd, 45, 2);
    put_le(cd, opt.zip64 ? 45 : 20, 2);
    put_le(cd, 0, 2);
    put_le(cd, method, 2);
    put_le(cd, 0, 4);
    put_le(cd, crc, 4);
    put_le(cd, opt.zip64 ? 0xFFFFFFFF : body.size(), 4);
    put_le(cd, opt.zip64 ? 0xFFFFFFFF : m.data.size(), 4);
    put_le(cd, m.name.size(), 2);
    put_le(cd, cextra.size(), 2);
    put_le(cd, 0, 2);  // comment
    put_le(cd, 0, 2);  // disk
    put_le(cd, 0, 2);
    put_le(cd, 0, 4);
    put_le(cd, opt.zip64 ? 0xFFFFFFFF : lho, 4);
    cd += m.name;
    cd += cextra;
  }
  const std::uint64_t cd_offset = out.size();
  out += cd;
  if (opt.zip64) {
    const std::uint64_t rec = out.size();
    put_le(out, 0x06064b50, 4);
    put_le(out, 44, 8);
    put_le(out, 45, 2);
    put_le(out, 45, 2);
    put_le(out, 0, 4);
    put_le(out, 0, 4);
    put_le(out, members.size(), 8);
    put_le(out, members.size(), 8);
    put_le(out, cd.size(), 8);
    put_le(out, cd_offset, 8);
    put_le(out, 0x07064b50, 4);
    put_le(out, 0, 4);
    put_le(out, rec, 8);
    put_le(out, 1, 4);
  }
  put_le(out, 0x06054b50, 4);
  put_le(out, 0, 2);
  put_le(out, 0, 2);
  put_le(out, opt.zip64 ? 0xFFFF : members.size(), 2);
  put_le(out, opt.zip64 ? 0xFFFF : members.size(), 2);
  put_le(out, opt.zip64 ? 0xFFFFFFFF : cd.size(), 4);
  put_le(out, opt.zip64 ? 0xFFFFFFFF : cd_offset, 4);
  put_le(out, 0, 2);
  return out;
}

std::string make_npy(std::string_view descr, bool fortran, std::string_view shape,
                     std::string_view data, int major) {
  std::string dict = "{'descr': '" + std::string(descr) +
                     "', 'fortran_order': " + (fortran ? "True" : "False") +
                     ", 'shape': " + std::string(shape) + ", }";
  const std::size_t pre = major == 1 ? 10 : 12;
  std::size_t total = pre + dict.size() + 1;
  while (total % 64 != 0) {
    dict.push_back(' ');
    ++total;
  }
  dict.push_back('\n');
  std::string out = "\x93NUMPY";
  out.push_back(static_cast<char>(major));
  out.push_back(0);
  put_le(out, dict.size(), major == 1 ? 2 : 4);
  out += dict;
  out += data;
  return out;
}

namespace {

constexpr std::array<std::uint32_t, 64> kK = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

std::uint32_t rotr(std::uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

}  // namespace

std::string sha256_hex(std::string_view data) {
  std::array<std::uint32_t, 8> h = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  std::string msg(data);
  const std::uint64_t bits = static_cast<std::uint64_t>(data.size()) * 8;
  msg.push_back(static_cast<char>(0x80));
  while (msg.size() % 64 != 56) msg.push_back('\0');
  for (int i = 7; i >= 0; --i) msg.push_back(static_cast<char>((bits >> (8 * i)) & 0xFF));
  for (std::size_t blk = 0; blk < msg.size(); blk += 64) {
    std::array<std::uint32_t, 64> w{};
    for (int t = 0; t < 16; ++t) {
      for (int b = 0; b < 4; ++b) {
        w[t] = (w[t] << 8) | static_cast<unsigned char>(msg[blk + 4 * t + b]);
      }
    }
    for (int t = 16; t < 64; ++t) {
      const std::uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
      const std::uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
      w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    auto v = h;
    for (int t = 0; t < 64; ++t) {
      const std::uint32_t S1 = rotr(v[4], 6) ^ rotr(v[4], 11) ^ rotr(v[4], 25);
      const std::uint32_t ch = (v[4] & v[5]) ^ (~v[4] & v[6]);
      const std::uint32_t t1 = v[7] + S1 + ch + kK[t] + w[t];
      const std::uint32_t S0 = rotr(v[0], 2) ^ rotr(v[0], 13) ^ rotr(v[0], 22);
      const std::uint32_t maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
      const std::uint32_t t2 = S0 + maj;
      for (int i = 7; i > 0; --i) v[i] = v[i - 1];
      v[4] += t1;
      v[0] = t1 + t2;
    }
    for (int i = 0; i < 8; ++i) h[i] += v[i];
  }
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (std::uint32_t x : h) {
    for (int i = 28; i >= 0; i -= 4) out.push_back(hex[(x >> i) & 0xF]);
  }
  return out;
}

}  // namespace stsw::cvt::test
