// Search spaces written by users, reference networks and honest data splits, end to end: a real
// controller on a real PostgreSQL, real workers training on real images (Fashion-MNIST, and small
// datasets cut from it and written as IDX files, as a user would bring their own). Over 600 lines
// because the scenarios share one harness (a controller, its database, a worker runner); the next
// split moves the reference scenarios to a file of their own beside it.
#include <cmath>
#include <fstream>
#include <functional>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/onnx_check.h"
#include "gtest/gtest.h"
#include "search/search_space.h"
#include "tests/controller_harness.h"
#include "trainer/training.h"
#include "trainer/worker.h"

namespace nas {
namespace {

// Writes the first `train` training and `test` test images of Fashion-MNIST to `dir` as IDX.
void WriteSmallDataset(const std::string& dir, int64_t train, int64_t test) {
  static const ImageDataset* fmnist = new ImageDataset(*LoadDataset(FashionMnist()));
  ASSERT_EQ(system(absl::StrCat("mkdir -p '", dir, "'").c_str()), 0);
  auto be32 = [](std::ofstream& out, uint32_t v) {
    const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                       static_cast<char>(v >> 8), static_cast<char>(v)};
    out.write(b, 4);
  };
  auto write = [&](const std::string& prefix, const ImageSet& set, int64_t n) {
    std::ofstream images(dir + "/" + prefix + "-images-idx3-ubyte", std::ios::binary);
    be32(images, 0x00000803);
    be32(images, n);
    be32(images, 28);
    be32(images, 28);
    images.write(reinterpret_cast<const char*>(set.pixels.data()), n * 28 * 28);
    std::ofstream labels(dir + "/" + prefix + "-labels-idx1-ubyte", std::ios::binary);
    be32(labels, 0x00000801);
    be32(labels, n);
    for (int64_t i = 0; i < n; ++i) labels.put(static_cast<char>(set.labels[i]));
  };
  write("train", fmnist->train, train);
  write("t10k", fmnist->test, test);
}

std::string CanonicalKeyOf(const nas::v1::Architecture& a) { return CanonicalKey(a); }

class SpacesReferencesSplitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SchedulerOptions scheduler;
    scheduler.lease_ttl = absl::Seconds(3);
    absl::StatusOr<std::unique_ptr<ControllerHarness>> h = ControllerHarness::Create(scheduler);
    ASSERT_TRUE(h.ok()) << h.status();
    harness_ = *std::move(h);
    alice_ = harness_->NewUserToken("alice");
    dir_ = absl::StrCat(testing::TempDir(), "/spaces_references_splits_", getpid());
  }

  // A small search: one epoch, batch 32, `candidates` at a time on one worker.
  static nas::v1::SearchSpec SmallSpec(int candidates) {
    nas::v1::SearchSpec spec;
    spec.mutable_budget()->set_max_candidates(candidates);
    spec.mutable_budget()->set_max_parallel(1);
    spec.mutable_recipe()->set_epochs(1);
    spec.mutable_recipe()->set_batch_size(32);
    return spec;
  }

  grpc::Status Submit(const nas::v1::SearchSpec& spec, nas::v1::Search* search) {
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, alice_);
    nas::v1::SubmitSearchRequest req;
    *req.mutable_spec() = spec;
    return harness_->Nas()->SubmitSearch(&ctx, req, search);
  }

  int SearchCount() {
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, alice_);
    nas::v1::ListSearchesResponse resp;
    EXPECT_TRUE(harness_->Nas()->ListSearches(&ctx, nas::v1::ListSearchesRequest(), &resp).ok());
    return resp.searches_size();
  }

  std::vector<nas::v1::Candidate> Candidates(int64_t id) {
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, alice_);
    nas::v1::ListCandidatesRequest req;
    req.set_search_id(id);
    nas::v1::ListCandidatesResponse resp;
    EXPECT_TRUE(harness_->Nas()->ListCandidates(&ctx, req, &resp).ok());
    return {resp.candidates().begin(), resp.candidates().end()};
  }

  WorkerOptions Options(std::vector<DatasetSource> datasets) {
    WorkerOptions o;
    o.controller = absl::StrCat("127.0.0.1:", harness_->port());
    o.worker_token = kTestWorkerToken;
    o.lease_wait = absl::Seconds(1);
    o.datasets = std::move(datasets);
    return o;
  }

  // Runs a worker until search `id` ends (or `timeout`); returns the search as it ended.
  nas::v1::Search RunUntilEnd(const WorkerOptions& options, int64_t id,
                              absl::Duration timeout = absl::Minutes(6)) {
    std::atomic<bool> stop{false};
    std::thread worker([&] { EXPECT_TRUE(Worker(options).Run(&stop).ok()); });
    nas::v1::Search s;
    const absl::Time until = absl::Now() + timeout;
    while (absl::Now() < until) {
      grpc::ClientContext ctx;
      ControllerHarness::Authorize(&ctx, alice_);
      nas::v1::GetSearchRequest req;
      req.set_search_id(id);
      EXPECT_TRUE(harness_->Nas()->GetSearch(&ctx, req, &s).ok());
      if (s.state() != nas::v1::SEARCH_STATE_RUNNING) break;
      absl::SleepFor(absl::Milliseconds(200));
    }
    stop = true;
    worker.join();
    return s;
  }

  // Search `id`'s front on the host CPU.
  nas::v1::ParetoFront HostFront(int64_t id) {
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, alice_);
    nas::v1::GetParetoFrontRequest req;
    req.set_search_id(id);
    req.set_profile_id("host-cpu");
    nas::v1::ParetoFront front;
    const grpc::Status st = harness_->Nas()->GetParetoFront(&ctx, req, &front);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return front;
  }

  // A candidate's model file in `format` (empty when the fetch fails), and its metadata.
  std::string FetchFile(int64_t candidate_id, const std::string& format,
                        nas::v1::ModelMetadata* meta) {
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, alice_);
    nas::v1::FetchModelRequest req;
    req.set_candidate_id(candidate_id);
    req.set_format(format);
    std::unique_ptr<grpc::ClientReader<nas::v1::FetchModelResponse>> reader =
        harness_->Nas()->FetchModel(&ctx, req);
    std::string file;
    nas::v1::FetchModelResponse chunk;
    while (reader->Read(&chunk)) {
      if (chunk.has_metadata()) *meta = chunk.metadata();
      file += chunk.chunk();
    }
    const grpc::Status st = reader->Finish();
    EXPECT_TRUE(st.ok()) << st.error_message();
    return st.ok() ? file : "";
  }

  // The narrowed resnet space of the reference tests (one block per stage, widths at 50% and
  // 100%, 20 pixels), and a reference in it: three basic residual stages, 16-32-64.
  static void NarrowResnet(nas::v1::SearchSpec& spec) {
    spec.mutable_space()->set_name("resnet");
    spec.mutable_space()->set_max_depth(1);
    spec.mutable_space()->add_resolutions(20);
    spec.mutable_space()->add_width_multipliers_percent(50);
    spec.mutable_space()->add_width_multipliers_percent(100);
    spec.mutable_recipe()->set_validation_examples(1000);
  }
  static nas::v1::Architecture SmallResnetReference() {
    nas::v1::Architecture reference;
    reference.set_space("resnet");
    reference.set_resolution(20);
    reference.set_stem_width(16);
    for (int width : {16, 32, 64}) {
      nas::v1::Stage* s = reference.add_stages();
      s->set_width(width);
      s->add_blocks()->set_type(nas::v1::BASIC_RESIDUAL);
    }
    return reference;
  }

  // Registers a worker serving `datasets` and stops it: the controller learns their sizes.
  void RegisterOnly(std::vector<DatasetSource> datasets) {
    WorkerOptions o = Options(std::move(datasets));
    o.max_tasks = 1;
    std::atomic<bool> stop{false};
    std::thread worker([&] { EXPECT_TRUE(Worker(o).Run(&stop).ok()); });
    absl::SleepFor(absl::Seconds(2));
    stop = true;
    worker.join();
  }

  std::unique_ptr<ControllerHarness> harness_;
  std::string alice_;
  std::string dir_;
};

