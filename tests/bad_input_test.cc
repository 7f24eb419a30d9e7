// Every public RPC rejects bad input with the right code, names the field, and stores nothing.
#include <grpcpp/generic/generic_stub.h>

#include <functional>
#include <limits>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "services/crypto.h"
#include "tests/controller_harness.h"

namespace nas {
namespace {

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<ControllerHarness>> h = ControllerHarness::Create();
    ASSERT_TRUE(h.ok()) << h.status();
    harness_ = *std::move(h);
    alice_ = harness_->NewUserToken("alice");
    bob_ = harness_->NewUserToken("bob");
    nas_ = harness_->Nas();
  }

  static nas::v1::SearchSpec ValidSpec() {
    nas::v1::SearchSpec spec;
    spec.mutable_budget()->set_max_candidates(5);
    return spec;
  }

  grpc::Status Submit(const std::string& token, const nas::v1::SearchSpec& spec) {
    grpc::ClientContext ctx;
    if (!token.empty()) ControllerHarness::Authorize(&ctx, token);
    nas::v1::SubmitSearchRequest req;
    *req.mutable_spec() = spec;
    nas::v1::Search out;
    return nas_->SubmitSearch(&ctx, req, &out);
  }

  int SearchCount(const std::string& token) {
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, token);
    nas::v1::ListSearchesResponse list;
    EXPECT_TRUE(nas_->ListSearches(&ctx, {}, &list).ok());
    return list.searches_size();
  }

  static void ExpectError(const grpc::Status& st, grpc::StatusCode code, const std::string& names) {
    EXPECT_EQ(st.error_code(), code) << st.error_message();
    EXPECT_NE(st.error_message().find(names), std::string::npos)
        << "message \"" << st.error_message() << "\" should name \"" << names << "\"";
  }

  std::unique_ptr<ControllerHarness> harness_;
  std::unique_ptr<nas::v1::NasService::Stub> nas_;
  std::string alice_, bob_;
};

TEST_F(BadInputTest, CallsWithoutAValidTokenAreUnauthenticated) {
  ExpectError(Submit("", ValidSpec()), grpc::StatusCode::UNAUTHENTICATED, "authorization");
  ExpectError(Submit("nas_not_a_token", ValidSpec()), grpc::StatusCode::UNAUTHENTICATED,
              "unknown or revoked");
  // A worker credential is not a user token, and a user token is not a worker credential.
  ExpectError(Submit(kTestWorkerToken, ValidSpec()), grpc::StatusCode::UNAUTHENTICATED, "token");
  grpc::ClientContext ctx;
  ControllerHarness::Authorize(&ctx, alice_);
  nas::v1::RegisterWorkerRequest req;
  req.set_device_tag("host-cpu");
  nas::v1::RegisterWorkerResponse resp;
  ExpectError(harness_->Trainer()->RegisterWorker(&ctx, req, &resp),
              grpc::StatusCode::UNAUTHENTICATED, "worker credential");
}

TEST_F(BadInputTest, RevokedTokensStopWorking) {
  auto admin = harness_->Admin();
  grpc::ClientContext create_ctx;
  ControllerHarness::Authorize(&create_ctx, alice_);
  nas::v1::CreateTokenResponse token;
  ASSERT_TRUE(admin->CreateToken(&create_ctx, {}, &token).ok());
  ASSERT_TRUE(Submit(token.token(), ValidSpec()).ok());
  grpc::ClientContext revoke_ctx;
  ControllerHarness::Authorize(&revoke_ctx, token.token());
  nas::v1::RevokeTokenRequest revoke;
  revoke.set_token_id(token.token_id());
  nas::v1::RevokeTokenResponse revoked;
  ASSERT_TRUE(admin->RevokeToken(&revoke_ctx, revoke, &revoked).ok());
  ExpectError(Submit(token.token(), ValidSpec()), grpc::StatusCode::UNAUTHENTICATED, "revoked");
}

