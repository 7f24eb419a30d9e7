#include "trainer/deploy_graph.h"

namespace nas {
namespace {

namespace F = torch::nn::functional;

FoldedConv Fold(const ConvBnImpl& m) {
  const torch::nn::BatchNorm2dImpl& bn = *m.bn;
  const torch::Tensor scale = bn.weight / torch::sqrt(bn.running_var + bn.options.eps());
  FoldedConv c;
  c.weight = (m.conv->weight * scale.view({-1, 1, 1, 1})).detach().contiguous().clone();
  c.bias = (bn.bias - bn.running_mean * scale).detach().contiguous().clone();
  c.stride = static_cast<int>((*m.conv->options.stride())[0]);
  c.groups = static_cast<int>(m.conv->options.groups());
  c.activation = m.activation;
  return c;
}

FoldedConv Plain(const torch::nn::Conv2dImpl& conv, Activation act) {
  FoldedConv c;
  c.weight = conv.weight.detach().contiguous().clone();
  c.bias = conv.bias.detach().contiguous().clone();
  c.activation = act;
  return c;
}

// Counts what WalkGraph() numbers.
struct Counter {
  using Value = int;
  int Normalize(int x, const torch::Tensor&, const torch::Tensor&) { return x; }
  int Resize(int x, int) { return x; }
  int Quantize(int x, int site) {
    count.sites = std::max(count.sites, site + 1);
    return x;
  }
  int Conv(int x, const FoldedConv&, int conv, int) {
    count.convs = std::max(count.convs, conv + 1);
    return x;
  }
  int Add(int x, int) { return x; }
  int Relu(int x) { return x; }
  int Pool(int x) { return x; }
  int Gate(int x, int) { return x; }
  int Classify(int x, const torch::Tensor&, const torch::Tensor&, int conv, int) {
    count.convs = std::max(count.convs, conv + 1);
    return x;
  }
  SiteCount count;
};

}  // namespace

DeployGraph FoldNetwork(Network& net) {
  torch::NoGradGuard no_grad;
  SetMemoryFormat(*net, torch::MemoryFormat::Contiguous);
  DeployGraph g;
  const NetworkOptions& o = net->options();
  g.channels = o.in_channels;
  g.height = o.input_height;
  g.width = o.input_width;
  g.mean = net->mean.detach().clone();
  g.stddev = net->stddev.detach().clone();
  g.resolution = net->architecture().resolution();
  g.steps.push_back({StepKind::kConv, Fold(*net->stem), {}, false});
  for (const auto& any : *net->blocks) {
    const BlockImpl& block = *any.get<Block>();
    if (block.residual) g.steps.push_back({StepKind::kSaveResidual, {}, {}, false});
    for (const auto& layer : *block.layers) {
      if (const auto* cb = layer.ptr()->as<ConvBnImpl>()) {
        g.steps.push_back({StepKind::kConv, Fold(*cb), {}, false});
      } else if (const auto* se = layer.ptr()->as<SqueezeExciteImpl>()) {
        g.steps.push_back({StepKind::kSqueezeExcite, Plain(*se->reduce, Activation::kReLU),
                           Plain(*se->expand, Activation::kNone), false});
      }
    }
    if (block.residual) {
      if (block.shortcut)
        g.steps.push_back({StepKind::kShortcut, Fold(*block.shortcut), {}, false});
      g.steps.push_back({StepKind::kAddResidual, {}, {}, block.relu_after_sum});
    }
  }
  if (net->head) g.steps.push_back({StepKind::kConv, Fold(*net->head), {}, false});
  g.classifier_weight = net->classifier->weight.detach().contiguous().clone();
  g.classifier_bias = net->classifier->bias.detach().contiguous().clone();
  return g;
}

torch::Tensor TorchOps::Normalize(torch::Tensor x, const torch::Tensor& mean,
                                  const torch::Tensor& stddev) {
  return (x - mean) / stddev;
}

torch::Tensor TorchOps::Resize(torch::Tensor x, int resolution) {
  return F::interpolate(x, F::InterpolateFuncOptions()
                               .size(std::vector<int64_t>{resolution, resolution})
                               .mode(torch::kBilinear)
                               .align_corners(false));
}

torch::Tensor TorchOps::Conv(torch::Tensor x, const FoldedConv& c, int conv, int input_site) {
  auto [w, b] = Weights(c.weight, c.bias, conv, input_site);
  const int64_t pad = c.kernel() / 2;
  return Activate(torch::conv2d(x, w, b, c.stride, pad, 1, c.groups), c.activation);
}

torch::Tensor TorchOps::Classify(torch::Tensor x, const torch::Tensor& w, const torch::Tensor& b,
                                 int conv, int input_site) {
  auto [qw, qb] = Weights(w, b, conv, input_site);
  return torch::addmm(qb, x.flatten(1), qw.t());
}

torch::Tensor RunFloat(const DeployGraph& g, const torch::Tensor& images) {
  TorchOps ops;
  return WalkGraph(g, ops, images);
}

SiteCount CountSites(const DeployGraph& g) {
  Counter c;
  WalkGraph(g, c, 0);
  return c.count;
}

}  // namespace nas
