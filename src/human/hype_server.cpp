#include "human/hype_server.h"

#include <algorithm>
#include <set>

#include <httplib.h>

#include "core/error.h"
#include "human/hype_page.h"

namespace trilemma::human {
namespace {

// A refused request: the status and the one-line reason sent back as {"error": ...}.
struct BadRequest {
  int status;
  std::string reason;
};

void send_json(httplib::Response& response, const Json& body, int status = 200) {
  response.status = status;
  response.set_header("Cache-Control", "no-store");
  response.set_content(body.dump(), "application/json");
}

void send_error(httplib::Response& response, int status, const std::string& reason) {
  send_json(response, {{"error", reason}}, status);
}

// Every query parameter must be one the route takes, given once.
void check_parameters(const httplib::Request& request, const std::set<std::string>& allowed) {
  for (const auto& [name, value] : request.params) {
    if (allowed.count(name) == 0) throw BadRequest{400, "unknown parameter '" + name.substr(0, 40) + "'"};
    if (request.params.count(name) > 1) throw BadRequest{400, "parameter '" + name + "' given twice"};
  }
}

// Rater and image ids are 32 lower-case hex digits (study.cpp's random_token).
std::string checked_id(const std::string& value, const std::string& what) {
  const bool well_formed = value.size() == 32 && std::all_of(value.begin(), value.end(), [](char c) {
                             return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
                           });
  if (!well_formed) throw BadRequest{400, "malformed " + what + " id"};
  return value;
}

std::string required_parameter(const httplib::Request& request, const std::string& name, const std::string& what) {
  if (!request.has_param(name.c_str())) throw BadRequest{400, "missing parameter '" + name + "'"};
  return checked_id(request.get_param_value(name.c_str()), what);
}

// An answer: exactly {"rater": id, "image": id, "answer": "real"|"fake", "ms": 0..86400000}.
struct AnswerBody {
  std::string rater, image;
  bool said_real = false;
  int64_t ms = 0;
};

AnswerBody parse_answer(const httplib::Request& request) {
  const std::string type = request.get_header_value("Content-Type");
  if (type.rfind("application/json", 0) != 0) throw BadRequest{415, "send the answer as application/json"};
  const Json body = Json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) throw BadRequest{400, "the body is not a JSON object"};
  for (const auto& [name, value] : body.items())
    if (name != "rater" && name != "image" && name != "answer" && name != "ms")
      throw BadRequest{400, "unknown field '" + name.substr(0, 40) + "'"};
  for (const char* name : {"rater", "image", "answer"})
    if (!body.contains(name) || !body[name].is_string())
      throw BadRequest{400, std::string("field '") + name + "' missing or not a string"};
  if (!body.contains("ms") || !body["ms"].is_number_integer() || body["ms"].get<int64_t>() < 0 ||
      body["ms"].get<int64_t>() > 86400000)
    throw BadRequest{400, "field 'ms' missing or not an integer in [0, 86400000]"};
  const std::string answer = body["answer"].get<std::string>();
  if (answer != "real" && answer != "fake") throw BadRequest{400, "field 'answer' must be \"real\" or \"fake\""};
  return {checked_id(body["rater"].get<std::string>(), "rater"), checked_id(body["image"].get<std::string>(), "image"),
          answer == "real", body["ms"].get<int64_t>()};
}

// Runs a route; refusals and errors become one-line JSON errors.
template <typename Route>
httplib::Server::Handler guarded(Route route) {
  return [route](const httplib::Request& request, httplib::Response& response) {
    try {
      route(request, response);
    } catch (const BadRequest& refused) {
      send_error(response, refused.status, refused.reason);
    } catch (const RequestRefused& refused) {
      send_error(response, refused.status(), refused.what());
    }
  };
}

}  // namespace

HypeServer::HypeServer(Study& study) : study_(study), server_(std::make_unique<httplib::Server>()) {
  server_->set_payload_max_length(kMaxBodyBytes);
  server_->set_default_headers({{"X-Content-Type-Options", "nosniff"},
                                {"Referrer-Policy", "no-referrer"},
                                {"X-Frame-Options", "DENY"}});
  add_routes();
}