TEST_F(BadInputTest, InvalidSpecsNameTheFieldAndStoreNothing) {
  struct Case {
    const char* names;
    std::function<void(nas::v1::SearchSpec*)> mutate;
  };
  const std::vector<Case> cases = {
      {"spec.profile_ids[0]", [](auto* s) { s->add_profile_ids("no-such-device"); }},
      {"spec.profile_ids[1]",
       [](auto* s) {
         s->add_profile_ids("host-cpu");
         s->add_profile_ids("host-cpu");
       }},
      {"spec.profile_ids[0]", [](auto* s) { s->add_profile_ids("host-cpu@99"); }},
      {"spec.objectives[1].metric",
       [](auto* s) {
         s->add_objectives()->set_metric(nas::v1::METRIC_LATENCY);
         s->add_objectives()->set_metric(nas::v1::METRIC_LATENCY);
       }},
      {"spec.objectives[0].metric", [](auto* s) { s->add_objectives(); }},
      {"spec.objectives",
       [](auto* s) {
         for (auto m : {nas::v1::METRIC_ACCURACY, nas::v1::METRIC_LATENCY, nas::v1::METRIC_MACS,
                        nas::v1::METRIC_PARAMS}) {
           s->add_objectives()->set_metric(m);
         }
       }},
      {"spec.budget.max_candidates", [](auto* s) { s->mutable_budget()->set_max_candidates(0); }},
      {"spec.budget.max_candidates",
       [](auto* s) { s->mutable_budget()->set_max_candidates(2'000'000); }},
      {"spec.budget.max_parallel", [](auto* s) { s->mutable_budget()->set_max_parallel(-1); }},
      {"spec.budget.max_attempts", [](auto* s) { s->mutable_budget()->set_max_attempts(11); }},
      {"spec.recipe.epochs", [](auto* s) { s->mutable_recipe()->set_epochs(1000); }},
      {"spec.recipe.learning_rate", [](auto* s) { s->mutable_recipe()->set_learning_rate(-1); }},
      {"spec.recipe.label_smoothing",
       [](auto* s) { s->mutable_recipe()->set_label_smoothing(1.5); }},
      {"spec.recipe.precision",
       [](auto* s) { s->mutable_recipe()->set_precision(static_cast<nas::v1::Precision>(9)); }},
      {"spec.recipe.warmup_fraction",
       [](auto* s) {
         s->mutable_recipe()->set_schedule(nas::v1::LR_SCHEDULE_ONE_CYCLE);
         s->mutable_recipe()->set_warmup_fraction(0.9);
       }},
      {"spec.recipe.qat_epochs", [](auto* s) { s->mutable_recipe()->set_qat_epochs(21); }},
      {"spec.recipe.qat_max_loss", [](auto* s) { s->mutable_recipe()->set_qat_max_loss(-0.5); }},
      {"spec.dataset", [](auto* s) { s->set_dataset("Image Net"); }},
      {"spec.space.name", [](auto* s) { s->mutable_space()->set_name("transformer"); }},
      {"spec.space.kernels", [](auto* s) { s->mutable_space()->add_kernels(4); }},
      {"spec.space.max_depth", [](auto* s) { s->mutable_space()->set_max_depth(50); }},
      {"spec.strategy.name", [](auto* s) { s->mutable_strategy()->set_name("annealing"); }},
      {"spec.strategy.settings[population]",
       [](auto* s) { (*s->mutable_strategy()->mutable_settings())["population"] = "64"; }},
      {"spec.constraints[0].bound",
       [](auto* s) {
         auto* c = s->add_constraints();
         c->set_metric(nas::v1::METRIC_ACCURACY);
         c->set_bound(2);
       }},
      {"spec.initial_architectures[0].stages[0].blocks[0].kernel",
       [](auto* s) {
         auto* a = s->add_initial_architectures();
         a->set_space("mobilenetv2");
         a->set_resolution(28);
         a->set_stem_width(16);
         for (int w : {16, 24, 40, 80}) {
           auto* stage = a->add_stages();
           stage->set_width(w);
           auto* b = stage->add_blocks();
           b->set_kernel(4);
           b->set_expansion(3);
         }
       }},
      {"spec.initial_architectures[0].stages",
       [](auto* s) {
         auto* a = s->add_initial_architectures();
         a->set_space("mobilenetv2");
         a->set_resolution(28);
         a->set_stem_width(16);
       }},
      {"spec.strategy.settings[supernet_epochs]",
       [](auto* s) {
         s->mutable_strategy()->set_name("weight_sharing");
         (*s->mutable_strategy()->mutable_settings())["supernet_epochs"] = "0";
       }},
      {"spec.strategy.settings[finetune]",
       [](auto* s) {
         s->mutable_strategy()->set_name("weight_sharing");
         (*s->mutable_strategy()->mutable_settings())["finetune"] = "later";
       }},
      {"spec.strategy.settings[supernet_workers]",
       [](auto* s) {
         s->mutable_strategy()->set_name("weight_sharing");
         (*s->mutable_strategy()->mutable_settings())["supernet_workers"] = "17";
       }},
      {"spec.strategy.settings[estimate_examples]",
       [](auto* s) {
         s->mutable_strategy()->set_name("weight_sharing");
         (*s->mutable_strategy()->mutable_settings())["estimate_examples"] = "-5";
       }},
      {"spec.space.stages[0].block_types",  // the supernet cannot make basic blocks elastic
       [](auto* s) {
         s->mutable_strategy()->set_name("weight_sharing");
         s->mutable_space()->set_name("resnet");
       }},
      {"spec.space.stages[0].stride",  // a space of the user's own
       [](auto* s) {
         s->mutable_space()->set_name("mine");
         s->mutable_space()->add_resolutions(28);
         s->mutable_space()->add_stem_widths(8);
         nas::v1::StageSpace* stage = s->mutable_space()->add_stages();
         stage->set_stride(3);
         stage->add_widths(8);
         stage->add_block_types(nas::v1::CONV);
       }},
      {"spec.space.stages[0].widths[0]",
       [](auto* s) {
         s->mutable_space()->set_name("mine");
         s->mutable_space()->add_resolutions(28);
         s->mutable_space()->add_stem_widths(8);
         nas::v1::StageSpace* stage = s->mutable_space()->add_stages();
         stage->set_stride(1);
         stage->add_widths(-8);
         stage->add_block_types(nas::v1::CONV);
       }},
      {"spec.recipe.validation_fraction",
       [](auto* s) { s->mutable_recipe()->set_validation_fraction(0.7); }},
      {"spec.recipe.validation_examples",
       [](auto* s) {
         s->mutable_recipe()->set_validation_fraction(0.1);
         s->mutable_recipe()->set_validation_examples(100);
       }},
      {"spec.constraints[0].metric: accuracy_drop is measured against the reference",
       [](auto* s) {
         auto* c = s->add_constraints();
         c->set_metric(nas::v1::METRIC_ACCURACY_DROP);
         c->set_bound(1);
       }},
      {"spec.constraints[0].bound: a bound on accuracy_drop lies in [-100, 100]",
       [](auto* s) {
         s->mutable_reference()->set_preset("mobilenetv2-1.0");
         auto* c = s->add_constraints();
         c->set_metric(nas::v1::METRIC_ACCURACY_DROP);
         c->set_bound(150);
       }},
      {"spec.objectives[1].metric: accuracy_drop is a constraint only",
       [](auto* s) {
         s->mutable_reference()->set_preset("mobilenetv2-1.0");
         s->add_objectives()->set_metric(nas::v1::METRIC_ACCURACY);
         s->add_objectives()->set_metric(nas::v1::METRIC_ACCURACY_DROP);
       }},
      {"spec.reference", [](auto* s) { s->mutable_reference(); }},
      {"spec.reference.preset", [](auto* s) { s->mutable_reference()->set_preset("vgg16"); }},
      {"spec.reference.architecture.space",  // neither the search's space nor a preset
       [](auto* s) {
         s->mutable_reference()->mutable_architecture()->set_space("my-net");
         s->mutable_reference()->mutable_architecture()->set_resolution(28);
       }},
      {"spec.multi_fidelity",
       [](auto* s) {
         s->mutable_strategy()->set_name("weight_sharing");
         s->mutable_multi_fidelity()->set_rungs(3);
       }},
      {"spec.strategy.settings[supernet_search]",
       [](auto* s) {
         s->mutable_strategy()->set_name("weight_sharing");
         (*s->mutable_strategy()->mutable_settings())["supernet_search"] = "987654";
       }},
      {"spec.display_name", [](auto* s) { s->set_display_name(std::string(200, 'x')); }},
      {"spec: ",
       [](auto* s) {
         (*s->mutable_strategy()->mutable_settings())["x"] = std::string(70'000, 'x');
       }},
  };
  for (const Case& c : cases) {
    nas::v1::SearchSpec spec = ValidSpec();
    c.mutate(&spec);
    ExpectError(Submit(alice_, spec), grpc::StatusCode::INVALID_ARGUMENT, c.names);
  }
  EXPECT_EQ(SearchCount(alice_), 0);
  EXPECT_TRUE(Submit(alice_, ValidSpec()).ok());
  EXPECT_EQ(SearchCount(alice_), 1);
}

TEST_F(BadInputTest, IdsOfOtherUsersAndZeroIds) {
  ASSERT_TRUE(Submit(alice_, ValidSpec()).ok());
  grpc::ClientContext list_ctx;
  ControllerHarness::Authorize(&list_ctx, alice_);
  nas::v1::ListSearchesResponse list;
  ASSERT_TRUE(nas_->ListSearches(&list_ctx, {}, &list).ok());
  const int64_t id = list.searches(0).id();

  auto get = [&](const std::string& token, int64_t search_id) {
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, token);
    nas::v1::GetSearchRequest req;
    req.set_search_id(search_id);
    nas::v1::Search s;
    return nas_->GetSearch(&ctx, req, &s);
  };
  EXPECT_TRUE(get(alice_, id).ok());
  ExpectError(get(bob_, id), grpc::StatusCode::NOT_FOUND, "search");
  ExpectError(get(bob_, id + 1000), grpc::StatusCode::NOT_FOUND, "search");
  ExpectError(get(alice_, 0), grpc::StatusCode::INVALID_ARGUMENT, "search_id");

  grpc::ClientContext cancel_ctx;
  ControllerHarness::Authorize(&cancel_ctx, bob_);
  nas::v1::CancelSearchRequest cancel;
  cancel.set_search_id(id);
  nas::v1::Search out;
  ExpectError(nas_->CancelSearch(&cancel_ctx, cancel, &out), grpc::StatusCode::NOT_FOUND, "search");
  EXPECT_TRUE(get(alice_, id).ok());
  grpc::ClientContext check_ctx;
  ControllerHarness::Authorize(&check_ctx, alice_);
  nas::v1::GetSearchRequest req;
  req.set_search_id(id);
  ASSERT_TRUE(nas_->GetSearch(&check_ctx, req, &out).ok());
  EXPECT_EQ(out.state(), nas::v1::SEARCH_STATE_RUNNING);  // Bob's cancel changed nothing.

  grpc::ClientContext front_ctx;
  ControllerHarness::Authorize(&front_ctx, alice_);
  nas::v1::GetParetoFrontRequest front_req;
  front_req.set_search_id(id);
  front_req.set_profile_id("cortex-m7");  // Not a profile of this search.
  nas::v1::ParetoFront front;
  ExpectError(nas_->GetParetoFront(&front_ctx, front_req, &front), grpc::StatusCode::NOT_FOUND,
              "profile_id");
}

