// A finished model is stored in several formats (TorchScript, ONNX fp32, ONNX int8 QDQ): what
// the controller accepts on upload, what FetchModel hands back for a format or a profile, and
// the errors for the rest. Real controller, real PostgreSQL, a protocol-level test worker; the
// real worker's files are checked in tests/worker_test.cc and tests/onnx_verify_test.py.
#include <string>

#include "common/sha256.h"
#include "gtest/gtest.h"
#include "onnx/onnx_pb.h"
#include "tests/controller_harness.h"

namespace nas {
namespace {

// A small valid ONNX classifier: images N x 1 x 28 x 28 -> global average pool -> 10 logits,
// with a QuantizeLinear / DequantizeLinear pair before the classifier when `int8`.
std::string TinyOnnx(bool int8) {
  onnx::ModelProto m;
  m.set_ir_version(7);
  m.add_opset_import()->set_version(13);
  onnx::GraphProto* g = m.mutable_graph();
  g->set_name("tiny");
  auto value = [](onnx::ValueInfoProto* v, const char* name, std::vector<int64_t> dims) {
    v->set_name(name);
    auto* t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) {
      if (d < 0) {
        t->mutable_shape()->add_dim()->set_dim_param("N");
      } else {
        t->mutable_shape()->add_dim()->set_dim_value(d);
      }
    }
  };
  value(g->add_input(), "images", {-1, 1, 28, 28});
  value(g->add_output(), "logits", {-1, 10});
  auto tensor = [&](const char* name, onnx::TensorProto::DataType type, std::vector<int64_t> dims,
                    std::string raw) {
    onnx::TensorProto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(type);
    for (int64_t d : dims) t->add_dims(d);
    t->set_raw_data(std::move(raw));
  };
  auto node = [&](const char* op, std::vector<std::string> in, const char* out) {
    onnx::NodeProto* n = g->add_node();
    n->set_op_type(op);
    for (const std::string& i : in) n->add_input(i);
    n->add_output(out);
    return n;
  };
  tensor("w", onnx::TensorProto::FLOAT, {10, 1}, std::string(40, '\0'));
  tensor("b", onnx::TensorProto::FLOAT, {10}, std::string(40, '\0'));
  node("GlobalAveragePool", {"images"}, "pooled");
  node("Flatten", {"pooled"}, "features");
  std::string features = "features";
  if (int8) {
    const float scale = 1.0f / 255;
    tensor("s", onnx::TensorProto::FLOAT, {},
           std::string(reinterpret_cast<const char*>(&scale), 4));
    tensor("z", onnx::TensorProto::INT8, {}, std::string(1, '\x80'));
    node("QuantizeLinear", {"features", "s", "z"}, "q");
    node("DequantizeLinear", {"q", "s", "z"}, "dq");
    features = "dq";
  }
  onnx::NodeProto* gemm = node("Gemm", {features, "w", "b"}, "logits");
  onnx::AttributeProto* a = gemm->add_attribute();
  a->set_name("transB");
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(1);
  return m.SerializeAsString();
}

class ModelFormatsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<ControllerHarness>> h = ControllerHarness::Create();
    ASSERT_TRUE(h.ok()) << h.status();
    harness_ = *std::move(h);
    alice_ = harness_->NewUserToken("alice");
  }

  // A one-candidate search on an fp32 and an int8 profile, its candidate leased to `worker`.
  nas::v1::LeaseWorkResponse LeaseOne(TestWorker& worker) {
    nas::v1::SearchSpec spec;
    spec.mutable_budget()->set_max_candidates(1);
    spec.add_profile_ids("rpi4-cortex-a72");
    spec.add_profile_ids("cortex-m7");
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, alice_);
    nas::v1::SubmitSearchRequest req;
    *req.mutable_spec() = spec;
    EXPECT_TRUE(harness_->Nas()->SubmitSearch(&ctx, req, &search_).ok());
    EXPECT_TRUE(worker.Register().ok());
    nas::v1::LeaseWorkResponse lease;
    EXPECT_TRUE(worker.Lease(&lease).ok());
    EXPECT_GT(lease.lease_id(), 0);
    return lease;
  }

  struct Fetched {
    grpc::Status status;
    nas::v1::ModelMetadata meta;
    std::string file;
  };

  Fetched Fetch(int64_t candidate_id, const std::string& format, const std::string& profile) {
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, alice_);
    nas::v1::FetchModelRequest req;
    req.set_candidate_id(candidate_id);
    req.set_format(format);
    req.set_profile_id(profile);
    auto reader = harness_->Nas()->FetchModel(&ctx, req);
    nas::v1::FetchModelResponse msg;
    Fetched f;
    while (reader->Read(&msg)) {
      if (msg.has_metadata()) f.meta = msg.metadata();
      f.file += msg.chunk();
    }
    f.status = reader->Finish();
    return f;
  }

  static void ExpectError(const grpc::Status& st, grpc::StatusCode code, const std::string& says) {
    EXPECT_EQ(st.error_code(), code) << st.error_message();
    EXPECT_NE(st.error_message().find(says), std::string::npos)
        << "\"" << st.error_message() << "\" should say \"" << says << "\"";
  }

  std::unique_ptr<ControllerHarness> harness_;
  std::string alice_;
  nas::v1::Search search_;
};