// A space no preset holds, written by the user: every block type, a stride-1 stage after a
// stride-2 one, an optional head convolution.
nas::v1::SearchSpace MixedSpace() {
  nas::v1::SearchSpace s;
  s.set_name("tiny-mixed");
  s.add_resolutions(20);
  s.add_stem_widths(8);
  s.add_head_widths(0);
  s.add_head_widths(32);
  nas::v1::StageSpace* a = s.add_stages();
  a->set_stride(1);
  a->add_widths(8);
  a->add_block_types(nas::v1::CONV);
  a->add_block_types(nas::v1::DEPTHWISE_SEPARABLE);
  nas::v1::StageSpace* b = s.add_stages();
  b->set_stride(2);
  b->add_widths(16);
  b->set_min_depth(1);
  b->set_max_depth(2);
  b->add_block_types(nas::v1::BASIC_RESIDUAL);
  b->add_block_types(nas::v1::BOTTLENECK_RESIDUAL);
  nas::v1::StageSpace* c = s.add_stages();
  c->set_stride(2);
  c->add_widths(24);
  c->add_block_types(nas::v1::INVERTED_RESIDUAL);
  c->add_expansions(2);
  c->set_allow_squeeze_excite(true);
  nas::v1::StageSpace* d = s.add_stages();
  d->set_stride(1);
  d->add_widths(24);
  d->add_block_types(nas::v1::INVERTED_RESIDUAL);
  d->add_expansions(2);
  return s;
}