HypeServer::~HypeServer() = default;

void HypeServer::add_routes() {
  // The page may run only its own inline script and style and talk only to this server.
  const std::string page_policy =
      "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
      "connect-src 'self'; base-uri 'none'; form-action 'none'";
  server_->Get("/", guarded([page_policy](const httplib::Request& request, httplib::Response& response) {
    check_parameters(request, {});
    response.set_header("Content-Security-Policy", page_policy);
    response.set_content(rating_page(), "text/html; charset=utf-8");
  }));
  server_->Get("/results", guarded([this, page_policy](const httplib::Request& request, httplib::Response& response) {
    check_parameters(request, {});
    response.set_header("Content-Security-Policy", page_policy);
    response.set_header("Cache-Control", "no-store");
    response.set_content(results_page(study_.results()), "text/html; charset=utf-8");
  }));
  server_->Get("/api/results", guarded([this](const httplib::Request& request, httplib::Response& response) {
    check_parameters(request, {});
    send_json(response, study_.results());
  }));
  server_->Post("/api/raters", guarded([this](const httplib::Request& request, httplib::Response& response) {
    check_parameters(request, {});
    if (!request.body.empty()) throw BadRequest{400, "a new rater takes no body"};
    const std::string rater = study_.add_rater();
    send_json(response,
              {{"rater", rater}, {"total", study_.image_count()}, {"session_size", study_.settings().session_size}},
              201);
  }));
  server_->Get("/api/next", guarded([this](const httplib::Request& request, httplib::Response& response) {
    check_parameters(request, {"rater"});
    const NextImage next = study_.next_image(required_parameter(request, "rater", "rater"));
    Json body = {{"done", next.done}, {"position", next.position}, {"total", next.total}};
    if (!next.done) body["image"] = next.image;
    send_json(response, body);
  }));
  server_->Get("/api/image", guarded([this](const httplib::Request& request, httplib::Response& response) {
    check_parameters(request, {"id"});
    const std::string png = study_.image_png(required_parameter(request, "id", "image"));
    response.set_header("Cache-Control", "no-store");
    response.set_content(png, "image/png");
  }));
  server_->Post("/api/answers", guarded([this](const httplib::Request& request, httplib::Response& response) {
    // The body's type first: httplib reads a form body into parameters.
    const AnswerBody answer = parse_answer(request);
    check_parameters(request, {});
    const AnswerReceipt receipt = study_.answer(answer.rater, answer.image, answer.said_real, answer.ms);
    send_json(response, {{"saved", true},
                         {"answered", receipt.answered},
                         {"correct", receipt.correct},
                         {"session_complete", receipt.session_complete},
                         {"session_answered", receipt.session_answered},
                         {"session_correct", receipt.session_correct}});
  }));
  // What httplib refuses itself (no route, wrong method, an oversized body) gets a reason too.
  server_->set_error_handler([](const httplib::Request&, httplib::Response& response) {
    if (!response.body.empty()) return;
    const std::string reason = response.status == 404   ? "no such page"
                               : response.status == 405 ? "method not allowed here"
                               : response.status == 413 ? "request body over " + std::to_string(kMaxBodyBytes) + " bytes"
                                                        : "bad request";
    send_error(response, response.status, reason);
  });
  server_->set_exception_handler([](const httplib::Request&, httplib::Response& response, std::exception_ptr error) {
    std::string what = "internal error";
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      what += std::string(": ") + e.what();
    } catch (...) {
    }
    send_error(response, 500, what.substr(0, what.find('\n')));
  });
}

int HypeServer::bind(const std::string& address, int port) {
  const int bound = port == 0 ? server_->bind_to_any_port(address) : (server_->bind_to_port(address, port) ? port : -1);
  if (bound < 0)
    throw UserError("cannot listen on " + address + ":" + std::to_string(port) +
                    " (in use, or not an address of this machine)");
  return bound;
}

void HypeServer::serve() { server_->listen_after_bind(); }

void HypeServer::stop() { server_->stop(); }

}  // namespace trilemma::human