TEST_F(BadInputTest, PrivateProfilesAreTheirOwnersAndPublicOnesNeedAnAdmin) {
  nas::v1::RegisterHardwareProfileRequest req;
  nas::v1::HardwareProfile* p = req.mutable_profile();
  p->set_name("alice-board");
  p->set_kind(nas::v1::PROFILE_KIND_ROOFLINE);
  p->mutable_roofline()->set_peak_macs_per_second(1e9);
  p->mutable_roofline()->set_memory_bytes_per_second(1e9);
  p->mutable_roofline()->set_source("alice's datasheet");
  auto reg = [&](const std::string& token, const nas::v1::RegisterHardwareProfileRequest& r,
                 nas::v1::HardwareProfile* out) {
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, token);
    return nas_->RegisterHardwareProfile(&ctx, r, out);
  };
  nas::v1::HardwareProfile v1, v2;
  ASSERT_TRUE(reg(alice_, req, &v1).ok());
  EXPECT_EQ(v1.id(), "alice-board@1");
  ASSERT_TRUE(reg(alice_, req, &v2).ok());
  EXPECT_EQ(v2.id(), "alice-board@2");  // Re-registering makes a new version.

  // Bob cannot see, use or take over Alice's private profile.
  {
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, bob_);
    nas::v1::GetHardwareProfileRequest get;
    get.set_profile_id("alice-board");
    nas::v1::HardwareProfile out;
    ExpectError(nas_->GetHardwareProfile(&ctx, get, &out), grpc::StatusCode::NOT_FOUND,
                "alice-board");
  }
  {
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, bob_);
    nas::v1::ListHardwareProfilesResponse list;
    ASSERT_TRUE(nas_->ListHardwareProfiles(&ctx, {}, &list).ok());
    for (const auto& profile : list.profiles()) EXPECT_NE(profile.name(), "alice-board");
    EXPECT_GE(list.profiles_size(), 3);  // The built-in ones.
  }
  nas::v1::SearchSpec spec = ValidSpec();
  spec.add_profile_ids("alice-board");
  ExpectError(Submit(bob_, spec), grpc::StatusCode::INVALID_ARGUMENT, "spec.profile_ids[0]");
  EXPECT_TRUE(Submit(alice_, spec).ok());
  nas::v1::HardwareProfile out;
  // Names are unique per owner: Bob's "alice-board" is his own, learns nothing of Alice's, and
  // each of them resolves the name to their own profile.
  ASSERT_TRUE(reg(bob_, req, &out).ok());
  EXPECT_EQ(out.id(), "alice-board@1");
  EXPECT_EQ(out.owner(), "bob");
  for (const auto& [token, owner, version] :
       {std::make_tuple(alice_, "alice", 2), std::make_tuple(bob_, "bob", 1)}) {
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, token);
    nas::v1::GetHardwareProfileRequest get;
    get.set_profile_id("alice-board");
    nas::v1::HardwareProfile mine;
    ASSERT_TRUE(nas_->GetHardwareProfile(&ctx, get, &mine).ok());
    EXPECT_EQ(mine.owner(), owner);
    EXPECT_EQ(mine.version(), version);
  }
  // A visibility that is no Visibility value is refused, not stored as PRIVATE.
  nas::v1::RegisterHardwareProfileRequest odd = req;
  odd.mutable_profile()->set_name("odd-board");
  odd.mutable_profile()->set_visibility(static_cast<nas::v1::Visibility>(9));
  ExpectError(reg(alice_, odd, &out), grpc::StatusCode::INVALID_ARGUMENT,
              "profile.visibility: 9 is not a value of nas.v1.Visibility");

  // Public profiles need an administrator; malformed ones name the field.
  nas::v1::RegisterHardwareProfileRequest pub = req;
  pub.mutable_profile()->set_name("shared-board");
  pub.mutable_profile()->set_visibility(nas::v1::VISIBILITY_PUBLIC);
  ExpectError(reg(alice_, pub, &out), grpc::StatusCode::PERMISSION_DENIED, "profile.visibility");
  EXPECT_TRUE(reg(kTestAdminToken, pub, &out).ok());
  nas::v1::RegisterHardwareProfileRequest bad = req;
  bad.mutable_profile()->set_name("Has Spaces");
  ExpectError(reg(alice_, bad, &out), grpc::StatusCode::INVALID_ARGUMENT, "profile.name");
  bad = req;
  bad.mutable_profile()->mutable_roofline()->set_peak_macs_per_second(0);
  ExpectError(reg(alice_, bad, &out), grpc::StatusCode::INVALID_ARGUMENT,
              "profile.roofline.peak_macs_per_second");
  bad = req;
  bad.mutable_profile()->set_kind(nas::v1::PROFILE_KIND_MEASURED);
  ExpectError(reg(alice_, bad, &out), grpc::StatusCode::INVALID_ARGUMENT, "profile.device_tag");
  bad = req;
  bad.mutable_profile()->set_kind(nas::v1::PROFILE_KIND_LUT);
  ExpectError(reg(alice_, bad, &out), grpc::StatusCode::INVALID_ARGUMENT,
              "profile.latency_table.entries");
  bad = req;
  bad.mutable_profile()->set_name("builtin-clash");
  bad.mutable_profile()->set_name("host-cpu");
  ExpectError(reg(alice_, bad, &out), grpc::StatusCode::ALREADY_EXISTS, "profile.name");
}

