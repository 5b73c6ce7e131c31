// The iteration-time model of a transformer job on a cluster whose nodes carry different
// NICs (InfiniBand, RoCE, Ethernet), used by NIC-aware placement (placement.h). Pure.
//
// Shape: tensor parallelism inside a node (tp = the node's GPUs), pp pipeline stages, dp
// data-parallel replicas; pp * dp nodes. Position p = stage * dp + replica is the node of
// rank block p, the order Megatron numbers ranks in (tp fastest, then dp, then pp).
//
// Per iteration, 1F1B schedule:
//   stage step   t_s = L_s * layer_s + p2p to the neighbours (an activation forward, its
//                gradient back, each at latency + bytes / bandwidth of the slowest link)
//   pipeline     (micro_batches + pp - 1) * max_s t_s   (the bubble is the pp - 1 extra steps)
//   all-reduce   ring over the stage's dp nodes of its layers' gradients:
//                2 (dp-1)/dp * 12 h^2 L_s * bytes / bandwidth + 2 (dp-1) * latency
//   iteration    pipeline + max_s (all-reduce_s - s * max step)+
//                Each stage reduces its gradients on its own NICs once its last backward is
//                done. Stage s finishes that s steps before stage 0 and starts the next
//                iteration s steps after it, so s steps of its all-reduce hide in the bubble:
//                a stage on a slow NIC costs least at the end of the pipeline.
// layer_s is 72 b s h^2 (1 + s / 6h) flops (forward and backward) over the node's GPUs.
// Two nodes talk over their own class only when both are in the same NIC group (class and
// island); everything else crosses the fabric's `between_groups` class (the Ethernet every
// node has). Embeddings, the optimizer step and overlap of compute with communication are
// left out: the model ranks placements, it does not predict a profiler's numbers.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace bulwark::netplan {

// A NIC class as a node's collectives see it: all its rails together, and one hop's latency.
struct NicClass {
  std::string name;
  double gbps = 100;
  double latency_us = 10;
};

// ib 200 Gb/s 2 µs, roce 180 Gb/s 4 µs, ethernet 25 Gb/s 30 µs per node, chosen so the
// model's single-class spread resembles Holmes' measured one (IB ≈ RoCE, Ethernet ≈ 0.56×).
std::vector<NicClass> DefaultNicClasses();

struct NicFabric {
  std::vector<NicClass> classes;
  std::string between_groups = "ethernet";
  const NicClass* Find(const std::string& name) const;
};

struct PlacementNode {
  std::string name;
  std::string nic;     // a class of the fabric
  std::string island;  // one fast fabric of that class; nodes of different islands meet over Ethernet
};

struct TransformerJob {
  int tp = 8;  // GPUs per node
  int pp = 1;
  int dp = 1;
  int layers = 32;
  int hidden = 4096;
  int seq_len = 2048;
  int micro_batches = 8;  // per iteration and pipeline
  int micro_batch_size = 1;
  double gpu_tflops = 150;     // achieved, per GPU
  double bytes_per_value = 2;  // bf16 activations and gradients
  int nodes() const { return pp * dp; }
};

struct PlacementProblem {
  TransformerJob job;
  NicFabric fabric;
  std::vector<PlacementNode> nodes;  // the candidates
};

// The error names what is wrong: a node whose class the fabric lacks, fewer layers than
// stages, fewer candidates than the job's nodes, a non-positive size.
Status Validate(const PlacementProblem& problem);

// Ranks to nodes and layers to stages.
struct Layout {
  std::vector<int> nodes;   // position -> index into problem.nodes
  std::vector<int> layers;  // per stage; sums to job.layers
};

struct IterationEstimate {
  double iteration_s = 0;
  double pipeline_s = 0;   // including the bubble
  double bubble_s = 0;
  double allreduce_s = 0;  // the all-reduce time the bubble does not hide
  std::vector<double> stage_step_s, stage_allreduce_s, stage_p2p_s;
  std::vector<std::string> stage_class;  // the class its all-reduce runs over
  // Samples per second per GPU (the job's throughput over its size).
  double samples_per_gpu_s = 0;
};

IterationEstimate Estimate(const PlacementProblem& problem, const Layout& layout);

// The layer split that minimises the modelled iteration time for nodes placed so (exact).
std::vector<int> SplitLayers(const PlacementProblem& problem, const std::vector<int>& nodes_by_position);

}  // namespace bulwark::netplan
