// The reference trainer's configuration, read strictly from YAML.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace bulwark::train {

struct ModelConfig {
  int vocab_size = 256;
  int seq_len = 64;
  int d_model = 64;
  int n_layers = 2;
  int n_heads = 4;
};

struct DataConfig {
  std::string source = "markov";  // "markov" (synthetic, from seed) or "file" (uint16 tokens)
  std::string path;               // for source: file
  uint64_t seed = 1234;
  int markov_branching = 4;       // successors per token in the synthetic chain
};

struct OptimConfig {
  double lr = 3e-3;
  int warmup_steps = 10;
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double weight_decay = 0.1;
};

// jitter: like slow, but only on a pseudo-random third of the steps, different per rank —
// lateness that moves between ranks (data-dependent imbalance), which is not a node fault.
// nan and spike poison a batch of data (the one an uninterrupted run trains on at `step`):
// this rank's loss and gradients on it become NaN, or 50 times larger. Bound to the batch,
// not the step, so a run that skips the batch never meets it again.
enum class FaultKind { kCrash, kHang, kSlow, kJitter, kNan, kSpike };

struct FaultPoint {
  FaultKind kind = FaultKind::kCrash;
  int64_t step = 0;  // the step (1-based) at which it fires; slow: from this step on; nan, spike: the batch
  int rank = 0;        // -1: every rank on `node`
  double percent = 0;  // slow and jitter: extra compute as a percentage of the step's compute
  std::string node;    // "": any node; else only where BULWARK_NODE is this (a faulty machine:
                       // once the job moves off it, the fault is gone)
};

struct TrainConfig {
  ModelConfig model;
  DataConfig data;
  OptimConfig optim;
  int64_t steps = 100;
  int micro_batch = 4;  // sequences per rank per step
  uint64_t init_seed = 42;
  std::vector<FaultPoint> faults;

  // Hash of everything that changes the numbers a run produces (not steps, not faults):
  // a saved state only restores into a run with the same fingerprint.
  uint64_t Fingerprint() const;
};

Result<TrainConfig> LoadTrainConfigFile(const std::string& path);
Result<TrainConfig> ParseTrainConfig(const std::string& yaml_text, const std::string& source);

// Fault points from the environment, e.g.
//   BULWARK_FAULTS="crash:step=10:rank=1;slow:step=5:rank=0:percent=50;hang:step=7:rank=2;jitter:step=1:rank=3:percent=40"
// A fault may name a node instead of (or beside) a rank: "crash:step=10:node=node-02".
Result<std::vector<FaultPoint>> ParseFaultSpec(const std::string& spec);

const char* FaultKindName(FaultKind kind);

}  // namespace bulwark::train
