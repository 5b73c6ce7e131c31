// Training data for the reference trainer, deterministic from a seed and sharded by rank.
//
// Two sources: a synthetic corpus drawn from a sparse random Markov chain (each token has
// a few likely successors, so a model can learn it and the loss falls well below
// ln(vocab)), and a user file of little-endian uint16 tokens. Each rank draws its own
// sequences with its own generator; the generator's state and the number of sequences
// drawn (the data cursor) are all the loader's state, so it snapshots and restores exactly.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "trainer/config.h"
#include "trainer/rng.h"

namespace bulwark::train {

// The transition table of the synthetic chain: successor ids and cumulative probabilities.
class MarkovChain {
 public:
  MarkovChain(int vocab_size, int branching, uint64_t seed);
  int32_t Next(int32_t token, SplitMix64& rng) const;
  // Entropy rate in nats/token of the chain under its stationary distribution, estimated
  // by simulation; the loss floor a perfect model reaches.
  double EstimateEntropy(uint64_t seed, int samples) const;

 private:
  int vocab_size_, branching_;
  std::vector<int32_t> successors_;  // [vocab][branching]
  std::vector<double> cumulative_;   // [vocab][branching]
};

class TokenFile {
 public:
  static Result<std::shared_ptr<const TokenFile>> Open(const std::string& path, int vocab_size, int seq_len);
  size_t size() const { return tokens_.size(); }
  const std::vector<uint16_t>& tokens() const { return tokens_; }

 private:
  std::vector<uint16_t> tokens_;
};

struct LoaderState {
  uint64_t rng_state = 0;
  uint64_t cursor = 0;  // sequences drawn so far by this rank
};

class DataLoader {
 public:
  // Fails when the file source cannot be read or holds tokens outside the vocabulary.
  static Result<std::unique_ptr<DataLoader>> Create(const TrainConfig& config, int rank);

  // Fills inputs and targets ([micro_batch][seq_len] each, targets shifted by one).
  void NextBatch(int32_t* inputs, int32_t* targets);

  LoaderState state() const { return {rng_.state(), cursor_}; }
  void set_state(const LoaderState& s) {
    rng_.set_state(s.rng_state);
    cursor_ = s.cursor;
  }

 private:
  DataLoader(const TrainConfig& config, int rank);
  void NextSequence(int32_t* tokens);  // seq_len + 1 tokens

  int batch_, seq_len_, vocab_size_;
  SplitMix64 rng_;
  uint64_t cursor_ = 0;
  std::unique_ptr<MarkovChain> chain_;
  std::shared_ptr<const TokenFile> file_;
  std::vector<int32_t> buffer_;
};

}  // namespace bulwark::train
