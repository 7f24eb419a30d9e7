#include "search/cost_model.h"

#include <algorithm>

#include "common/dataset_name.h"
#include "search/search_space.h"

namespace nas {
namespace {

// Output size of a convolution padded by kernel / 2.
int OutSize(int in, int kernel, int stride) {
  return (in + 2 * (kernel / 2) - kernel) / stride + 1;
}

// Walks the layers of one inference, adding up parameters and MACs and tracking the largest
// set of activations (in elements) alive at once.
class Walk {
 public:
  explicit Walk(int64_t input_elements) { Observe(input_elements, 0); }

  // A layer reading `in` elements and writing `out` while `held` more stay alive (a
  // residual's input), with `macs` multiply-accumulates and `params` parameters.
  void Layer(int64_t in, int64_t out, int64_t macs, int64_t params, int64_t held = 0) {
    cost_.macs += macs;
    cost_.params += params;
    cost_.layer_output_elements += out;
    Observe(in + held, out);
  }

  // The int8 deploy graph (trainer/deploy_graph.h, written by trainer/onnx_export.h): a
  // convolution (or the classifier) with `weights` int8 weights and `out` output channels, and
  // an activation quantized `sites` times.
  void Int8Conv(int64_t weights, int64_t out) {
    int8_bytes_ += weights + out * kInt8BytesPerChannel + kInt8BytesPerConv;
  }
  void Int8Sites(int sites) { int8_bytes_ += sites * kInt8BytesPerSite; }

  ArchitectureCost Finish() {
    cost_.peak_activation_bytes = peak_elements_ * 4;
    cost_.model_bytes_fp32 = cost_.params * 4;
    cost_.model_bytes_int8 = int8_bytes_ + kInt8BytesFixed;
    return cost_;
  }

 private:
  void Observe(int64_t a, int64_t b) { peak_elements_ = std::max(peak_elements_, a + b); }
  // Per output channel: the weight scale (float), the int32 bias and its scale (float).
  static constexpr int64_t kInt8BytesPerChannel = 12;
  // Fitted (least squares) to 16 exported files of both spaces, within 1.1% of each;
  // trainer/quantize_test.cc checks the estimate within 10% on others: the nodes, names and
  // tensor headers of a convolution with its dequantizers and activation, of a QuantizeLinear /
  // DequantizeLinear pair with its scale and zero point (the sums and gates between them
  // included), and of the rest (input, output, normalisation, resize, metadata), which the fit
  // puts at about nothing.
  static constexpr int64_t kInt8BytesPerConv = 370;
  static constexpr int64_t kInt8BytesPerSite = 165;
  static constexpr int64_t kInt8BytesFixed = 0;

