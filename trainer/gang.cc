#include "trainer/gang.h"

// ProcessGroupGloo is declared only with USE_C10D_GLOO (Debian's LibTorch is built with it).
#define USE_C10D_GLOO 1
#include <chrono>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace nas {

struct Gang::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
};

Gang::Gang(int rank, int size, std::unique_ptr<Impl> impl)
    : rank_(rank), size_(size), impl_(std::move(impl)) {}

Gang::~Gang() = default;

absl::StatusOr<std::unique_ptr<Gang>> Gang::Open(const Options& options, const Publish& publish) {
  if (options.size < 2) {
    return absl::InvalidArgumentError(absl::StrCat("gang size: ", options.size, "; at least 2"));
  }
  if (options.rank < 0 || options.rank >= options.size) {
    return absl::InvalidArgumentError(
        absl::StrCat("gang rank: ", options.rank, " is not in 0 to ", options.size - 1));
  }
  if (options.host.empty()) return absl::InvalidArgumentError("gang host: empty");
  std::string store_host = options.host;
  int port = 0;
  if (options.rank > 0) {
    const size_t colon = options.store_address.rfind(':');
    if (colon == std::string::npos ||
        !absl::SimpleAtoi(options.store_address.substr(colon + 1), &port) || port < 1 ||
        port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("gang store address: \"", options.store_address, "\" is not host:port"));
    }
    store_host = options.store_address.substr(0, colon);
  }
  const auto timeout = absl::ToChronoMilliseconds(options.timeout);
  auto impl = std::make_unique<Impl>();
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(port);  // rank 0: 0, the system picks
    so.isServer = options.rank == 0;
    so.numWorkers = static_cast<size_t>(options.size);
    so.waitWorkers = false;  // Gloo's rendezvous below waits for the ranks
    so.timeout = timeout;
    auto store = c10::make_intrusive<c10d::TCPStore>(store_host, so);
    if (options.rank == 0 && publish) {
      absl::Status published = publish(absl::StrCat(options.host, ":", store->getPort()));
      if (!published.ok()) return published;
    }
    impl->store = store;
    auto gloo = c10d::ProcessGroupGloo::Options::create(timeout);
    gloo->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(options.host));
    impl->group =
        c10::make_intrusive<c10d::ProcessGroupGloo>(impl->store, options.rank, options.size, gloo);
  } catch (const std::exception& e) {
    const std::string what = e.what();
    const std::string where = absl::StrCat("rank ", options.rank, " of ", options.size, " (",
                                           options.rank == 0 ? "serving" : "joining",
                                           " the store at ", store_host, "): ");
    const std::string first_line = what.substr(0, what.find('\n'));
    if (absl::StrContains(what, "imeout") || absl::StrContains(what, "imed out")) {
      return absl::DeadlineExceededError(absl::StrCat(where, "not all ranks joined within ",
                                                      absl::FormatDuration(options.timeout), ": ",
                                                      first_line));
    }
    return absl::UnavailableError(absl::StrCat(where, first_line));
  }
  return std::unique_ptr<Gang>(new Gang(options.rank, options.size, std::move(impl)));
}

namespace {

// Runs a collective; Gloo's own failures (a peer gone: gloo::IoException) become c10::Error,
// which training loops catch.
template <typename F>
void Collective(int rank, const char* what, F f) {
  try {
    f();
  } catch (const c10::Error&) {
    throw;
  } catch (const std::exception& e) {
    TORCH_CHECK(false, "gang rank ", rank, ": ", what, ": ", e.what());
  }
}

}  // namespace

void Gang::AllReduceSum(torch::Tensor& tensor) {
  Collective(rank_, "all-reduce", [&] {
    std::vector<torch::Tensor> tensors{tensor};
    impl_->group->allreduce(tensors)->wait();
  });
}

void Gang::Broadcast(std::vector<torch::Tensor>& tensors) {
  Collective(rank_, "broadcast", [&] {
    for (torch::Tensor& t : tensors) {
      std::vector<torch::Tensor> one{t};
      impl_->group->broadcast(one)->wait();
    }
  });
}

}  // namespace nas