TEST_F(SpacesReferencesSplitsTest, AUserWrittenSpaceIsSearchedEndToEnd) {
  nas::v1::SearchSpec spec = SmallSpec(4);
  *spec.mutable_space() = MixedSpace();
  spec.mutable_strategy()->set_name("evolution");
  spec.mutable_recipe()->set_train_subset(1000);
  spec.mutable_recipe()->set_validation_examples(1000);
  nas::v1::Search search;
  const grpc::Status submitted = Submit(spec, &search);
  ASSERT_TRUE(submitted.ok()) << submitted.error_message();
  const nas::v1::Search ended = RunUntilEnd(Options({FashionMnist()}), search.id());
  ASSERT_EQ(ended.state(), nas::v1::SEARCH_STATE_SUCCEEDED) << ended.DebugString();
  std::set<int> types;
  for (const nas::v1::Candidate& c : Candidates(search.id())) {
    ASSERT_EQ(c.state(), nas::v1::CANDIDATE_STATE_EVALUATED) << c.DebugString();
    EXPECT_EQ(c.architecture().space(), "tiny-mixed");
    EXPECT_EQ(c.architecture().stages(3).stride(), 1);
    for (const auto& stage : c.architecture().stages()) {
      for (const auto& block : stage.blocks()) types.insert(block.type());
    }
    EXPECT_GT(c.metrics().val_accuracy(), 0.2) << c.DebugString();  // chance is 0.10
    EXPECT_GT(c.metrics().params(), 1000);
    EXPECT_TRUE(c.has_artifact());
  }
  EXPECT_TRUE(types.count(nas::v1::INVERTED_RESIDUAL));
  EXPECT_GE(types.size(), 3u);
  // The int8 ONNX file of such a network passes ONNX's checker.
  nas::v1::ModelMetadata meta;
  const std::string file = FetchFile(Candidates(search.id())[0].id(), "onnx-int8", &meta);
  EXPECT_TRUE(CheckOnnxModel(file, "onnx-int8").ok()) << CheckOnnxModel(file, "onnx-int8");
}