  ArchitectureCost cost_;
  int64_t peak_elements_ = 0;
  int64_t int8_bytes_ = 0;
};

// Parameters of a bias-free k x k convolution from `in` to `out` channels in `groups` groups,
// followed by batch norm (scale and shift).
int64_t ConvBnParams(int64_t in, int64_t out, int kernel, int64_t groups = 1) {
  return out * (in / groups) * kernel * kernel + 2 * out;
}

}  // namespace

double MacsPerOutputElement(const ArchitectureCost& cost) {
  return cost.layer_output_elements > 0
             ? static_cast<double>(cost.macs) / static_cast<double>(cost.layer_output_elements)
             : 0;
}

ArchitectureCost EstimateCost(const nas::v1::Architecture& arch, const InputShape& input) {
  const int64_t c = input.channels;
  const int64_t image = c * input.height * input.width;
  int r = arch.resolution();
  Walk walk(image);
  if (r != input.height || r != input.width) walk.Layer(image, c * r * r, 0, 0);  // resize
  // The stem: 3x3, stride 1.
  const int64_t stem = int64_t{arch.stem_width()} * r * r;
  walk.Layer(c * r * r, stem, stem * c * 9, ConvBnParams(c, arch.stem_width(), 3));
  walk.Int8Sites(2);  // the resized input, the stem's output
  walk.Int8Conv(c * arch.stem_width() * 9, arch.stem_width());
  int64_t in = arch.stem_width();
  // A k x k convolution with batch norm from `from` to `to` channels at stride `stride` and
  // `groups` groups, reading `x` elements at resolution `r` while `held` more stay alive.
  auto conv = [&walk](int64_t x, int64_t from, int64_t to, int kernel, int res_out, int64_t groups,
                      int64_t held) {
    const int64_t y = to * res_out * res_out;
    walk.Layer(x, y, y * (from / groups) * kernel * kernel, ConvBnParams(from, to, kernel, groups),
               held);
    walk.Int8Conv(to * (from / groups) * kernel * kernel, to);
    walk.Int8Sites(1);
    return y;
  };
  for (int s = 0; s < arch.stages_size(); ++s) {
    const nas::v1::Stage& stage = arch.stages(s);
    const int64_t out = stage.width();
    for (int b = 0; b < stage.blocks_size(); ++b) {
      const nas::v1::Block& blk = stage.blocks(b);
      const nas::v1::BlockType type = BlockTypeOf(arch, blk);
      const int stride = b == 0 ? StageStride(arch, s) : 1;
      const int kernel = BlockKernel(type, blk);
      const int r_out = OutSize(r, kernel, stride);
      const int64_t x_in = in * r * r;
      const int64_t o = out * r_out * r_out;
      const bool projected = stride != 1 || in != out;
      switch (type) {
        case nas::v1::BASIC_RESIDUAL: {
          // conv-bn-relu, conv-bn, plus the input (projected by a 1x1 convolution when the
          // shape changes); the input stays alive throughout.
          conv(x_in, in, out, kernel, r_out, 1, 0);
          conv(o, out, out, kernel, r_out, 1, x_in);
          if (projected) conv(x_in, in, out, 1, r_out, 1, o);
          walk.Int8Sites(1);  // the sum
          break;
        }
        case nas::v1::BOTTLENECK_RESIDUAL: {
          const int64_t mid = BottleneckChannels(static_cast<int>(out));
          const int64_t m1 = conv(x_in, in, mid, 1, r, 1, 0);
          const int64_t m2 = conv(m1, mid, mid, kernel, r_out, 1, x_in);
          conv(m2, mid, out, 1, r_out, 1, x_in);
          if (projected) conv(x_in, in, out, 1, r_out, 1, o);
          walk.Int8Sites(1);  // the sum
          break;
        }
        case nas::v1::CONV:
          conv(x_in, in, out, kernel, r_out, 1, 0);
          break;
        case nas::v1::DEPTHWISE_SEPARABLE: {
          const int64_t dw = conv(x_in, in, in, kernel, r_out, in, 0);
          conv(dw, in, out, 1, r_out, 1, 0);
          break;
        }
        default: {
          // Inverted residual: 1x1 expansion (absent at expansion 1), k x k depthwise,
          // optional squeeze-excite, 1x1 projection; the input stays alive when it is added.
          const int64_t hidden = in * blk.expansion();
          const bool residual = stride == 1 && in == out;
          const int64_t held = residual ? x_in : 0;
          int64_t cur = x_in;
          if (blk.expansion() != 1) cur = conv(cur, in, hidden, 1, r, 1, 0);  // reads the input
          cur = conv(cur, hidden, hidden, kernel, r_out, hidden, blk.expansion() != 1 ? held : 0);
          if (blk.squeeze_excite()) {
            // Two 1x1 convolutions with biases on the pooled vector, then the gating product.
            const int64_t reduced = std::max<int64_t>(8, hidden / 4);
            walk.Layer(cur, cur, hidden * reduced * 2 + cur,
                       hidden * reduced + reduced + reduced * hidden + hidden, held);
            walk.Int8Conv(hidden * reduced, reduced);
            walk.Int8Conv(reduced * hidden, hidden);
            walk.Int8Sites(3);  // the pooled vector, the reduced one, the gated output
          }
          conv(cur, hidden, out, 1, r_out, 1, held);
          if (residual) walk.Int8Sites(1);  // the sum
          break;
        }
      }
      in = out;
      r = r_out;
    }
  }
  if (arch.head_width() > 0) {
    conv(in * r * r, in, arch.head_width(), 1, r, 1, 0);
    in = arch.head_width();
  }
  // Global average pooling, then the classifier (with bias).
  walk.Layer(in * r * r, in, 0, 0);
  walk.Layer(in, input.classes, in * input.classes, in * input.classes + input.classes);
  walk.Int8Sites(1);
  walk.Int8Conv(in * input.classes, input.classes);
  return walk.Finish();
}

int BottleneckChannels(int width) { return std::max(8, width / 4); }

InputShape FashionMnistInput() { return InputShape{}; }

InputShape InputShapeFor(absl::string_view dataset) {
  if (dataset == kDefaultDataset) return FashionMnistInput();
  InputShape smallest;
  smallest.channels = 1;
  smallest.height = 1;
  smallest.width = 1;
  smallest.classes = 2;
  return smallest;
}

}  // namespace nas