TEST_F(ModelFormatsTest, UploadsAreCheckedAndFetchServesTheFormatAskedOrTheProfilesOwn) {
  TestWorker worker(harness_.get());
  const nas::v1::LeaseWorkResponse lease = LeaseOne(worker);
  const int64_t id = lease.candidate_id();
  const std::string script = TestWorker::ModelFor(id);
  const std::string fp32 = TinyOnnx(false);
  const std::string int8 = TinyOnnx(true);

  // Refused, each with what is wrong, and nothing stored.
  ExpectError(worker.Upload(lease.lease_id(), fp32, Sha256Hex(fp32), "tflite"),
              grpc::StatusCode::INVALID_ARGUMENT, "header.format: \"tflite\" is not torchscript");
  ExpectError(worker.Upload(lease.lease_id(), "garbage", Sha256Hex("garbage"), "onnx-int8"),
              grpc::StatusCode::INVALID_ARGUMENT, "does not parse");
  ExpectError(worker.Upload(lease.lease_id(), int8.substr(0, int8.size() - 9),
                            Sha256Hex(int8.substr(0, int8.size() - 9)), "onnx-int8"),
              grpc::StatusCode::INVALID_ARGUMENT, "onnx-int8 file");
  ExpectError(worker.Upload(lease.lease_id(), fp32, Sha256Hex(fp32), "onnx-int8"),
              grpc::StatusCode::INVALID_ARGUMENT, "not int8 QDQ");
  ExpectError(worker.Upload(lease.lease_id(), int8, Sha256Hex(int8), "onnx-fp32"),
              grpc::StatusCode::INVALID_ARGUMENT, "upload it as onnx-int8");
  ExpectError(worker.Upload(lease.lease_id(), "not a zip", Sha256Hex("not a zip"), "torchscript"),
              grpc::StatusCode::INVALID_ARGUMENT, "not a TorchScript archive");
  ExpectError(worker.Upload(lease.lease_id(), int8, Sha256Hex(fp32), "onnx-int8"),
              grpc::StatusCode::INVALID_ARGUMENT, "header.sha256");

  // The TorchScript and int8 files, then the result (int8 accuracy measured).
  ASSERT_TRUE(worker.Upload(lease.lease_id(), script, Sha256Hex(script)).ok());
  ASSERT_TRUE(worker.Upload(lease.lease_id(), int8, Sha256Hex(int8), "onnx-int8").ok());
  nas::v1::CandidateMetrics metrics = TestWorker::MetricsFor(lease);
  metrics.set_int8_val_accuracy(metrics.val_accuracy() - 0.02);
  metrics.set_int8_test_accuracy(-1);
  ASSERT_TRUE(worker.Report(lease.lease_id(), metrics).ok());

  // No profile: TorchScript. The int8 profile: its int8 file. Asked: what was asked.
  Fetched f = Fetch(id, "", "");
  ASSERT_TRUE(f.status.ok()) << f.status.error_message();
  EXPECT_EQ(f.meta.format(), "torchscript");
  EXPECT_EQ(f.file, script);
  f = Fetch(id, "", "cortex-m7");
  ASSERT_TRUE(f.status.ok()) << f.status.error_message();
  EXPECT_EQ(f.meta.format(), "onnx-int8");
  EXPECT_EQ(f.file, int8);
  EXPECT_EQ(f.meta.sha256(), Sha256Hex(int8));
  // The metadata lists what is stored, and the candidate's figures on both profiles: the int8
  // profile ranks it by its int8 accuracy, the fp32 one by its fp32 accuracy.
  ASSERT_EQ(f.meta.formats_size(), 2);
  EXPECT_EQ(f.meta.formats(0), "onnx-int8");
  EXPECT_EQ(f.meta.formats(1), "torchscript");
  ASSERT_EQ(f.meta.profiles_size(), 2);
  EXPECT_EQ(f.meta.profiles(0).accuracy_kind(), "fp32");
  EXPECT_DOUBLE_EQ(f.meta.profiles(0).accuracy(), metrics.val_accuracy());
  EXPECT_EQ(f.meta.profiles(1).accuracy_kind(), "int8");
  EXPECT_DOUBLE_EQ(f.meta.profiles(1).accuracy(), metrics.int8_val_accuracy());
  // The fp32 profile's natural format (ONNX fp32) was never uploaded: the first stored one.
  f = Fetch(id, "", "rpi4-cortex-a72");
  ASSERT_TRUE(f.status.ok());
  EXPECT_EQ(f.meta.format(), "onnx-int8");
  f = Fetch(id, "torchscript", "cortex-m7");
  ASSERT_TRUE(f.status.ok());
  EXPECT_EQ(f.meta.format(), "torchscript");

  // Bad requests, each named.
  ExpectError(Fetch(id, "onnx-fp32", "").status, grpc::StatusCode::NOT_FOUND,
              "has no onnx-fp32 model (it has: onnx-int8, torchscript)");
  ExpectError(Fetch(id, "tflite", "").status, grpc::StatusCode::INVALID_ARGUMENT,
              "format: \"tflite\" is not torchscript, onnx-fp32 or onnx-int8");
  ExpectError(Fetch(id, "", "jetson").status, grpc::StatusCode::INVALID_ARGUMENT,
              "is not a profile of search");
  ExpectError(Fetch(id + 1000, "onnx-int8", "").status, grpc::StatusCode::NOT_FOUND, "not found");
}

