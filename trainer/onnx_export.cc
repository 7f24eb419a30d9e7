#include "trainer/onnx_export.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/onnx_check.h"
#include "onnx/onnx_pb.h"

namespace nas {
namespace {

using onnx::AttributeProto;
using onnx::NodeProto;
using onnx::TensorProto;

// The ONNX graph under construction; WalkGraph() drives it.
class OnnxOps {
 public:
  using Value = std::string;

  OnnxOps(onnx::GraphProto* graph, const Int8Model* q) : graph_(graph), q_(q) {}

  std::string Normalize(const std::string& x, const torch::Tensor& mean,
                        const torch::Tensor& stddev) {
    const std::string centred = Node("Sub", {x, Float("mean", mean)});
    return Node("Div", {centred, Float("stddev", stddev)});
  }

  std::string Resize(const std::string& x, int resolution) {
    // Output size is floor(input x scale): nudge the scale up until it reaches the resolution
    // (20 / 28 in float32 times 28 is 19.9999...).
    auto scale = [&](int input) {
      float s = static_cast<float>(resolution) / static_cast<float>(input);
      while (std::floor(static_cast<float>(input) * s) < resolution) {
        s = std::nextafter(s, 2.0f * s + 1.0f);
      }
      return s;
    };
    const torch::Tensor scales = torch::tensor({1.0f, 1.0f, scale(height_), scale(width_)});
    NodeProto* n = AddNode("Resize", {x, "", Float("resize_scales", scales)});
    Str(n, "mode", "linear");
    Str(n, "coordinate_transformation_mode", "half_pixel");
    return n->output(0);
  }

  std::string Quantize(const std::string& x, int site) {
    if (q_ == nullptr) return x;
    const ActivationQuant& a = q_->activations[site];
    const std::string scale = Float(absl::StrCat("act", site, "_scale"), torch::tensor(a.scale));
    const std::string zero =
        Tensor(absl::StrCat("act", site, "_zero_point"),
               torch::tensor({a.zero_point}, torch::kInt8).view({}), TensorProto::INT8);
    const std::string quantized = Node("QuantizeLinear", {x, scale, zero});
    return Node("DequantizeLinear", {quantized, scale, zero});
  }

  std::string Conv(const std::string& x, const FoldedConv& c, int conv, int) {
    auto [w, b] = Weights(c.weight, c.bias, conv);
    NodeProto* n = AddNode("Conv", {x, w, b});
    const int k = c.kernel();
    Ints(n, "kernel_shape", {k, k});
    Ints(n, "strides", {c.stride, c.stride});
    Ints(n, "pads", {k / 2, k / 2, k / 2, k / 2});
    Ints(n, "dilations", {1, 1});
    Int(n, "group", c.groups);
    switch (c.activation) {
      case Activation::kReLU:
        return Relu(n->output(0));
      case Activation::kReLU6:
        return Node("Clip", {n->output(0), Float("zero", torch::tensor(0.0f)),
                             Float("six", torch::tensor(6.0f))});
      case Activation::kNone:
        break;
    }
    return n->output(0);
  }

  std::string Add(const std::string& x, const std::string& r) { return Node("Add", {x, r}); }
  std::string Relu(const std::string& x) { return Node("Relu", {x}); }
  std::string Pool(const std::string& x) { return Node("GlobalAveragePool", {x}); }

  std::string Gate(const std::string& x, const std::string& s) {
    // torch's hardsigmoid: relu6(s + 3) / 6 = clip(s / 6 + 1/2, 0, 1).
    NodeProto* n = AddNode("HardSigmoid", {s});
    FloatAttr(n, "alpha", 1.0f / 6.0f);
    FloatAttr(n, "beta", 0.5f);
    return Node("Mul", {x, n->output(0)});
  }

  std::string Classify(const std::string& x, const torch::Tensor& w, const torch::Tensor& b,
                       int conv, int) {
    NodeProto* flat = AddNode("Flatten", {x});
    Int(flat, "axis", 1);
    auto [qw, qb] = Weights(w, b, conv);
    NodeProto* n = AddNode("Gemm", {flat->output(0), qw, qb}, "logits");
    Int(n, "transB", 1);
    return n->output(0);
  }

  void set_input_size(int height, int width) {
    height_ = height;
    width_ = width;
  }

 private:
  // The weight and bias inputs of convolution `conv`: fp32 initializers, or int8 / int32
  // initializers through per-channel DequantizeLinear.
  std::pair<std::string, std::string> Weights(const torch::Tensor& w, const torch::Tensor& b,
                                              int conv) {
    const std::string name = absl::StrCat("w", conv);
    if (q_ == nullptr) {
      return {Float(name, w), Float(absl::StrCat("b", conv), b)};
    }
    const WeightQuant& wq = q_->weights[conv];
    NodeProto* dw = AddNode("DequantizeLinear", {Tensor(name, wq.weight, TensorProto::INT8),
                                                 Float(name + "_scale", wq.scale)});
    Int(dw, "axis", 0);
    const std::string bias = absl::StrCat("b", conv);
    NodeProto* db = AddNode("DequantizeLinear", {Tensor(bias, wq.bias, TensorProto::INT32),
                                                 Float(bias + "_scale", wq.bias_scale)});
    Int(db, "axis", 0);
    return {dw->output(0), db->output(0)};
  }

