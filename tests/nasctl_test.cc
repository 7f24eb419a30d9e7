// nasctl, the real binary, against a real controller and PostgreSQL.
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "services/crypto.h"
#include "tests/controller_harness.h"

namespace nas {
namespace {

struct Result {
  int exit_code;
  std::string out;  // stdout and stderr together
};

class NasctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<ControllerHarness>> h = ControllerHarness::Create();
    ASSERT_TRUE(h.ok()) << h.status();
    harness_ = *std::move(h);
    alice_ = harness_->NewUserToken("alice");
    dir_ = std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp");
  }

  Result Nasctl(const std::string& args, const std::string& token) {
    const std::string cmd = absl::StrCat("NAS_SERVER=127.0.0.1:", harness_->port(), " NAS_TOKEN='",
                                         token, "' cli/nasctl ", args, " 2>&1");
    FILE* p = popen(cmd.c_str(), "r");
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
    const int status = pclose(p);
    return {WEXITSTATUS(status), out};
  }

  std::unique_ptr<ControllerHarness> harness_;
  std::string alice_;
  std::string dir_;
};

TEST_F(NasctlTest, SubmitFromASpecFileListParetoAndFetch) {
  // The example the README shows, exactly as committed; --candidates overrides its budget.
  Result submit = Nasctl("submit --spec=deploy/examples/search.textproto --candidates=5", alice_);
  ASSERT_EQ(submit.exit_code, 0) << submit.out;
  EXPECT_NE(submit.out.find("submitted search 1"), std::string::npos) << submit.out;
  EXPECT_NE(submit.out.find("0/5 evaluated"), std::string::npos) << submit.out;  // Flag won.
  EXPECT_NE(submit.out.find("host-cpu@1, cortex-m7@1"), std::string::npos) << submit.out;
  EXPECT_NE(submit.out.find("mcu-classifier"), std::string::npos) << submit.out;

  TestWorker worker(harness_.get());
  ASSERT_TRUE(worker.Register().ok());
  int64_t last_candidate = 0;
  for (int i = 0; i < 5; ++i) {
    nas::v1::LeaseWorkResponse lease;
    ASSERT_TRUE(worker.Lease(&lease, 5000).ok());
    ASSERT_NE(lease.lease_id(), 0);
    ASSERT_TRUE(worker.Evaluate(lease).ok());
    last_candidate = lease.candidate_id();
  }

  Result list = Nasctl("list", alice_);
  ASSERT_EQ(list.exit_code, 0) << list.out;
  EXPECT_NE(list.out.find("mcu-classifier"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("succeeded"), std::string::npos) << list.out;

  Result json = Nasctl("--json get 1", alice_);
  ASSERT_EQ(json.exit_code, 0) << json.out;
  EXPECT_NE(json.out.find("\"state\":\"SEARCH_STATE_SUCCEEDED\""), std::string::npos) << json.out;

  Result pareto = Nasctl("pareto 1", alice_);
  ASSERT_EQ(pareto.exit_code, 0) << pareto.out;
  EXPECT_NE(pareto.out.find("Pareto front of search 1 on host-cpu@1"), std::string::npos);
  EXPECT_NE(pareto.out.find("Pareto front of search 1 on cortex-m7@1"), std::string::npos);
  EXPECT_NE(pareto.out.find("measured"), std::string::npos) << pareto.out;
  EXPECT_NE(pareto.out.find("modelled"), std::string::npos) << pareto.out;

  const std::string model = dir_ + "/model.pt";
  Result fetch = Nasctl(absl::StrCat("fetch ", last_candidate, " --out=", model), alice_);
  ASSERT_EQ(fetch.exit_code, 0) << fetch.out;
  EXPECT_NE(fetch.out.find("verified"), std::string::npos) << fetch.out;
  std::ifstream in(model, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  EXPECT_EQ(bytes.str(), TestWorker::ModelFor(last_candidate));
  EXPECT_TRUE(std::ifstream(model + ".json").good());
}

TEST_F(NasctlTest, RecipeFlagsReachTheSpecAndTooFewStepsAreWarnedOf) {
  Result submit = Nasctl(
      "submit --space=mobilenetv2 --profiles=host-cpu --candidates=2 --epochs=1 "
      "--batch_size=256 --optimizer=adamw --learning_rate=0.003 --weight_decay=0.01 "
      "--schedule=step --label_smoothing=0.1 --augment=crop,flip --validation_fraction=0.1 "
      "--train_subset=1000 --json",
      alice_);
  ASSERT_EQ(submit.exit_code, 0) << submit.out;
  for (const char* field :
       {"\"batch_size\":256", "\"optimizer\":\"OPTIMIZER_ADAMW\"", "\"learning_rate\":0.003",
        "\"weight_decay\":0.01", "\"schedule\":\"LR_SCHEDULE_STEP\"", "\"label_smoothing\":0.1",
        "\"augment_crop\":true", "\"augment_flip\":true", "\"validation_fraction\":0.1",
        "\"train_subset\":1000"}) {
    EXPECT_NE(submit.out.find(field), std::string::npos) << field << " not in " << submit.out;
  }
  // 1 epoch of 1,000 examples in batches of 256: 4 steps. Said on stderr, and in the search.
  EXPECT_NE(submit.out.find("nasctl: warning: recipe: each candidate gets only 4 optimizer "
                            "steps (1 epochs of 1000 training examples in batches of 256)"),
            std::string::npos)
      << submit.out;
  Result get = Nasctl("get 1", alice_);
  EXPECT_NE(get.out.find("warning"), std::string::npos) << get.out;
  EXPECT_NE(get.out.find("4 optimizer steps"), std::string::npos) << get.out;

  // Extended while running: the budget grows; a running search has nothing to resume.
  Result extend = Nasctl("extend 1 --add_candidates=3", alice_);
  ASSERT_EQ(extend.exit_code, 0) << extend.out;
  EXPECT_NE(extend.out.find("0/5 evaluated"), std::string::npos) << extend.out;
  Result resume = Nasctl("resume 1", alice_);
  EXPECT_EQ(resume.exit_code, 1) << resume.out;
  EXPECT_NE(resume.out.find("is running"), std::string::npos) << resume.out;
  Result cancel = Nasctl("cancel 1", alice_);
  ASSERT_EQ(cancel.exit_code, 0) << cancel.out;
  resume = Nasctl("resume 1", alice_);
  ASSERT_EQ(resume.exit_code, 0) << resume.out;
  EXPECT_NE(resume.out.find("running"), std::string::npos) << resume.out;

  // The schedules that warm up, and the training precision.
  Result cycle = Nasctl(
      "submit --space=mobilenetv2 --profiles=host-cpu --candidates=1 --schedule=one_cycle "
      "--warmup_fraction=0.3 --precision=bf16 --json",
      alice_);
  ASSERT_EQ(cycle.exit_code, 0) << cycle.out;
  for (const char* field : {"\"schedule\":\"LR_SCHEDULE_ONE_CYCLE\"", "\"warmup_fraction\":0.3",
                            "\"precision\":\"PRECISION_BF16\""}) {
    EXPECT_NE(cycle.out.find(field), std::string::npos) << field << " not in " << cycle.out;
  }
  // Unset, the precision is auto.
  EXPECT_NE(submit.out.find("\"precision\":\"PRECISION_AUTO\""), std::string::npos) << submit.out;
  Result no_warmup = Nasctl(
      "submit --space=mobilenetv2 --profiles=host-cpu --candidates=1 --schedule=step "
      "--warmup_fraction=0.3",
      alice_);
  EXPECT_EQ(no_warmup.exit_code, 1);
  EXPECT_NE(no_warmup.out.find("INVALID_ARGUMENT: spec.recipe.warmup_fraction: only "),
            std::string::npos)
      << no_warmup.out;
  Result precision = Nasctl("submit --precision=fp16", alice_);
  EXPECT_EQ(precision.exit_code, 2) << precision.out;
  EXPECT_NE(precision.out.find("--precision: \"fp16\" is not auto, fp32 or bf16"),
            std::string::npos)
      << precision.out;
}

TEST_F(NasctlTest, ErrorsAreOneLineAndANonZeroExit) {
  Result unknown = Nasctl("get 999", alice_);
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_EQ(unknown.out, "nasctl: NOT_FOUND: search 999 not found\n");

  Result bad = Nasctl("submit --candidates=0", alice_);
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.out.find("INVALID_ARGUMENT: spec.budget.max_candidates"), std::string::npos)
      << bad.out;

  Result noauth = Nasctl("list", "wrong");
  EXPECT_EQ(noauth.exit_code, 1);
  EXPECT_NE(noauth.out.find("UNAUTHENTICATED"), std::string::npos) << noauth.out;

  Result usage = Nasctl("frobnicate", alice_);
  EXPECT_EQ(usage.exit_code, 2);
  EXPECT_NE(usage.out.find("unknown command \"frobnicate\""), std::string::npos);

  Result missing = Nasctl("fetch", alice_);
  EXPECT_EQ(missing.exit_code, 2);

  Result health = Nasctl("health", "");
  EXPECT_EQ(health.exit_code, 0) << health.out;
  EXPECT_EQ(health.out, "serving\n");
}

// Several controller addresses: calls go to one that answers (here the first is down), and a
// list with a wrong entry is refused naming it.
TEST_F(NasctlTest, SeveralServersOneDown) {
  const std::string both = absl::StrCat("--server=127.0.0.1:1,127.0.0.1:", harness_->port());
  Result list = Nasctl(absl::StrCat("list ", both), alice_);
  EXPECT_EQ(list.exit_code, 0) << list.out;
  EXPECT_NE(list.out.find("ID"), std::string::npos) << list.out;
  Result bad = Nasctl("list --server=127.0.0.1:1,127.0.0.1", alice_);
  EXPECT_EQ(bad.exit_code, 1) << bad.out;
  EXPECT_NE(bad.out.find("--server: controller address \"127.0.0.1\": not HOST:PORT"),
            std::string::npos)
      << bad.out;
}

TEST_F(NasctlTest, ALatencyTableRegistersAsALookupTableProfile) {
  const std::string table = dir_ + "/board.lut";
  std::ofstream(table) << "# nas-profile latency table v1\ndevice test board\nthreads 1\n"
                          "overhead_ms 0.1\nop head:in8:cls10:r5 0.01 0 30\n"
                          "op stem:resnet:c1:out8:r20 0.2 0.001 30\n";
  Result ok =
      Nasctl(absl::StrCat("profiles register --lut=", table, " --name=alices-board"), alice_);
  ASSERT_EQ(ok.exit_code, 0) << ok.out;
  EXPECT_NE(ok.out.find("registered alices-board@1"), std::string::npos) << ok.out;
  Result list = Nasctl("profiles", alice_);
  EXPECT_NE(list.out.find("alices-board@1     lut"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("lookup table measured on test board"), std::string::npos) << list.out;

  const std::string bad = dir_ + "/bad.lut";
  std::ofstream(bad) << "threads 1\nop a 1 0 30\nop b -2 0 30\n";
  Result refused = Nasctl(absl::StrCat("profiles register --lut=", bad, " --name=x"), alice_);
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.out.find("line 3: mean_ms \"-2\""), std::string::npos) << refused.out;
}

TEST_F(NasctlTest, AdminCommandsCreateUsersAndTokens) {
  Result user = Nasctl("users create carol", kTestAdminToken);
  ASSERT_EQ(user.exit_code, 0) << user.out;
  Result token = Nasctl("tokens create --user=carol", kTestAdminToken);
  ASSERT_EQ(token.exit_code, 0) << token.out;
  const std::string secret = token.out.substr(0, token.out.find('\n'));
  Result who = Nasctl("whoami", secret);
  EXPECT_EQ(who.out, "carol\n");
  Result denied = Nasctl("users list", secret);
  EXPECT_EQ(denied.exit_code, 1);
  EXPECT_NE(denied.out.find("PERMISSION_DENIED"), std::string::npos);
}

}  // namespace
}  // namespace nas
