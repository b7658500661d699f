#pragma once
// Text and bytes made safe to embed in HTML and SVG: both the page and its inline charts
// escape names through here, and images travel as base64 data URIs.
#include <string>

namespace trilemma::report {

/// Escapes &, <, > and " (enough for element text and double-quoted attributes).
std::string html_escape(const std::string& text);

/// Standard base64 (RFC 4648, with padding), for data:image/png URIs.
std::string base64_encode(const std::string& bytes);

}  // namespace trilemma::report
