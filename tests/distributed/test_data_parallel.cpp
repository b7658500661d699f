// The pieces that make N ranks follow one process's recipe, each against the one-process
// computation: two ranks run as two threads of this process, joined over loopback by the
// same rendezvous and Gloo group a launched run uses.
#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include "core/error.h"
#include "distributed/data_parallel.h"
#include "distributed/launcher.h"
#include "distributed/process_group.h"

namespace trilemma::distributed {
namespace {

// Runs body(group) on `world` ranks at once, one thread each; rethrows a rank's failure.
void on_ranks(int world, const std::function<void(Collectives&)>& body) {
  const int port = free_local_port();
  std::vector<std::exception_ptr> errors(world);
  std::vector<std::thread> threads;
  for (int rank = 0; rank < world; ++rank)
    threads.emplace_back([&, rank] {
      try {
        LaunchEnvironment env;
        env.rank = rank;
        env.world_size = world;
        env.master_addr = "127.0.0.1";
        env.master_port = port;
        const auto group = connect(env, "gloo", std::chrono::seconds(30));
        body(*group);
      } catch (...) {
        errors[rank] = std::current_exception();
      }
    });
  for (auto& thread : threads) thread.join();
  for (auto& error : errors)
    if (error) std::rethrow_exception(error);
}

TEST(AverageGradients, EveryRankEndsWithTheMeanAcrossBuckets) {
  // 3 Mi + 2 Mi + 10 elements: two buckets (4 Mi each at most), the second holding two
  // tensors, so that the copy back from a flat bucket is checked at an offset.
  const std::vector<int64_t> sizes{3 << 20, 2 << 20, 10};
  std::vector<std::vector<torch::Tensor>> results(2);
  on_ranks(2, [&](Collectives& group) {
    std::vector<torch::Tensor> parameters;
    for (size_t i = 0; i < sizes.size(); ++i) {
      auto p = torch::zeros({sizes[i]}).requires_grad_(true);
      p.mutable_grad() = torch::arange(sizes[i], torch::kFloat) * (group.rank() + 1) + static_cast<double>(i);
      parameters.push_back(p);
    }
    auto without_grad = torch::zeros({3}).requires_grad_(true);  // skipped, stays undefined
    parameters.push_back(without_grad);
    average_gradients(group, parameters);
    EXPECT_FALSE(without_grad.grad().defined());
    for (size_t i = 0; i < sizes.size(); ++i) results[group.rank()].push_back(parameters[i].grad().clone());
  });
  for (size_t i = 0; i < sizes.size(); ++i) {
    // mean of (k·1 + i) and (k·2 + i) = 1.5k + i
    const auto expected = torch::arange(sizes[i], torch::kFloat) * 1.5 + static_cast<double>(i);
    for (int rank = 0; rank < 2; ++rank)
      EXPECT_TRUE(torch::equal(results[rank][i], expected)) << "tensor " << i << " on rank " << rank;
  }
}

TEST(ShardedDraws, ARankGetsItsRowsOfTheGlobalDraw) {
  auto global = [](const std::function<torch::Tensor()>& draw) {
    torch::manual_seed(11);
    return draw();
  };
  const auto x = torch::zeros({3, 2, 5});
  const std::vector<std::pair<std::function<torch::Tensor()>, std::function<torch::Tensor()>>> cases = {
      {[] { return torch::randn({8, 2, 5}); }, [] { return shard_randn({3, 2, 5}); }},
      {[] { return torch::randn({8, 2, 5}); }, [&] { return shard_randn_like(x); }},
      {[] { return torch::rand({8}); }, [] { return shard_rand({3}); }},
      {[] { return torch::randint(0, 1000, {8}, torch::kLong); }, [] { return shard_randint(0, 1000, {3}); }},
      {[] { return torch::dropout(torch::ones({8, 2, 5}), 0.3, true); },
       [] { return shard_dropout(torch::ones({3, 2, 5}), 0.3, true); }},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto whole = global(cases[i].first);
    torch::manual_seed(11);
    torch::Tensor mine;
    {
      const ShardScope scope(4, 8);
      mine = cases[i].second();
    }
    EXPECT_TRUE(torch::equal(mine, whole.narrow(0, 4, 3))) << "case " << i;
  }
  // Outside a scope, and in a scope of one rank, the plain draw, bit for bit.
  torch::manual_seed(5);
  const auto plain = torch::randn({4, 3});
  torch::manual_seed(5);
  EXPECT_TRUE(torch::equal(shard_randn({4, 3}), plain));
  torch::manual_seed(5);
  {
    const ShardScope scope(0, 4);
    EXPECT_TRUE(torch::equal(shard_randn({4, 3}), plain));
  }
  const ShardScope scope(6, 8);
  EXPECT_THROW(shard_randn({3}), std::logic_error);  // rows 6..8 of 8
}

// The one-process reference: x = input + a·input² (a scale alone would be normalised away)
// through BatchNorm2d, loss = mean over rows of
// Σ(y·c). On two ranks each takes half the rows; after average_gradients the parameters'
// gradients, the outputs and the running statistics must be the one process's.
TEST(SyncBatchNorm, TwoRanksMatchOneProcessForwardBackwardAndRunningStats) {
  torch::manual_seed(3);
  const auto input = torch::randn({8, 3, 4, 4}) * 2 + 0.5;
  const auto c = torch::randn({8, 3, 4, 4});
  auto reference = torch::nn::BatchNorm2d(torch::nn::BatchNorm2dOptions(3).momentum(0.1));
  torch::NoGradGuard no_grad_init;
  reference->weight.uniform_(0.5, 1.5);
  reference->bias.uniform_(-0.5, 0.5);
  auto weight0 = reference->weight.clone(), bias0 = reference->bias.clone();
  torch::Tensor a_ref, y_ref;
  {
    at::AutoGradMode grad(true);
    a_ref = torch::full({1}, 0.3).requires_grad_(true);
    y_ref = reference->forward(input + a_ref * input.square());
    ((y_ref * c).sum({1, 2, 3})).mean().backward();
  }
  struct Result {
    torch::Tensor y, a_grad, w_grad, b_grad, running_mean, running_var;
  };
  std::vector<Result> results(2);
  on_ranks(2, [&](Collectives& group) {
    at::AutoGradMode grad(true);
    const int64_t offset = 4 * group.rank();
    auto norm = torch::nn::BatchNorm2d(torch::nn::BatchNorm2dOptions(3).momentum(0.1));
    {
      torch::NoGradGuard no_grad;
      norm->weight.copy_(weight0);
      norm->bias.copy_(bias0);
    }
    auto a = torch::full({1}, 0.3).requires_grad_(true);
    const auto rows = input.narrow(0, offset, 4);
    const auto y = sync_batch_norm(group, rows + a * rows.square(), norm->weight, norm->bias,
                                   norm->running_mean, norm->running_var, norm->num_batches_tracked, 0.1, 1e-5);
    ((y * c.narrow(0, offset, 4)).sum({1, 2, 3})).mean().backward();
    average_gradients(group, {a, norm->weight, norm->bias});
    results[group.rank()] = {y.detach(), a.grad(), norm->weight.grad(), norm->bias.grad(), norm->running_mean,
                             norm->running_var};
  });
  for (int rank = 0; rank < 2; ++rank) {
    const Result& r = results[rank];
    EXPECT_TRUE(torch::allclose(r.y, y_ref.detach().narrow(0, 4 * rank, 4), 1e-5, 1e-5)) << rank;
    EXPECT_TRUE(torch::allclose(r.a_grad, a_ref.grad(), 1e-4, 1e-6)) << r.a_grad << a_ref.grad();
    EXPECT_TRUE(torch::allclose(r.w_grad, reference->weight.grad(), 1e-4, 1e-6)) << rank;
    EXPECT_TRUE(torch::allclose(r.b_grad, reference->bias.grad(), 1e-4, 1e-6)) << rank;
    EXPECT_TRUE(torch::allclose(r.running_mean, reference->running_mean, 1e-5, 1e-6)) << rank;
    EXPECT_TRUE(torch::allclose(r.running_var, reference->running_var, 1e-5, 1e-6)) << rank;
  }
  // The reference moved: a test of a no-op would pass the comparisons above only if the
  // statistics were still their initial values.
  EXPECT_GT((reference->running_mean).abs().max().item<double>(), 0.01);
  EXPECT_GT(a_ref.grad().abs().item<double>(), 0.05);
}

TEST(LaunchEnvironment, MalformedVariablesAreOneLineErrors) {
  struct Case {
    std::vector<std::pair<const char*, const char*>> set;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {{{"RANK", "0"}}, "WORLD_SIZE is not set"},
      {{{"WORLD_SIZE", "2"}}, "RANK is not set"},
      {{{"RANK", "2"}, {"WORLD_SIZE", "2"}}, "RANK=2 is not below WORLD_SIZE=2"},
      {{{"RANK", "x"}, {"WORLD_SIZE", "2"}}, "RANK=x: expected an integer"},
      {{{"RANK", "0"}, {"WORLD_SIZE", "0"}}, "WORLD_SIZE=0: expected an integer from 1"},
      {{{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "29500"}}, "MASTER_ADDR is not set"},
      {{{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"}}, "MASTER_PORT is not set"},
      {{{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "70000"}},
       "MASTER_PORT=70000: expected an integer from 1 to 65535"},
      {{{"RANK", "1"}, {"WORLD_SIZE", "4"}, {"LOCAL_WORLD_SIZE", "2"}, {"LOCAL_RANK", "2"}, {"MASTER_ADDR", "h"},
        {"MASTER_PORT", "1"}},
       "LOCAL_RANK=2: expected an integer from 0 to 1"},
  };
  const char* names[] = {"RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"};
  auto clear = [&] {
    for (const char* name : names) unsetenv(name);
  };
  clear();
  EXPECT_FALSE(launch_environment().has_value());
  for (const Case& c : cases) {
    clear();
    for (const auto& [name, value] : c.set) setenv(name, value, 1);
    try {
      launch_environment();
      ADD_FAILURE() << "accepted: " << c.expected;
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find(c.expected), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    }
  }
  clear();
  setenv("RANK", "1", 1);
  setenv("WORLD_SIZE", "3", 1);
  setenv("MASTER_ADDR", "node0", 1);
  setenv("MASTER_PORT", "29501", 1);
  const auto env = launch_environment();
  ASSERT_TRUE(env.has_value());
  EXPECT_EQ(env->rank, 1);
  EXPECT_EQ(env->world_size, 3);
  EXPECT_EQ(env->local_rank, 1);  // one machine unless told
  EXPECT_EQ(env->local_world_size, 3);
  EXPECT_EQ(env->master_addr, "node0");
  EXPECT_EQ(env->master_port, 29501);
  clear();
}

TEST(Rendezvous, AMissingRankTimesOutWithAClearMessage) {
  LaunchEnvironment env;
  env.rank = 0;
  env.world_size = 2;
  env.master_addr = "127.0.0.1";
  env.master_port = free_local_port();
  const auto start = std::chrono::steady_clock::now();
  try {
    connect(env, "gloo", std::chrono::seconds(2));
    FAIL() << "a group of one of two ranks formed";
  } catch (const UserError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("rank 0 of 2"), std::string::npos) << what;
    EXPECT_NE(what.find("did not form"), std::string::npos) << what;
  }
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 20);
}

}  // namespace
}  // namespace trilemma::distributed