// The network a user would ship is often of another family than the space searched: a ResNet
// reference for a search of a user's mixed space is trained and compared exactly as one inside,
// and never evolved from (every other candidate is of the space). An evolution of population 2
// picks its parents from what it has observed, so it would mutate the reference were it told.
TEST_F(SpacesReferencesSplitsTest, AReferenceOfAnotherFamilyIsTrainedAndComparedButNeverAParent) {
  nas::v1::SearchSpec spec = SmallSpec(6);
  *spec.mutable_space() = MixedSpace();
  spec.mutable_strategy()->set_name("evolution");
  (*spec.mutable_strategy()->mutable_settings())["population"] = "2";
  (*spec.mutable_strategy()->mutable_settings())["sample_size"] = "2";
  spec.mutable_recipe()->set_train_subset(600);
  spec.mutable_recipe()->set_validation_examples(1000);
  const nas::v1::Architecture reference = SmallResnetReference();
  *spec.mutable_reference()->mutable_architecture() = reference;
  nas::v1::Search search;
  const grpc::Status submitted = Submit(spec, &search);
  ASSERT_TRUE(submitted.ok()) << submitted.error_message();
  const nas::v1::Search ended = RunUntilEnd(Options({FashionMnist()}), search.id());
  ASSERT_EQ(ended.state(), nas::v1::SEARCH_STATE_SUCCEEDED) << ended.DebugString();
  const std::vector<nas::v1::Candidate> candidates = Candidates(search.id());
  ASSERT_EQ(candidates.size(), 6u);  // the reference is one of the budget
  const nas::v1::Candidate* ref = nullptr;
  for (const nas::v1::Candidate& c : candidates) {
    ASSERT_EQ(c.state(), nas::v1::CANDIDATE_STATE_EVALUATED) << c.DebugString();
    if (c.is_reference()) {
      EXPECT_EQ(ref, nullptr) << "two references";
      ref = &c;
      EXPECT_EQ(c.architecture().space(), "resnet");
    } else {
      EXPECT_EQ(c.architecture().space(), "tiny-mixed") << c.architecture().DebugString();
    }
    EXPECT_FALSE(c.metrics().train_precision().empty()) << c.DebugString();
  }
  ASSERT_NE(ref, nullptr);
  EXPECT_EQ(CanonicalKeyOf(ref->architecture()), CanonicalKeyOf(reference));
  EXPECT_GT(ref->metrics().val_accuracy(), 0.2);  // trained: chance is 0.10
  EXPECT_GE(ref->metrics().test_accuracy(), 0);
  for (const nas::v1::Candidate& c : candidates) {
    EXPECT_EQ(c.vs_reference().reference_candidate_id(), ref->id());
    EXPECT_DOUBLE_EQ(c.vs_reference().params_ratio(),
                     static_cast<double>(ref->metrics().params()) / c.metrics().params());
  }
  const nas::v1::ParetoFront front = HostFront(search.id());
  ASSERT_GT(front.members_size(), 0);
  for (const nas::v1::ParetoMember& m : front.members()) {
    EXPECT_EQ(m.vs_reference().reference_candidate_id(), ref->id());
  }
}

TEST_F(SpacesReferencesSplitsTest,
       AWeightSharingSearchOnASpaceTheSupernetCannotMakeElasticIsRefused) {
  for (const bool user_space : {false, true}) {
    nas::v1::SearchSpec spec = SmallSpec(8);
    if (user_space) {
      *spec.mutable_space() = MixedSpace();
    } else {
      spec.mutable_space()->set_name("resnet18");
    }
    spec.mutable_strategy()->set_name("weight_sharing");
    nas::v1::Search search;
    const grpc::Status st = Submit(spec, &search);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(st.error_message().rfind(
                  absl::StrCat(
                      "spec.space.stages[0].block_types: ", user_space ? "CONV" : "BASIC_RESIDUAL",
                      ": a weight-sharing supernet makes only inverted residuals "
                      "elastic"),
                  0),
              0u)
        << st.error_message();
  }
  EXPECT_EQ(SearchCount(), 0);  // nothing stored
  // The preset of inverted residuals is accepted.
  nas::v1::SearchSpec spec = SmallSpec(8);
  spec.mutable_space()->set_name("mobilenetv2-1.0");
  spec.mutable_strategy()->set_name("weight_sharing");
  nas::v1::Search search;
  EXPECT_TRUE(Submit(spec, &search).ok());
}