TEST_F(ModelFormatsTest, AnInt8ProfilesFrontRanksTheInt8Accuracy) {
  TestWorker worker(harness_.get());
  const nas::v1::LeaseWorkResponse lease = LeaseOne(worker);
  nas::v1::CandidateMetrics metrics = TestWorker::MetricsFor(lease);
  metrics.set_int8_val_accuracy(0.5);
  ASSERT_TRUE(worker.Report(lease.lease_id(), metrics).ok());
  for (const auto& [profile, accuracy, kind] :
       std::vector<std::tuple<std::string, double, std::string>>{
           {"rpi4-cortex-a72", metrics.val_accuracy(), "fp32"}, {"cortex-m7", 0.5, "int8"}}) {
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, alice_);
    nas::v1::GetParetoFrontRequest req;
    req.set_search_id(search_.id());
    req.set_profile_id(profile);
    nas::v1::ParetoFront front;
    ASSERT_TRUE(harness_->Nas()->GetParetoFront(&ctx, req, &front).ok());
    ASSERT_EQ(front.members_size(), 1) << profile;
    EXPECT_DOUBLE_EQ(front.members(0).objective_values(0), accuracy) << profile;
    EXPECT_EQ(front.members(0).profile_metrics().accuracy_kind(), kind);
  }
}

TEST_F(ModelFormatsTest, AReportedInt8AccuracyOutsideZeroToOneIsRefused) {
  TestWorker worker(harness_.get());
  const nas::v1::LeaseWorkResponse lease = LeaseOne(worker);
  nas::v1::CandidateMetrics metrics = TestWorker::MetricsFor(lease);
  metrics.set_int8_val_accuracy(1.5);
  ExpectError(worker.Report(lease.lease_id(), metrics), grpc::StatusCode::INVALID_ARGUMENT,
              "metrics.int8_val_accuracy");
  metrics.set_int8_val_accuracy(0.5);
  metrics.set_int8_model_bytes(-4);
  ExpectError(worker.Report(lease.lease_id(), metrics), grpc::StatusCode::INVALID_ARGUMENT,
              "metrics.int8_model_bytes");
}

}  // namespace
}  // namespace nas
