#include "trainer/export.h"

#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace nas {
namespace {

// Writes TorchScript for a network, registering folded weights as parameters p0, p1, ...
class ScriptWriter {
 public:
  explicit ScriptWriter(torch::jit::Module* module) : module_(module) {}

  std::string Param(const torch::Tensor& t) {
    const std::string name = absl::StrCat("p", next_++);
    module_->register_parameter(name, t.detach().clone().contiguous(), /*is_buffer=*/false);
    return absl::StrCat("self.", name);
  }

  // Emits `out = act(conv(in))` with the batch norm folded into the convolution.
  void ConvBn(const ConvBnImpl& m, const std::string& in, const std::string& out) {
    const torch::nn::BatchNorm2dImpl& bn = *m.bn;
    const torch::Tensor scale = bn.weight / torch::sqrt(bn.running_var + bn.options.eps());
    const torch::Tensor weight = m.conv->weight * scale.view({-1, 1, 1, 1});
    const torch::Tensor bias = bn.bias - bn.running_mean * scale;
    const auto& o = m.conv->options;
    const int64_t stride = (*o.stride())[0];
    const int64_t padding = (*o.kernel_size())[0] / 2;  // As the builder pads: "same".
    Line(absl::StrFormat("%s = torch.conv2d(%s, %s, %s, [%d, %d], [%d, %d], [1, 1], %d)", out, in,
                         Param(weight), Param(bias), stride, stride, padding, padding, o.groups()));
    Activate(m.activation, out);
  }

  void Conv(const torch::nn::Conv2dImpl& c, const std::string& in, const std::string& out) {
    Line(absl::StrFormat("%s = torch.conv2d(%s, %s, %s, [1, 1], [0, 0], [1, 1], 1)", out, in,
                         Param(c.weight), Param(c.bias)));
  }

  void Activate(Activation a, const std::string& x) {
    if (a == Activation::kReLU) Line(absl::StrCat(x, " = torch.relu(", x, ")"));
    if (a == Activation::kReLU6) Line(absl::StrCat(x, " = torch.clamp(", x, ", 0.0, 6.0)"));
  }

  void Line(const std::string& s) { absl::StrAppend(&code_, "    ", s, "\n"); }
  const std::string& code() const { return code_; }

 private:
  torch::jit::Module* module_;
  int next_ = 0;
  std::string code_;
};

}  // namespace

absl::StatusOr<torch::jit::Module> ExportModule(Network& net) {
  try {
    torch::NoGradGuard no_grad;
    torch::jit::Module module("NasModel");
    ScriptWriter w(&module);
    const nas::v1::Architecture& arch = net->architecture();
    const NetworkOptions& o = net->options();
    w.Line(absl::StrCat("x = (x - ", w.Param(net->mean), ") / ", w.Param(net->stddev)));
    if (arch.resolution() != o.input_height || arch.resolution() != o.input_width) {
      w.Line(absl::StrFormat("x = torch.upsample_bilinear2d(x, [%d, %d], False, None, None)",
                             arch.resolution(), arch.resolution()));
    }
    w.ConvBn(*net->stem, "x", "x");
    for (const auto& any : *net->blocks) {
      const BlockImpl& block = *any.get<Block>();
      w.Line("r = x");
      for (const auto& layer : *block.layers) {
        if (const auto* cb = layer.ptr()->as<ConvBnImpl>()) {
          w.ConvBn(*cb, "x", "x");
        } else if (const auto* se = layer.ptr()->as<SqueezeExciteImpl>()) {
          w.Line("s = torch.mean(x, [2, 3], True)");
          w.Conv(*se->reduce, "s", "s");
          w.Line("s = torch.relu(s)");
          w.Conv(*se->expand, "s", "s");
          w.Line("x = x * (torch.clamp(s + 3.0, 0.0, 6.0) / 6.0)");
        } else {
          return absl::InternalError("export: a block holds a layer it does not know");
        }
      }
      if (block.residual) {
        if (block.shortcut) {
          w.ConvBn(*block.shortcut, "r", "r");
        }
        w.Line("x = x + r");
        if (block.relu_after_sum) w.Line("x = torch.relu(x)");
      }
    }
    if (net->head) w.ConvBn(*net->head, "x", "x");
    w.Line("x = torch.mean(x, [2, 3], False)");
    w.Line(absl::StrCat("x = torch.addmm(", w.Param(net->classifier->bias), ", x, ",
                        w.Param(net->classifier->weight.t()), ")"));
    w.Line("return x");
    module.define(absl::StrCat("def forward(self, x):\n", w.code()));
    module.eval();
    return module;
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("export: ", e.what_without_backtrace()));
  }
}

absl::StatusOr<std::string> ExportTorchScript(Network& net) {
  absl::StatusOr<torch::jit::Module> module = ExportModule(net);
  if (!module.ok()) return module.status();
  try {
    std::ostringstream out;
    module->save(out);
    return out.str();
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("export: ", e.what_without_backtrace()));
  }
}

}  // namespace nas