// The network the user would ship is trained in the search with its recipe, and every candidate
// and front member is compared with it.
TEST_F(SpacesReferencesSplitsTest, AReferenceIsTrainedAndEveryCandidateIsComparedWithIt) {
  nas::v1::SearchSpec spec = SmallSpec(3);
  NarrowResnet(spec);
  spec.mutable_recipe()->set_train_subset(1000);
  // The preset's own network (depth 4, full width) is not in this narrowed space: refused.
  spec.mutable_reference()->set_preset("resnet");
  nas::v1::Search search;
  grpc::Status st = Submit(spec, &search);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message().rfind("spec.reference.preset: resnet's network is not in", 0), 0u)
      << st.error_message();

  const nas::v1::Architecture reference = SmallResnetReference();
  *spec.mutable_reference()->mutable_architecture() = reference;
  spec.mutable_reference()->clear_preset();
  st = Submit(spec, &search);
  ASSERT_TRUE(st.ok()) << st.error_message();
  const nas::v1::Search ended = RunUntilEnd(Options({FashionMnist()}), search.id());
  ASSERT_EQ(ended.state(), nas::v1::SEARCH_STATE_SUCCEEDED) << ended.DebugString();
  const std::vector<nas::v1::Candidate> candidates = Candidates(search.id());
  ASSERT_EQ(candidates.size(), 3u);  // the reference is one of the budget
  const nas::v1::Candidate* ref = nullptr;
  for (const nas::v1::Candidate& c : candidates) {
    if (c.is_reference()) {
      EXPECT_EQ(ref, nullptr) << "two references";
      ref = &c;
    }
  }
  ASSERT_NE(ref, nullptr);
  EXPECT_EQ(CanonicalKeyOf(ref->architecture()), CanonicalKeyOf(reference));
  EXPECT_GE(ref->metrics().test_accuracy(), 0);  // trained with the full recipe
  for (const nas::v1::Candidate& c : candidates) {
    ASSERT_EQ(c.state(), nas::v1::CANDIDATE_STATE_EVALUATED) << c.DebugString();
    const nas::v1::ReferenceComparison& vs = c.vs_reference();
    EXPECT_EQ(vs.reference_candidate_id(), ref->id());
    EXPECT_DOUBLE_EQ(vs.params_ratio(),
                     static_cast<double>(ref->metrics().params()) / c.metrics().params());
    EXPECT_DOUBLE_EQ(vs.macs_ratio(),
                     static_cast<double>(ref->metrics().macs()) / c.metrics().macs());
    EXPECT_DOUBLE_EQ(vs.val_accuracy_delta(),
                     c.metrics().val_accuracy() - ref->metrics().val_accuracy());
    ASSERT_TRUE(vs.has_test_accuracy_delta());
    EXPECT_DOUBLE_EQ(vs.test_accuracy_delta(),
                     c.metrics().test_accuracy() - ref->metrics().test_accuracy());
    EXPECT_EQ(vs.latency_ratio_size(), 1);  // host-cpu, measured on both
    if (&c == ref) {
      EXPECT_DOUBLE_EQ(vs.params_ratio(), 1);
    }
  }
  // The front's members carry the comparison too.
  const nas::v1::ParetoFront front = HostFront(search.id());
  ASSERT_GT(front.members_size(), 0);
  for (const nas::v1::ParetoMember& m : front.members()) {
    EXPECT_EQ(m.vs_reference().reference_candidate_id(), ref->id());
    EXPECT_GT(m.vs_reference().params_ratio(), 0);
  }
}

