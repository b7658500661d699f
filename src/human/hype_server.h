#pragma once
// The HTTP side of a HYPE study: the rating page, the images, the answers and the results,
// over one Study (human/study.h). Every request is validated before the study sees it: a
// parameter the route does not take, a malformed id, a body over kMaxBodyBytes or not the
// expected JSON is refused with a 4xx status and {"error": "one-line reason"}. Images are
// looked up by their random id in the database, so no part of a request names a file.
#include <memory>
#include <string>

#include "human/study.h"

namespace httplib {
class Server;
}

namespace trilemma::human {

/// The largest request body accepted (an answer is ~120 bytes).
constexpr size_t kMaxBodyBytes = 4096;

class HypeServer {
 public:
  explicit HypeServer(Study& study);
  ~HypeServer();
  HypeServer(const HypeServer&) = delete;
  HypeServer& operator=(const HypeServer&) = delete;

  /// Binds to address:port (port 0: any free port) and returns the port; UserError when the
  /// address or port cannot be bound.
  int bind(const std::string& address, int port);
  /// Serves requests until stop() (blocks; call after bind).
  void serve();
  /// Stops serve() from another thread or a signal watcher; requests in flight finish.
  void stop();

 private:
  void add_routes();
  Study& study_;
  std::unique_ptr<httplib::Server> server_;
};

}  // namespace trilemma::human
