// Corrupting an LMDB store's file behind its back, for tests of verification on read.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "synapse/core/bytes.h"

namespace synapse::testing {

// Flips one byte in the middle of every copy of `data` in `file` (LMDB may hold stale copies in
// free pages); returns how many copies it found.
inline int flip_on_disk(const std::filesystem::path& file, const core::Bytes& data) {
  std::ifstream in(file, std::ios::binary);
  std::vector<char> contents((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  const char* begin = reinterpret_cast<const char*>(data.data());
  int found = 0;
  int fd = ::open(file.c_str(), O_WRONLY);
  if (fd < 0) return 0;
  for (auto it = contents.begin();
       (it = std::search(it, contents.end(), begin, begin + data.size())) != contents.end(); ++it) {
    const off_t offset = (it - contents.begin()) + static_cast<off_t>(data.size() / 2);
    const char flipped = static_cast<char>(contents[offset] ^ 0x5a);
    if (::pwrite(fd, &flipped, 1, offset) == 1) ++found;
  }
  ::close(fd);
  return found;
}

}  // namespace synapse::testing