// A multi-fidelity search trains its reference at the final rung only (the recipe), beside the
// architectures of its budget; finished models compare with it.
TEST_F(SpacesReferencesSplitsTest, AMultiFidelitySearchTrainsItsReferenceAtTheFinalRung) {
  nas::v1::SearchSpec spec = SmallSpec(4);
  NarrowResnet(spec);
  spec.mutable_recipe()->set_train_subset(512);
  spec.mutable_multi_fidelity()->set_rungs(2);
  spec.mutable_multi_fidelity()->set_eta(2);
  *spec.mutable_reference()->mutable_architecture() = SmallResnetReference();
  nas::v1::Search search;
  const grpc::Status st = Submit(spec, &search);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(search.progress().target(), 4 + 2 + 1);
  const nas::v1::Search ended = RunUntilEnd(Options({FashionMnist()}), search.id());
  ASSERT_EQ(ended.state(), nas::v1::SEARCH_STATE_SUCCEEDED) << ended.DebugString();
  int rung0 = 0;
  const nas::v1::Candidate* ref = nullptr;
  const std::vector<nas::v1::Candidate> candidates = Candidates(search.id());
  for (const nas::v1::Candidate& c : candidates) {
    if (c.is_reference()) ref = &c;
    if (c.fidelity().rung() == 0) ++rung0;
  }
  EXPECT_EQ(rung0, 4);  // the reference is not one of them
  ASSERT_NE(ref, nullptr);
  EXPECT_EQ(ref->fidelity().rung(), 1);
  EXPECT_EQ(ref->state(), nas::v1::CANDIDATE_STATE_EVALUATED);
  EXPECT_GE(ref->metrics().test_accuracy(), 0);
  for (const nas::v1::Candidate& c : candidates) {
    if (c.fidelity().rung() != 1 || c.state() != nas::v1::CANDIDATE_STATE_EVALUATED) continue;
    EXPECT_EQ(c.vs_reference().reference_candidate_id(), ref->id());
    EXPECT_TRUE(c.vs_reference().has_test_accuracy_delta());
  }
}