TEST_F(BadInputTest, AdminCallsNeedAnAdmin) {
  auto admin = harness_->Admin();
  grpc::ClientContext ctx;
  ControllerHarness::Authorize(&ctx, alice_);
  nas::v1::CreateUserRequest req;
  req.set_name("mallory");
  nas::v1::User user;
  ExpectError(admin->CreateUser(&ctx, req, &user), grpc::StatusCode::PERMISSION_DENIED,
              "administrator");
  grpc::ClientContext ctx2;
  ControllerHarness::Authorize(&ctx2, alice_);
  nas::v1::CreateTokenRequest token_req;
  token_req.set_user_name("bob");
  nas::v1::CreateTokenResponse token;
  ExpectError(admin->CreateToken(&ctx2, token_req, &token), grpc::StatusCode::PERMISSION_DENIED,
              "administrator");
  grpc::ClientContext ctx3;
  ControllerHarness::Authorize(&ctx3, kTestAdminToken);
  req.set_name("Bad Name!");
  ExpectError(admin->CreateUser(&ctx3, req, &user), grpc::StatusCode::INVALID_ARGUMENT, "name");
  grpc::ClientContext ctx4;
  ControllerHarness::Authorize(&ctx4, kTestAdminToken);
  req.set_name("alice");
  ExpectError(admin->CreateUser(&ctx4, req, &user), grpc::StatusCode::ALREADY_EXISTS, "alice");
}

