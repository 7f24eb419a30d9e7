// A gang: the workers that train one supernet epoch together, data-parallel. Rank 0 serves a
// c10d TCPStore, publishes its address (through the controller), and every rank joins a Gloo
// process group over it; then each step's gradients are summed over the ranks.
//
//   // rank 0: `publish` hands the store's "host:port" to the controller
//   auto gang = Gang::Open({.rank = 0, .size = 2, .host = "10.0.0.5"}, publish);
//   // rank 1, given that address by its lease
//   auto gang = Gang::Open({.rank = 1, .size = 2, .host = "10.0.0.6",
//                           .store_address = "10.0.0.5:41234"}, nullptr);
//   gang->AllReduceSum(flat);  // every rank now holds the element-wise sum
//
// Workers must reach each other on `host` (any port): Gloo connects every pair of ranks.
#ifndef NAS_TRAINER_GANG_H_
#define NAS_TRAINER_GANG_H_

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace nas {

class Gang {
 public:
  struct Options {
    int rank = 0;
    int size = 1;
    // This worker's address as the other ranks reach it: Gloo's pairs bind to it, and rank 0
    // serves the store on it (on a port the system picks).
    std::string host = "127.0.0.1";
    // Ranks > 0: rank 0's store, "host:port".
    std::string store_address;
    // How long the ranks wait for each other: to join, and at each collective.
    absl::Duration timeout = absl::Minutes(2);
  };
  using Publish = std::function<absl::Status(const std::string& store_address)>;

  // Gang::Open() joins the gang, returning once all `size` ranks have joined. Rank 0 first
  // calls `publish` with its store's address (its error is returned). InvalidArgument for
  // bad options; DeadlineExceeded when the others did not all join within the timeout;
  // Unavailable when the store or a rank cannot be reached.
  static absl::StatusOr<std::unique_ptr<Gang>> Open(const Options& options, const Publish& publish);
  ~Gang();

  int rank() const { return rank_; }
  int size() const { return size_; }

  // Gang::AllReduceSum() replaces the contiguous CPU tensor with its element-wise sum over
  // the ranks (every rank gets the same bytes). Throws c10::Error when a rank has gone or
  // does not answer within the timeout.
  void AllReduceSum(torch::Tensor& tensor);
  // Gang::Broadcast() copies rank 0's tensors (contiguous, CPU) into every rank's, in place.
  void Broadcast(std::vector<torch::Tensor>& tensors);

 private:
  struct Impl;
  Gang(int rank, int size, std::unique_ptr<Impl> impl);
  int rank_;
  int size_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nas

#endif  // NAS_TRAINER_GANG_H_