// Final training: once the search phase's budget is spent, the front's best member and the
// reference are trained again with the final recipe; their models are the ones to fetch, and
// they compare with each other.
TEST_F(SpacesReferencesSplitsTest, FinalTrainingRetrainsTheFrontsBestAndTheReference) {
  nas::v1::SearchSpec spec = SmallSpec(3);
  NarrowResnet(spec);
  spec.mutable_recipe()->set_train_subset(500);
  const nas::v1::Architecture reference = SmallResnetReference();
  *spec.mutable_reference()->mutable_architecture() = reference;
  // Out of range: refused, naming the field; nothing stored.
  spec.mutable_final_training()->set_finalists_per_profile(17);
  nas::v1::Search search;
  grpc::Status st = Submit(spec, &search);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message().rfind("spec.final_training.finalists_per_profile", 0), 0u)
      << st.error_message();
  EXPECT_EQ(SearchCount(), 0);

  spec.mutable_final_training()->set_finalists_per_profile(1);
  spec.mutable_final_training()->set_epochs(2);
  spec.mutable_final_training()->set_train_subset(2000);
  st = Submit(spec, &search);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(search.progress().target(), 3 + 2);  // the search phase, one finalist, the reference
  const nas::v1::Search ended = RunUntilEnd(Options({FashionMnist()}), search.id());
  ASSERT_EQ(ended.state(), nas::v1::SEARCH_STATE_SUCCEEDED) << ended.DebugString();
  EXPECT_NE(ended.message().find("budget spent: 3 evaluated, 0 failed; then final training"),
            std::string::npos)
      << ended.message();

  std::vector<nas::v1::Candidate> searched, finals;
  for (const nas::v1::Candidate& c : Candidates(search.id())) {
    (c.fidelity().final_training() ? finals : searched).push_back(c);
  }
  ASSERT_EQ(searched.size(), 3u);
  // The front's best may be the reference itself: then it is trained once.
  ASSERT_GE(finals.size(), 1u);
  ASSERT_LE(finals.size(), 2u);
  EXPECT_EQ(ended.progress().finalists(), static_cast<int>(finals.size()));
  EXPECT_EQ(ended.progress().finalists_trained(), static_cast<int>(finals.size()));
  EXPECT_EQ(ended.progress().target(), 3 + static_cast<int>(finals.size()));
  EXPECT_EQ(ended.progress().evaluated(), ended.progress().target());
  const nas::v1::Candidate* ref_final = nullptr;
  for (const nas::v1::Candidate& f : finals) {
    ASSERT_EQ(f.state(), nas::v1::CANDIDATE_STATE_EVALUATED) << f.DebugString();
    EXPECT_EQ(f.fidelity().rung(), 1);
    EXPECT_GE(f.metrics().test_accuracy(), 0.5) << f.DebugString();
    EXPECT_TRUE(f.metrics().has_int8_test_accuracy());
    EXPECT_TRUE(f.has_artifact());
    if (f.is_reference()) ref_final = &f;
    bool from_search = false;
    for (const nas::v1::Candidate& c : searched) {
      from_search |= c.architecture_hash() == f.architecture_hash();
    }
    EXPECT_TRUE(from_search) << "a finalist not searched";
  }
  ASSERT_NE(ref_final, nullptr) << "the reference's finalist";
  EXPECT_EQ(CanonicalKeyOf(ref_final->architecture()), CanonicalKeyOf(reference));

  // The front's members link their finalist; it compares with the reference's finalist.
  const nas::v1::ParetoFront front = HostFront(search.id());
  ASSERT_GT(front.members_size(), 0);
  const nas::v1::Finalist& best = front.members(0).finalist();
  ASSERT_NE(best.candidate_id(), 0) << front.DebugString();
  EXPECT_EQ(best.state(), nas::v1::CANDIDATE_STATE_EVALUATED);
  EXPECT_GE(best.metrics().test_accuracy(), 0.5);
  EXPECT_EQ(best.vs_reference().reference_candidate_id(), ref_final->id());
  EXPECT_TRUE(best.vs_reference().has_test_accuracy_delta());

  // The finalist's model is what a user fetches.
  nas::v1::ModelMetadata meta;
  EXPECT_TRUE(CheckOnnxModel(FetchFile(best.candidate_id(), "onnx-int8", &meta), "onnx-int8").ok());
  EXPECT_DOUBLE_EQ(meta.metrics().int8_test_accuracy(), best.metrics().int8_test_accuracy());

  // The same reference, dataset and recipe in a new search of the same owner (another seed):
  // its training is reused at submit, and again in final training, not trained twice.
  const nas::v1::Candidate* ref_search = nullptr;
  for (const nas::v1::Candidate& c : searched) {
    if (c.is_reference()) ref_search = &c;
  }
  ASSERT_NE(ref_search, nullptr);
  spec.mutable_strategy()->set_seed(77);
  spec.mutable_recipe()->clear_seed();
  nas::v1::Search again;
  st = Submit(spec, &again);
  ASSERT_TRUE(st.ok()) << st.error_message();
  // The reference as the submit left it (before any worker ran).
  auto reference_of = [&](int64_t id) {
    nas::v1::Candidate found;
    for (const nas::v1::Candidate& c : Candidates(id)) {
      if (c.is_reference()) found = c;
    }
    return found;
  };
  nas::v1::Candidate reused = reference_of(again.id());
  EXPECT_EQ(reused.state(), nas::v1::CANDIDATE_STATE_EVALUATED) << "not reused";
  EXPECT_EQ(reused.metrics().SerializeAsString(), ref_search->metrics().SerializeAsString());
  EXPECT_TRUE(reused.has_artifact());
  EXPECT_EQ(reused.profile_metrics_size(), 1);
  const nas::v1::Search ended_again = RunUntilEnd(Options({FashionMnist()}), again.id());
  ASSERT_EQ(ended_again.state(), nas::v1::SEARCH_STATE_SUCCEEDED) << ended_again.DebugString();
  for (const nas::v1::Candidate& c : Candidates(again.id())) {
    if (c.is_reference() && c.fidelity().final_training()) {
      EXPECT_EQ(c.metrics().SerializeAsString(), ref_final->metrics().SerializeAsString());
    }
  }
  // Another recipe is another training: not reused.
  spec.mutable_recipe()->set_epochs(2);
  nas::v1::Search other;
  st = Submit(spec, &other);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(reference_of(other.id()).state(), nas::v1::CANDIDATE_STATE_QUEUED);
}

