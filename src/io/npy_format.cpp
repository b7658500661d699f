#include "io/npy_format.h"

#include <cctype>

#include "core/error.h"

namespace trilemma::io {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
// 2^31 elements: far above any sample file, and keeps size arithmetic overflow-free.
constexpr int64_t kMaxElements = int64_t{1} << 31;

// A parser for the one Python literal numpy writes as the header, e.g.
//   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 28, 28), }
// numpy reads it with ast.literal_eval; this accepts the subset any numpy writes.
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& name) : text_(text), name_(name) {}

  NpyLayout parse() {
    std::string descr;
    bool have_descr = false, have_order = false, have_shape = false, fortran = false;
    std::vector<int64_t> shape;
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') break;
      const std::string key = quoted();
      expect(':');
      if (key == "descr") {
        if (have_descr) fail("header repeats 'descr'");
        descr = quoted(), have_descr = true;
      } else if (key == "fortran_order") {
        if (have_order) fail("header repeats 'fortran_order'");
        fortran = boolean(), have_order = true;
      } else if (key == "shape") {
        if (have_shape) fail("header repeats 'shape'");
        shape = tuple(), have_shape = true;
      } else {
        fail("header has an unknown key '" + printable(key) + "'");
      }
      skip_space();
      if (peek() == ',') ++at_;
      else if (peek() != '}') fail("malformed header (expected ',' or '}')");
    }
    ++at_;
    for (; at_ < text_.size(); ++at_)
      if (!std::isspace(static_cast<unsigned char>(text_[at_])) && text_[at_] != '\0')
        fail("header has text after its dictionary");
    if (!have_descr) fail("header has no dtype ('descr')");
    if (!have_order) fail("header has no 'fortran_order'");
    if (!have_shape) fail("header has no shape");
    if (fortran) fail("Fortran-ordered arrays are not supported (save with C order)");

    NpyLayout layout;
    if (descr == "|u1" || descr == "<u1") layout.type = NpyType::kUInt8, layout.element_size = 1;
    else if (descr == "<f4") layout.type = NpyType::kFloat32, layout.element_size = 4;
    else if (descr == "<f8") layout.type = NpyType::kFloat64, layout.element_size = 8;
    else
      fail("unsupported dtype '" + printable(descr) +
           "' (use uint8, float32 or float64, little-endian)");
    layout.shape = shape;
    return layout;
  }

 private:
  [[noreturn]] void fail(const std::string& problem) const { throw UserError(name_ + ": " + problem); }

  char peek() const { return at_ < text_.size() ? text_[at_] : '\0'; }

  void skip_space() {
    while (at_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[at_]))) ++at_;
  }

  void expect(char c) {
    skip_space();
    if (peek() != c) fail(std::string("malformed header (expected '") + c + "')");
    ++at_;
  }

  std::string quoted() {
    skip_space();
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail("malformed header (expected a quoted string)");
    const size_t end = text_.find(quote, at_ + 1);
    if (end == std::string::npos) fail("malformed header (unterminated string)");
    std::string value = text_.substr(at_ + 1, end - at_ - 1);
    at_ = end + 1;
    return value;
  }

  bool boolean() {
    skip_space();
    if (text_.compare(at_, 4, "True") == 0) {
      at_ += 4;
      return true;
    }
    if (text_.compare(at_, 5, "False") == 0) {
      at_ += 5;
      return false;
    }
    fail("malformed header ('fortran_order' must be True or False)");
  }

  std::vector<int64_t> tuple() {
    expect('(');
    std::vector<int64_t> dims;
    int64_t count = 1;
    while (true) {
      skip_space();
      if (peek() == ')') break;
      if (!std::isdigit(static_cast<unsigned char>(peek())))
        fail("malformed shape (dimensions must be non-negative integers)");
      int64_t dim = 0;
      while (std::isdigit(static_cast<unsigned char>(peek()))) {
        dim = dim * 10 + (text_[at_++] - '0');
        if (dim > kMaxElements) fail("array too large (a dimension exceeds 2^31)");
      }
      if (peek() == 'L') ++at_;  // Python 2 longs, in files written by old numpy
      if (dims.size() >= 32) fail("malformed shape (more than 32 dimensions)");
      dims.push_back(dim);
      if (dim != 0 && count > kMaxElements / dim) fail("array too large (over 2^31 elements)");
      count *= dim;
      skip_space();
      if (peek() == ',') ++at_;
      else if (peek() != ')') fail("malformed shape (expected ',' or ')')");
    }
    ++at_;
    return dims;
  }

  static std::string printable(const std::string& s) {
    std::string out;
    for (char c : s.substr(0, 40)) out += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
    return out;
  }

  const std::string& text_;
  const std::string& name_;
  size_t at_ = 0;
};

}  // namespace

NpyLayout parse_npy(const std::string& bytes, const std::string& name) {
  auto fail = [&](const std::string& problem) { throw UserError(name + ": " + problem); };
  if (bytes.size() < kMagicSize + 4 || bytes.compare(0, kMagicSize, kMagic, kMagicSize) != 0)
    fail("not a .npy file (bad magic)");
  const uint8_t major = static_cast<uint8_t>(bytes[6]);
  size_t header_length = 0, offset = 0;
  if (major == 1) {
    header_length = static_cast<uint8_t>(bytes[8]) | (static_cast<uint8_t>(bytes[9]) << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) fail("truncated header");
    for (int i = 3; i >= 0; --i) header_length = (header_length << 8) | static_cast<uint8_t>(bytes[8 + i]);
    offset = 12;
  } else {
    fail("unsupported .npy version " + std::to_string(major));
  }
  if (bytes.size() - offset < header_length) fail("truncated header");
  const std::string header = bytes.substr(offset, header_length);
  NpyLayout layout = HeaderParser(header, name).parse();
  layout.data_offset = offset + header_length;
  size_t count = 1;
  for (int64_t dim : layout.shape) count *= static_cast<size_t>(dim);  // <= 2^31, checked
  layout.data_bytes = count * layout.element_size;
  const size_t available = bytes.size() - layout.data_offset;
  if (available != layout.data_bytes)
    fail("data size " + std::to_string(available) + " bytes does not match the header's shape (" +
         std::to_string(layout.data_bytes) + " bytes)");
  return layout;
}

}  // namespace trilemma::io
