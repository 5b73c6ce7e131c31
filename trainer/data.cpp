#include "trainer/data.h"

#include <cmath>
#include <fstream>
#include <unordered_map>

namespace bulwark::train {

MarkovChain::MarkovChain(int vocab_size, int branching, uint64_t seed)
    : vocab_size_(vocab_size), branching_(branching) {
  SplitMix64 rng(seed ^ 0x6D61726B6F76ULL);
  successors_.resize((size_t)vocab_size * branching);
  cumulative_.resize((size_t)vocab_size * branching);
  for (int v = 0; v < vocab_size; ++v) {
    double total = 0;
    for (int b = 0; b < branching; ++b) {
      successors_[(size_t)v * branching + b] = static_cast<int32_t>(rng.Below(vocab_size));
      // Skewed weights: the chain is learnable, not uniform noise.
      double w = std::pow(0.5, b) * (0.5 + rng.Uniform());
      total += w;
      cumulative_[(size_t)v * branching + b] = total;
    }
    for (int b = 0; b < branching; ++b) cumulative_[(size_t)v * branching + b] /= total;
  }
}

int32_t MarkovChain::Next(int32_t token, SplitMix64& rng) const {
  const double u = rng.Uniform();
  const size_t row = (size_t)token * branching_;
  for (int b = 0; b < branching_ - 1; ++b)
    if (u < cumulative_[row + b]) return successors_[row + b];
  return successors_[row + branching_ - 1];
}

double MarkovChain::EstimateEntropy(uint64_t seed, int samples) const {
  SplitMix64 rng(seed);
  int32_t token = 0;
  double nats = 0;
  for (int i = 0; i < samples; ++i) {
    // Successors can repeat: merge their probabilities before taking the entropy.
    std::unordered_map<int32_t, double> p;
    double prev = 0;
    for (int b = 0; b < branching_; ++b) {
      const size_t at = (size_t)token * branching_ + b;
      p[successors_[at]] += cumulative_[at] - prev;
      prev = cumulative_[at];
    }
    for (auto& [_, q] : p)
      if (q > 0) nats -= q * std::log(q);
    token = Next(token, rng);
  }
  return nats / samples;
}

Result<std::shared_ptr<const TokenFile>> TokenFile::Open(const std::string& path, int vocab_size, int seq_len) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return Status::Error(path + ": cannot open token file");
  const auto bytes = static_cast<size_t>(in.tellg());
  if (bytes % 2 != 0) return Status::Error(path + ": size " + std::to_string(bytes) + " is not a whole number of uint16 tokens");
  auto file = std::make_shared<TokenFile>();
  file->tokens_.resize(bytes / 2);
  in.seekg(0);
  in.read(reinterpret_cast<char*>(file->tokens_.data()), static_cast<std::streamsize>(bytes));
  if (!in) return Status::Error(path + ": read failed");
  if (file->tokens_.size() < static_cast<size_t>(seq_len) + 2) {
    return Status::Error(path + ": holds " + std::to_string(file->tokens_.size()) + " tokens; needs at least model.seq_len + 2 = " +
                         std::to_string(seq_len + 2));
  }
  for (size_t i = 0; i < file->tokens_.size(); ++i) {
    if (file->tokens_[i] >= vocab_size) {
      return Status::Error(path + ": token " + std::to_string(file->tokens_[i]) + " at index " + std::to_string(i) +
                           " is outside model.vocab_size " + std::to_string(vocab_size));
    }
  }
  return std::shared_ptr<const TokenFile>(std::move(file));
}

DataLoader::DataLoader(const TrainConfig& c, int rank)
    : batch_(c.micro_batch),
      seq_len_(c.model.seq_len),
      vocab_size_(c.model.vocab_size),
      rng_(c.data.seed * 0x100000001B3ULL + static_cast<uint64_t>(rank) + 1),
      buffer_(static_cast<size_t>(c.model.seq_len) + 1) {}

Result<std::unique_ptr<DataLoader>> DataLoader::Create(const TrainConfig& config, int rank) {
  std::unique_ptr<DataLoader> loader(new DataLoader(config, rank));
  if (config.data.source == "file") {
    auto file = TokenFile::Open(config.data.path, config.model.vocab_size, config.model.seq_len);
    if (!file.ok()) return file.status();
    loader->file_ = file.value();
  } else {
    loader->chain_ = std::make_unique<MarkovChain>(config.model.vocab_size, config.data.markov_branching, config.data.seed);
  }
  return loader;
}

void DataLoader::NextSequence(int32_t* tokens) {
  const int n = seq_len_ + 1;
  if (file_) {
    const size_t start = rng_.Below(file_->size() - n + 1);
    for (int i = 0; i < n; ++i) tokens[i] = file_->tokens()[start + i];
  } else {
    tokens[0] = static_cast<int32_t>(rng_.Below(vocab_size_));
    for (int i = 1; i < n; ++i) tokens[i] = chain_->Next(tokens[i - 1], rng_);
  }
  ++cursor_;
}

void DataLoader::NextBatch(int32_t* inputs, int32_t* targets) {
  for (int b = 0; b < batch_; ++b) {
    NextSequence(buffer_.data());
    for (int t = 0; t < seq_len_; ++t) {
      inputs[b * seq_len_ + t] = buffer_[t];
      targets[b * seq_len_ + t] = buffer_[t + 1];
    }
  }
}

}  // namespace bulwark::train