TEST_F(SpacesReferencesSplitsTest, ASmallDatasetIsSplitDisjointlyAndAnImpossibleSplitIsRefused) {
  // The same name served from 3,000 images, then (by the worker that trains) from 300.
  WriteSmallDataset(dir_ + "/big", 3000, 100);
  WriteSmallDataset(dir_ + "/small", 300, 100);
  const DatasetSource big{"mine", DatasetFormat::kIdx, dir_ + "/big"};
  const DatasetSource small{"mine", DatasetFormat::kIdx, dir_ + "/small"};
  RegisterOnly({big});

  nas::v1::SearchSpec spec = SmallSpec(2);
  spec.set_dataset("mine");
  spec.mutable_space()->set_name("resnet");
  spec.mutable_space()->set_max_depth(1);
  spec.mutable_space()->add_resolutions(20);
  spec.mutable_space()->add_width_multipliers_percent(50);
  spec.mutable_budget()->set_max_attempts(1);
  // Accepted: the controller knows 3,000 images. The worker that gets it has 300 and refuses
  // it, naming the field and the sizes; nothing is trained on a split that is not one.
  spec.mutable_recipe()->set_validation_examples(400);
  nas::v1::Search stale;
  ASSERT_TRUE(Submit(spec, &stale).ok());
  RunUntilEnd(Options({small}), stale.id());
  for (const nas::v1::Candidate& c : Candidates(stale.id())) {
    EXPECT_EQ(c.state(), nas::v1::CANDIDATE_STATE_FAILED) << c.DebugString();
    EXPECT_NE(c.error().find("recipe.validation_examples: 400 of dataset \"mine\"'s 300 "
                             "training examples leaves no example to train on"),
              std::string::npos)
        << c.error();
  }

  // Now the controller knows 300 (the worker reported it): refused at submit, nothing stored.
  const int stored = SearchCount();
  nas::v1::Search refused;
  grpc::Status st = Submit(spec, &refused);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message(),
            "spec.recipe.validation_examples: 400 of dataset \"mine\"'s 300 training examples "
            "leaves no example to train on; validation must leave at least one");
  spec.mutable_recipe()->clear_validation_examples();
  spec.mutable_recipe()->set_validation_fraction(0.001);
  st = Submit(spec, &refused);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("spec.recipe.validation_fraction: 0.001 of dataset"),
            std::string::npos)
      << st.error_message();
  EXPECT_EQ(SearchCount(), stored);

  // The default split of 300: 50 to validate on, 250 to train on, the 100 test images apart.
  // Accuracies are counts over those splits, so their denominators show the sizes: the
  // validation accuracy is a multiple of 1/50 (not 1/300: not measured on the training data).
  spec.mutable_recipe()->clear_validation_fraction();
  spec.mutable_budget()->set_max_attempts(3);
  nas::v1::Search ok;
  ASSERT_TRUE(Submit(spec, &ok).ok());
  const nas::v1::Search ended = RunUntilEnd(Options({small}), ok.id());
  ASSERT_EQ(ended.state(), nas::v1::SEARCH_STATE_SUCCEEDED) << ended.DebugString();
  for (const nas::v1::Candidate& c : Candidates(ok.id())) {
    ASSERT_EQ(c.state(), nas::v1::CANDIDATE_STATE_EVALUATED) << c.DebugString();
    const double val = c.metrics().val_accuracy() * 50, test = c.metrics().test_accuracy() * 100;
    EXPECT_NEAR(val, std::round(val), 1e-6) << c.metrics().val_accuracy();
    EXPECT_NEAR(test, std::round(test), 1e-6) << c.metrics().test_accuracy();
  }
}

}  // namespace
}  // namespace nas