TEST_F(BadInputTest, WorkerInputIsCheckedAndNothingHalfWritten) {
  grpc::ClientContext submit_ctx;
  ControllerHarness::Authorize(&submit_ctx, alice_);
  nas::v1::SubmitSearchRequest submit;
  *submit.mutable_spec() = ValidSpec();
  nas::v1::Search search;
  ASSERT_TRUE(nas_->SubmitSearch(&submit_ctx, submit, &search).ok());
  TestWorker worker(harness_.get());
  ASSERT_TRUE(worker.Register().ok());
  nas::v1::LeaseWorkResponse lease;
  {
    // Too large a batch leases nothing: the candidate stays queued for the call below.
    grpc::ClientContext ctx;
    ControllerHarness::AuthorizeWorker(&ctx);
    nas::v1::LeaseWorkRequest req;
    req.set_worker_id(worker.worker_id());
    req.set_max_estimates(65);
    ExpectError(harness_->Trainer()->LeaseWork(&ctx, req, &lease),
                grpc::StatusCode::INVALID_ARGUMENT, "max_estimates");
  }
  ASSERT_TRUE(worker.Lease(&lease).ok());
  ASSERT_NE(lease.lease_id(), 0);
  {
    // A rendezvous needs host:port, and only rank 0 of a data-parallel supernet epoch has one.
    nas::v1::PublishRendezvousRequest req;
    req.set_worker_id(worker.worker_id());
    req.set_lease_id(lease.lease_id());
    nas::v1::PublishRendezvousResponse resp;
    req.set_store_address("127.0.0.1");
    grpc::ClientContext bad_address;
    ControllerHarness::AuthorizeWorker(&bad_address);
    ExpectError(harness_->Trainer()->PublishRendezvous(&bad_address, req, &resp),
                grpc::StatusCode::INVALID_ARGUMENT, "store_address");
    req.set_store_address("127.0.0.1:29500");
    grpc::ClientContext not_a_gang;
    ControllerHarness::AuthorizeWorker(&not_a_gang);
    ExpectError(harness_->Trainer()->PublishRendezvous(&not_a_gang, req, &resp),
                grpc::StatusCode::FAILED_PRECONDITION, "supernet_workers");
  }

  nas::v1::CandidateMetrics m = TestWorker::MetricsFor(lease);
  m.set_val_accuracy(1.5);
  ExpectError(worker.Report(lease.lease_id(), m), grpc::StatusCode::INVALID_ARGUMENT,
              "metrics.val_accuracy");
  // Every figure is finite and in range: +inf latency once joined a front as "feasible".
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<std::pair<std::function<void(nas::v1::CandidateMetrics*)>, const char*>>
      bad_figures = {
          {[&](auto* x) { x->set_latency_ms(inf); }, "metrics.latency_ms"},
          {[&](auto* x) { x->set_val_accuracy(nan); }, "metrics.val_accuracy"},
          {[&](auto* x) { x->set_test_accuracy(2); }, "metrics.test_accuracy"},
          {[&](auto* x) { x->set_train_loss(-inf); }, "metrics.train_loss"},
          {[&](auto* x) { x->set_latency_iqr_ms(nan); }, "metrics.latency_iqr_ms"},
          {[&](auto* x) { x->set_train_seconds(-1); }, "metrics.train_seconds"},
          {[&](auto* x) { x->set_params(-5); }, "metrics.params"},
      };
  for (const auto& [edit, field] : bad_figures) {
    nas::v1::CandidateMetrics b = TestWorker::MetricsFor(lease);
    edit(&b);
    ExpectError(worker.Report(lease.lease_id(), b), grpc::StatusCode::INVALID_ARGUMENT, field);
  }
  ExpectError(worker.Upload(lease.lease_id(), "model", Sha256Hex("other")),
              grpc::StatusCode::INVALID_ARGUMENT, "header.sha256");
  ExpectError(worker.Report(lease.lease_id() + 999, TestWorker::MetricsFor(lease)),
              grpc::StatusCode::NOT_FOUND, "lease");

  // The lease is still live and the candidate untouched: the real report goes through.
  grpc::ClientContext ctx;
  ControllerHarness::Authorize(&ctx, alice_);
  nas::v1::GetCandidateRequest get;
  get.set_candidate_id(lease.candidate_id());
  nas::v1::Candidate c;
  ASSERT_TRUE(nas_->GetCandidate(&ctx, get, &c).ok());
  EXPECT_EQ(c.state(), nas::v1::CANDIDATE_STATE_LEASED);
  EXPECT_FALSE(c.has_artifact());
  EXPECT_TRUE(worker.Evaluate(lease).ok());

  TestWorker bad_datasets(harness_.get());
  ExpectError(bad_datasets.Register({"cifar10", "CIFAR 100"}), grpc::StatusCode::INVALID_ARGUMENT,
              "datasets[1]");
}

