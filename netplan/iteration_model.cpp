#include "netplan/iteration_model.h"

#include <algorithm>
#include <cmath>
#include <queue>

namespace bulwark::netplan {
namespace {

// The parts of the model that do not depend on the layer split.
struct StageTerms {
  double layer_s = 0;        // one layer, one micro-batch, forward and backward
  std::vector<double> p2p;   // per stage and micro-batch
  std::vector<double> grad;  // per stage: all-reduce seconds per layer
  std::vector<double> lat;   // per stage: all-reduce latency terms
  std::vector<std::string> cls;
};

double BytesPerSecond(const NicClass& c) { return c.gbps * 1e9 / 8; }

bool SameGroup(const PlacementNode& a, const PlacementNode& b) { return a.nic == b.nic && a.island == b.island; }

const NicClass& Link(const PlacementProblem& pr, const PlacementNode& a, const PlacementNode& b) {
  return *pr.fabric.Find(SameGroup(a, b) ? a.nic : pr.fabric.between_groups);
}

StageTerms Terms(const PlacementProblem& pr, const std::vector<int>& at) {
  const TransformerJob& j = pr.job;
  const double b = j.micro_batch_size, s = j.seq_len, h = j.hidden;
  StageTerms t;
  t.layer_s = 72 * b * s * h * h * (1 + s / (6 * h)) / (j.tp * j.gpu_tflops * 1e12);
  const double activation = b * s * h * j.bytes_per_value;
  const double layer_grads = 12 * h * h * j.bytes_per_value;
  auto node = [&](int stage, int replica) -> const PlacementNode& { return pr.nodes[at[stage * j.dp + replica]]; };
  auto hop = [&](int from, int to) {  // the slowest replica's transfer between two stages
    double worst = 0;
    for (int d = 0; d < j.dp; ++d) {
      const NicClass& c = Link(pr, node(from, d), node(to, d));
      worst = std::max(worst, c.latency_us * 1e-6 + activation / BytesPerSecond(c));
    }
    return worst;
  };
  for (int st = 0; st < j.pp; ++st) {
    double p2p = 0;
    if (st + 1 < j.pp) p2p += hop(st, st + 1);
    if (st > 0) p2p += hop(st, st - 1);
    t.p2p.push_back(p2p);
    bool one_group = true;
    for (int d = 1; d < j.dp; ++d) one_group = one_group && SameGroup(node(st, 0), node(st, d));
    const NicClass& c = *pr.fabric.Find(one_group ? node(st, 0).nic : pr.fabric.between_groups);
    t.cls.push_back(c.name);
    const double ring = 2.0 * (j.dp - 1) / j.dp;
    t.grad.push_back(j.dp > 1 ? ring * layer_grads / BytesPerSecond(c) : 0);
    t.lat.push_back(j.dp > 1 ? 2.0 * (j.dp - 1) * c.latency_us * 1e-6 : 0);
  }
  return t;
}

// The all-reduce time left over once each stage's share of the bubble hides its start.
double ExposedReduce(const StageTerms& t, const std::vector<int>& layers, double step) {
  double exposed = 0;
  for (size_t st = 0; st < layers.size(); ++st) {
    exposed = std::max(exposed, layers[st] * t.grad[st] + t.lat[st] - static_cast<double>(st) * step);
  }
  return exposed;
}

double Step(const StageTerms& t, const std::vector<int>& layers) {
  double step = 0;
  for (size_t st = 0; st < layers.size(); ++st) step = std::max(step, layers[st] * t.layer_s + t.p2p[st]);
  return step;
}

double Cost(const TransformerJob& j, const StageTerms& t, const std::vector<int>& layers) {
  const double step = Step(t, layers);
  return (j.micro_batches + j.pp - 1) * step + ExposedReduce(t, layers, step);
}

}  // namespace

std::vector<NicClass> DefaultNicClasses() {
  return {{"ib", 1600, 2}, {"roce", 1400, 4}, {"ethernet", 100, 30}};
}

const NicClass* NicFabric::Find(const std::string& name) const {
  for (const NicClass& c : classes) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

Status Validate(const PlacementProblem& pr) {
  const TransformerJob& j = pr.job;
  if (j.tp < 1 || j.pp < 1 || j.dp < 1) return Status::Error("tp, pp and dp must be at least 1");
  if (j.hidden < 1 || j.seq_len < 1 || j.micro_batches < 1 || j.micro_batch_size < 1 || j.gpu_tflops <= 0 ||
      j.bytes_per_value <= 0) {
    return Status::Error("hidden, seq_len, micro_batches, micro_batch_size, gpu_tflops and bytes_per_value must be positive");
  }
  if (j.layers < j.pp) {
    return Status::Error("the job has " + std::to_string(j.layers) + " layers for " + std::to_string(j.pp) +
                         " pipeline stages: every stage needs a layer");
  }
  for (const NicClass& c : pr.fabric.classes) {
    if (c.gbps <= 0 || c.latency_us < 0) return Status::Error("NIC class '" + c.name + "' needs gbps > 0 and latency_us >= 0");
  }
  if (!pr.fabric.Find(pr.fabric.between_groups)) {
    return Status::Error("the class between NIC groups, '" + pr.fabric.between_groups + "', is not one of the fabric's classes");
  }
  for (const PlacementNode& n : pr.nodes) {
    if (!pr.fabric.Find(n.nic)) return Status::Error("node " + n.name + " has NIC class '" + n.nic + "', which the fabric does not define");
  }
  if (static_cast<int>(pr.nodes.size()) < j.nodes()) {
    return Status::Error("the job needs " + std::to_string(j.nodes()) + " nodes (pp " + std::to_string(j.pp) + " x dp " +
                         std::to_string(j.dp) + "); " + std::to_string(pr.nodes.size()) + " are candidates");
  }
  return Status::Ok();
}

IterationEstimate Estimate(const PlacementProblem& pr, const Layout& layout) {
  const TransformerJob& j = pr.job;
  const StageTerms t = Terms(pr, layout.nodes);
  IterationEstimate e;
  for (int st = 0; st < j.pp; ++st) {
    e.stage_step_s.push_back(layout.layers[st] * t.layer_s + t.p2p[st]);
    e.stage_allreduce_s.push_back(layout.layers[st] * t.grad[st] + t.lat[st]);
    e.stage_p2p_s.push_back(t.p2p[st]);
  }
  const double step = Step(t, layout.layers);
  e.allreduce_s = ExposedReduce(t, layout.layers, step);
  e.stage_class = t.cls;
  e.pipeline_s = (j.micro_batches + j.pp - 1) * step;
  e.bubble_s = (j.pp - 1) * step;
  e.iteration_s = e.pipeline_s + e.allreduce_s;
  e.samples_per_gpu_s = static_cast<double>(j.micro_batches) * j.micro_batch_size * j.dp / e.iteration_s / (j.nodes() * j.tp);
  return e;
}

std::vector<int> SplitLayers(const PlacementProblem& pr, const std::vector<int>& at) {
  const TransformerJob& j = pr.job;
  const StageTerms t = Terms(pr, at);
  const double bubble_factor = j.micro_batches + j.pp - 1;
  // For each bound X on the slowest stage step, the stages' layer caps follow, and under
  // caps the best split of the exposed all-reduce (each stage's minus s * X) is greedy:
  // each next layer to the stage whose term grows least. The cost at X bounds the true cost
  // of that split from above (a shorter step loses at most pp - 1 steps of hiding and gains
  // micro_batches + pp - 1 of pipeline) and equals it at the optimum's own step, so trying
  // every X in rising order, until the pipeline term alone passes the best cost, finds it.
  std::vector<double> bounds;
  for (int st = 0; st < j.pp; ++st) {
    for (int l = 1; l <= j.layers - j.pp + 1; ++l) bounds.push_back(l * t.layer_s + t.p2p[st]);
  }
  std::sort(bounds.begin(), bounds.end());
  std::vector<int> best(j.pp, 1), caps(j.pp), layers(j.pp);
  double best_cost = -1;
  for (double x : bounds) {
    if (best_cost >= 0 && bubble_factor * x >= best_cost) break;
    int room = 0;
    bool feasible = true;
    for (int st = 0; st < j.pp; ++st) {
      caps[st] = std::min(j.layers, static_cast<int>(std::floor((x - t.p2p[st]) / t.layer_s + 1e-9)));
      feasible = feasible && caps[st] >= 1;
      room += std::max(caps[st], 0);
    }
    if (!feasible || room < j.layers) continue;
    using Next = std::pair<double, int>;  // the all-reduce of the stage with one more layer
    std::priority_queue<Next, std::vector<Next>, std::greater<>> next;
    for (int st = 0; st < j.pp; ++st) {
      layers[st] = 1;
      if (caps[st] > 1) next.push({2 * t.grad[st] + t.lat[st] - st * x, st});
    }
    for (int left = j.layers - j.pp; left > 0; --left) {
      const int st = next.top().second;
      next.pop();
      if (++layers[st] < caps[st]) next.push({(layers[st] + 1) * t.grad[st] + t.lat[st] - st * x, st});
    }
    const double cost = Cost(j, t, layers);
    if (best_cost < 0 || cost < best_cost) {
      best_cost = cost;
      best = layers;
    }
  }
  return best;
}

}  // namespace bulwark::netplan
