#include "perf/op_profile.h"

#include <ATen/record_function.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>

namespace trilemma::perf {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<int64_t> int_list(const c10::IValue& value) {
  return value.isIntList() ? value.toIntVector() : std::vector<int64_t>{};
}

// A one-element list means "the same for every spatial dimension" (PyTorch's int[2]).
int64_t at_or_last(const std::vector<int64_t>& values, size_t i, int64_t fallback) {
  if (values.empty()) return fallback;
  return i < values.size() ? values[i] : values.back();
}

int64_t product(const std::vector<int64_t>& values, size_t from) {
  int64_t p = 1;
  for (size_t i = from; i < values.size(); ++i) p *= values[i];
  return p;
}

// State of the observer on the profiling thread; the callbacks are plain function pointers.
struct ProfilerState {
  std::map<std::string, OpStats> ops;
  int64_t flops = 0;
  int depth = 0;
  std::string outermost;  ///< name of the outermost operator now running
};
thread_local ProfilerState* active_state = nullptr;

struct StartTime : at::ObserverContext {
  Clock::time_point start;
  bool outermost = false;
};

std::unique_ptr<at::ObserverContext> on_start(const at::RecordFunction& fn) {
  auto context = std::make_unique<StartTime>();
  ProfilerState* state = active_state;
  if (!state) return context;
  const std::string name = fn.name();
  context->outermost = state->depth++ == 0;
  if (context->outermost) state->outermost = name;
  // Attributed to the outermost operator, so that the table's GFLOP/s reads per aten::conv2d.
  const int64_t flops = operator_flops(name, fn.inputs());
  if (flops > 0) {
    state->ops[state->outermost].flops += flops;
    state->flops += flops;
  }
  context->start = Clock::now();
  return context;
}

void on_end(const at::RecordFunction& fn, at::ObserverContext* raw) {
  ProfilerState* state = active_state;
  auto* context = static_cast<StartTime*>(raw);
  if (!state || !context) return;
  --state->depth;
  if (!context->outermost) return;
  OpStats& stats = state->ops[fn.name()];
  stats.calls += 1;
  stats.seconds += std::chrono::duration<double>(Clock::now() - context->start).count();
}

}  // namespace

int64_t convolution_flops(const ConvShape& s) {
  if (s.input.size() < 3 || s.weight.size() != s.input.size()) return 0;
  const size_t spatial = s.input.size() - 2;
  const int64_t batch = s.input[0];
  const int64_t kernel = product(s.weight, 2);
  if (s.transposed) {
    // weight: C_in, C_out/groups, k...; every input pixel meets the whole kernel once.
    return 2 * batch * s.input[1] * product(s.input, 2) * s.weight[1] * kernel;
  }
  int64_t out_pixels = 1;
  for (size_t d = 0; d < spatial; ++d) {
    const int64_t k = s.weight[2 + d];
    const int64_t stride = at_or_last(s.stride, d, 1);
    const int64_t pad = at_or_last(s.padding, d, 0);
    const int64_t dilation = at_or_last(s.dilation, d, 1);
    out_pixels *= (s.input[2 + d] + 2 * pad - dilation * (k - 1) - 1) / stride + 1;
  }
  // weight[1] is already C_in/groups.
  return 2 * batch * s.weight[0] * out_pixels * s.weight[1] * kernel;
}

int64_t operator_flops(const std::string& name, c10::ArrayRef<const c10::IValue> in) {
  auto sizes = [&](size_t i) {
    return i < in.size() && in[i].isTensor() ? in[i].toTensor().sizes().vec() : std::vector<int64_t>{};
  };
  if (name == "aten::convolution" && in.size() >= 9) {
    ConvShape shape;
    shape.input = sizes(0);
    shape.weight = sizes(1);
    shape.stride = int_list(in[3]);
    shape.padding = int_list(in[4]);
    shape.dilation = int_list(in[5]);
    shape.transposed = in[6].isBool() && in[6].toBool();
    shape.groups = in[8].isInt() ? in[8].toInt() : 1;
    return convolution_flops(shape);
  }
  // (n×k)·(k×m): n·k·m multiply-adds; addmm's bias and scaling are not counted.
  auto matrix = [](const std::vector<int64_t>& a, const std::vector<int64_t>& b) -> int64_t {
    if (a.size() != 2 || b.size() != 2) return 0;
    return 2 * a[0] * a[1] * b[1];
  };
  auto batched = [](const std::vector<int64_t>& a, const std::vector<int64_t>& b) -> int64_t {
    if (a.size() != 3 || b.size() != 3) return 0;
    return 2 * a[0] * a[1] * a[2] * b[2];
  };
  if (name == "aten::mm") return matrix(sizes(0), sizes(1));
  if (name == "aten::addmm") return matrix(sizes(1), sizes(2));
  if (name == "aten::bmm") return batched(sizes(0), sizes(1));
  if (name == "aten::baddbmm") return batched(sizes(1), sizes(2));
  return 0;
}

OpProfile profile_ops(const std::function<void()>& fn) {
  ProfilerState state;
  ProfilerState* previous = active_state;
  active_state = &state;
  auto handle = at::addThreadLocalCallback(
      at::RecordFunctionCallback(&on_start, &on_end).needsInputs(true).scopes({at::RecordScope::FUNCTION}));
  const auto start = Clock::now();
  try {
    fn();
  } catch (...) {
    at::removeCallback(handle);
    active_state = previous;
    throw;
  }
  const auto stop = Clock::now();
  at::removeCallback(handle);
  active_state = previous;

  OpProfile profile;
  profile.wall_seconds = std::chrono::duration<double>(stop - start).count();
  profile.flops = state.flops;
  for (auto& [name, stats] : state.ops) {
    stats.name = name;
    profile.ops.push_back(stats);
  }
  std::sort(profile.ops.begin(), profile.ops.end(),
            [](const OpStats& a, const OpStats& b) { return a.seconds > b.seconds; });
  return profile;
}

int64_t count_flops(const std::function<void()>& fn) { return profile_ops(fn).flops; }

std::string OpProfile::table(size_t top) const {
  std::string out;
  char line[160];
  std::snprintf(line, sizeof line, "  %-36s %7s %10s %6s %9s\n", "operator", "calls", "ms", "%", "GFLOP/s");
  out += line;
  double listed = 0.0;
  for (size_t i = 0; i < ops.size() && i < top; ++i) {
    const OpStats& op = ops[i];
    listed += op.seconds;
    const double rate = op.seconds > 0 && op.flops > 0 ? op.flops / op.seconds / 1e9 : 0.0;
    std::snprintf(line, sizeof line, "  %-36s %7lld %10.2f %6.1f %9.1f\n", op.name.c_str(),
                  static_cast<long long>(op.calls), 1e3 * op.seconds,
                  wall_seconds > 0 ? 100.0 * op.seconds / wall_seconds : 0.0, rate);
    out += line;
  }
  std::snprintf(line, sizeof line, "  %-36s %7s %10.2f %6.1f\n", "(other ops and between ops)", "",
                1e3 * (wall_seconds - listed), wall_seconds > 0 ? 100.0 * (wall_seconds - listed) / wall_seconds : 0.0);
  out += line;
  return out;
}

}  // namespace trilemma::perf