// Bytes that do not parse as the request message are the client's error, with a message.
TEST_F(BadInputTest, RequestBytesThatDoNotParseAreInvalidArgument) {
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", harness_->port()),
                                     grpc::InsecureChannelCredentials());
  grpc::GenericStub generic(channel);
  for (const char* method : {"/nas.v1.NasService/SubmitSearch", "/nas.v1.NasService/WatchSearch",
                             "/nas.v1.TrainerService/ReportResult"}) {
    // A field 1 that claims 100 bytes and carries 3: no protobuf parser accepts it.
    const std::string garbage("\x0a\x64\x01\x02\x03", 5);
    grpc::Slice slice(garbage);
    grpc::ByteBuffer request(&slice, 1);
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, alice_);
    grpc::CompletionQueue cq;
    grpc::ByteBuffer response;
    std::unique_ptr<grpc::GenericClientAsyncResponseReader> call =
        generic.PrepareUnaryCall(&ctx, method, request, &cq);
    call->StartCall();
    grpc::Status st;
    call->Finish(&response, &st, reinterpret_cast<void*>(1));
    void* tag = nullptr;
    bool ok = false;
    ASSERT_TRUE(cq.Next(&tag, &ok));
    ExpectError(st, grpc::StatusCode::INVALID_ARGUMENT, "do not parse");
    EXPECT_NE(st.error_message().find(method), std::string::npos) << st.error_message();
    cq.Shutdown();
    while (cq.Next(&tag, &ok)) {
    }
  }
  EXPECT_EQ(SearchCount(alice_), 0);
}

}  // namespace
}  // namespace nas
