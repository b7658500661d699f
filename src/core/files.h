#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace trilemma {

/// Writes `bytes` to `path` crash-safely: a temporary file in the same directory, flushed
/// with fsync, then renamed over `path`. A failure (e.g. a full disk) throws UserError
/// naming the path, removes the temporary file and leaves any previous `path` intact.
void write_file_atomic(const std::string& path, const std::string& bytes);

/// Reads a whole file; throws UserError naming the path when it cannot.
std::string read_file(const std::string& path);

/// CRC-32 (zlib's polynomial) of bytes: the checksum of checkpoints and the evaluator.
uint32_t crc32_of(const std::string& bytes);

/// A CRC-32 as 8 lower-case hex digits, as reports and eval.json print it.
std::string crc32_hex(uint32_t crc);

/// Appends one line (plus '\n') to a file, creating it if needed; throws on failure.
void append_line(const std::string& path, const std::string& line);

}  // namespace trilemma