  std::string Float(const std::string& name, const torch::Tensor& t) {
    return Tensor(name, t.to(torch::kFloat32), TensorProto::FLOAT);
  }

  // Adds an initializer once per name (shared constants such as "six" are written once).
  std::string Tensor(const std::string& name, const torch::Tensor& t, TensorProto::DataType type) {
    if (!initializers_.insert(name).second) return name;
    TensorProto* p = graph_->add_initializer();
    p->set_name(name);
    p->set_data_type(type);
    for (int64_t d : t.sizes()) p->add_dims(d);
    const torch::Tensor c = t.contiguous();
    p->set_raw_data(std::string(static_cast<const char*>(c.data_ptr()), c.nbytes()));
    return name;
  }

  NodeProto* AddNode(const std::string& op, const std::vector<std::string>& inputs,
                     const std::string& output = "") {
    NodeProto* n = graph_->add_node();
    n->set_op_type(op);
    for (const std::string& i : inputs) n->add_input(i);
    n->add_output(output.empty() ? absl::StrCat("t", next_++) : output);
    return n;
  }
  std::string Node(const std::string& op, const std::vector<std::string>& inputs) {
    return AddNode(op, inputs)->output(0);
  }

  static AttributeProto* Attr(NodeProto* n, const std::string& name,
                              AttributeProto::AttributeType t) {
    AttributeProto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(t);
    return a;
  }
  static void Ints(NodeProto* n, const std::string& name, std::initializer_list<int64_t> v) {
    AttributeProto* a = Attr(n, name, AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }
  static void Int(NodeProto* n, const std::string& name, int64_t v) {
    Attr(n, name, AttributeProto::INT)->set_i(v);
  }
  static void FloatAttr(NodeProto* n, const std::string& name, float v) {
    Attr(n, name, AttributeProto::FLOAT)->set_f(v);
  }
  static void Str(NodeProto* n, const std::string& name, const std::string& v) {
    Attr(n, name, AttributeProto::STRING)->set_s(v);
  }

  onnx::GraphProto* graph_;
  const Int8Model* q_;
  std::set<std::string> initializers_;
  int next_ = 0;
  int height_ = 0;
  int width_ = 0;
};

void SetTensorType(onnx::ValueInfoProto* v, const std::string& name,
                   std::initializer_list<int64_t> dims) {
  v->set_name(name);
  onnx::TypeProto::Tensor* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(TensorProto::FLOAT);
  for (int64_t d : dims) {
    if (d < 0) {
      t->mutable_shape()->add_dim()->set_dim_param("N");
    } else {
      t->mutable_shape()->add_dim()->set_dim_value(d);
    }
  }
}

}  // namespace

absl::StatusOr<std::string> ExportOnnx(
    const DeployGraph& g, const Int8Model* q,
    const std::vector<std::pair<std::string, std::string>>& properties) {
  onnx::ModelProto model;
  model.set_ir_version(7);
  model.set_producer_name("nas-trainer");
  model.set_producer_version("1");
  model.set_doc_string(q == nullptr ? "fp32"
                                    : "int8 QDQ: per-channel symmetric int8 weights, "
                                      "per-tensor asymmetric int8 activations");
  onnx::OperatorSetIdProto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(13);
  for (const auto& [key, value] : properties) {
    onnx::StringStringEntryProto* p = model.add_metadata_props();
    p->set_key(key);
    p->set_value(value);
  }
  onnx::GraphProto* graph = model.mutable_graph();
  graph->set_name(q == nullptr ? "nas_fp32" : "nas_int8");
  SetTensorType(graph->add_input(), "images", {-1, g.channels, g.height, g.width});
  SetTensorType(graph->add_output(), "logits", {-1, g.classes()});
  try {
    torch::NoGradGuard no_grad;
    OnnxOps ops(graph, q);
    ops.set_input_size(g.height, g.width);
    WalkGraph(g, ops, std::string("images"));
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("onnx export: ", e.what_without_backtrace()));
  }
  std::string bytes;
  if (!model.SerializeToString(&bytes)) return absl::InternalError("onnx export: serialization");
  if (absl::Status st = CheckOnnxModel(bytes, q == nullptr ? "onnx-fp32" : "onnx-int8"); !st.ok()) {
    return absl::InternalError(absl::StrCat("onnx export wrote an invalid model: ", st.message()));
  }
  return bytes;
}

}  // namespace nas
