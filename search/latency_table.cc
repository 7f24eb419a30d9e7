#include "search/latency_table.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace nas {
namespace {

// Output size of a convolution padded by kernel / 2 (odd kernels: independent of the kernel).
int OutSize(int in, int kernel, int stride) {
  return (in + 2 * (kernel / 2) - kernel) / stride + 1;
}

LatencyOp Input(const InputShape& input, int resolution) {
  LatencyOp op;
  op.kind = LatencyOp::Kind::kInput;
  op.in = input.channels;
  op.input_height = input.height;
  op.input_width = input.width;
  op.resolution = resolution;
  return op;
}

LatencyOp Stem(bool relu, int channels, int width, int resolution) {
  LatencyOp op;
  op.kind = LatencyOp::Kind::kStem;
  op.relu = relu;
  op.in = channels;
  op.out = width;
  op.kernel = 3;
  op.resolution = resolution;
  return op;
}

LatencyOp Block(nas::v1::BlockType type, int in, int out, int kernel, int expansion, bool se,
                int stride, int resolution) {
  LatencyOp op;
  op.kind = LatencyOp::Kind::kBlock;
  op.type = type;
  op.in = in;
  op.out = out;
  op.kernel = kernel;
  const bool ir = type == nas::v1::INVERTED_RESIDUAL;
  op.expansion = ir ? expansion : 1;
  op.squeeze_excite = ir && se;
  op.stride = stride;
  op.resolution = resolution;
  return op;
}

LatencyOp HeadConv(int in, int out, int resolution) {
  LatencyOp op;
  op.kind = LatencyOp::Kind::kHeadConv;
  op.in = in;
  op.out = out;
  op.kernel = 1;
  op.resolution = resolution;
  return op;
}

LatencyOp Head(int in, int classes, int resolution) {
  LatencyOp op;
  op.kind = LatencyOp::Kind::kHead;
  op.in = in;
  op.out = classes;
  op.resolution = resolution;
  return op;
}

absl::Status LineError(int line, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("line ", line, ": ", what));
}

}  // namespace

std::string LatencyOp::Key() const {
  switch (kind) {
    case Kind::kInput:
      return absl::StrCat("input:c", in, ":h", input_height, ":w", input_width, ":r", resolution);
    case Kind::kStem:
      // Named by activation family as when the two built-in spaces were the only ones.
      return absl::StrCat("stem:", relu ? "resnet" : "mobilenetv2", ":c", in, ":out", out, ":r",
                          resolution);
    case Kind::kBlock: {
      const std::string shape = absl::StrCat("in", in, ":out", out, ":s", stride, ":r", resolution);
      switch (type) {
        case nas::v1::INVERTED_RESIDUAL:
          return absl::StrCat("mbconv:k", kernel, ":e", expansion, ":se", squeeze_excite ? 1 : 0,
                              ":", shape);
        case nas::v1::BASIC_RESIDUAL:
          return kernel == 3 ? absl::StrCat("basic:", shape)
                             : absl::StrCat("basic:k", kernel, ":", shape);
        case nas::v1::BOTTLENECK_RESIDUAL:
          return absl::StrCat("bottleneck:k", kernel, ":", shape);
        case nas::v1::CONV:
          return absl::StrCat("conv:k", kernel, ":", shape);
        default:
          return absl::StrCat("dwsep:k", kernel, ":", shape);
      }
    }
    case Kind::kHeadConv:
      return absl::StrCat("headconv:in", in, ":out", out, ":r", resolution);
    case Kind::kHead:
      return absl::StrCat("head:in", in, ":cls", out, ":r", resolution);
  }
  return "";
}

std::vector<LatencyOp> NetworkOperators(const nas::v1::Architecture& arch,
                                        const InputShape& input) {
  std::vector<LatencyOp> ops;
  int r = arch.resolution();
  ops.push_back(Input(input, r));
  ops.push_back(Stem(StemUsesRelu(arch), input.channels, arch.stem_width(), r));
  int in = arch.stem_width();
  for (int s = 0; s < arch.stages_size(); ++s) {
    const nas::v1::Stage& stage = arch.stages(s);
    for (int b = 0; b < stage.blocks_size(); ++b) {
      const nas::v1::Block& blk = stage.blocks(b);
      const nas::v1::BlockType type = BlockTypeOf(arch, blk);
      const int stride = b == 0 ? StageStride(arch, s) : 1;
      ops.push_back(Block(type, in, stage.width(), BlockKernel(type, blk),
                          BlockExpansion(type, blk), blk.squeeze_excite(), stride, r));
      r = OutSize(r, ops.back().kernel, stride);
      in = stage.width();
    }
  }
  if (arch.head_width() > 0) {
    ops.push_back(HeadConv(in, arch.head_width(), r));
    in = arch.head_width();
  }
  ops.push_back(Head(in, input.classes, r));
  return ops;
}

std::vector<LatencyOp> SpaceOperators(const SearchSpaceDef& space, const InputShape& input) {
  std::map<std::string, LatencyOp> ops;
  auto add = [&](const LatencyOp& op) { ops.emplace(op.Key(), op); };
  std::vector<bool> stem_relu;
  for (nas::v1::BlockType t : space.stages.front().block_types) {
    if (std::find(stem_relu.begin(), stem_relu.end(), IsResidualFamily(t)) == stem_relu.end()) {
      stem_relu.push_back(IsResidualFamily(t));
    }
  }
  for (int resolution : space.resolutions) {
    add(Input(input, resolution));
    for (int stem : space.stem_widths) {
      for (bool relu : stem_relu) add(Stem(relu, input.channels, stem, resolution));
    }
    int r = resolution;
    std::vector<int> previous = space.stem_widths;
    for (const StageDef& st : space.stages) {
      const int r_out = OutSize(r, 3, st.stride);
      for (nas::v1::BlockType type : st.block_types) {
        const bool ir = type == nas::v1::INVERTED_RESIDUAL;
        const std::vector<int> expansions = ir ? st.expansions : std::vector<int>{1};
        std::vector<bool> se_choices = {false};
        if (ir && st.allow_squeeze_excite) se_choices.push_back(true);
        for (int k : st.kernels) {
          for (int e : expansions) {
            for (bool se : se_choices) {
              for (int out : st.widths) {
                for (int in : previous) add(Block(type, in, out, k, e, se, st.stride, r));
                if (st.max_depth >= 2) add(Block(type, out, out, k, e, se, 1, r_out));
              }
            }
          }
        }
      }
      r = r_out;
      previous = st.widths;
    }
    std::vector<int> head_in;
    for (int h : space.head_widths) {
      if (h == 0) {
        head_in.insert(head_in.end(), previous.begin(), previous.end());
        continue;
      }
      head_in.push_back(h);
      for (int in : previous) add(HeadConv(in, h, r));
    }
    for (int in : head_in) add(Head(in, input.classes, r));
  }
  std::vector<LatencyOp> out;
  out.reserve(ops.size());
  for (auto& [key, op] : ops) out.push_back(std::move(op));
  return out;
}

absl::StatusOr<double> PredictLatencyMs(const nas::v1::LatencyTable& table,
                                        const nas::v1::Architecture& arch,
                                        const InputShape& input) {
  absl::flat_hash_map<std::string, double> mean;
  for (const nas::v1::LutEntry& e : table.entries()) mean[e.key()] = e.mean_ms();
  double total = table.overhead_ms();
  for (const LatencyOp& op : NetworkOperators(arch, input)) {
    const std::string key = op.Key();
    auto it = mean.find(key);
    if (it == mean.end()) {
      return absl::NotFoundError(
          absl::StrCat("latency table has no entry for operator ", key,
                       " (measured for another space, dataset or narrower choices?)"));
    }
    total += it->second;
  }
  return total;
}

std::string FormatLatencyTable(const nas::v1::LatencyTable& table) {
  std::string out = "# nas-profile latency table v1\n";
  absl::StrAppend(&out, "device ", table.device_description(), "\n");
  absl::StrAppend(&out, "threads ", table.threads(), "\n");
  absl::StrAppendFormat(&out, "overhead_ms %.9g\n", table.overhead_ms());
  for (const nas::v1::LutEntry& e : table.entries()) {
    absl::StrAppendFormat(&out, "op %s %.9g %.9g %d\n", e.key(), e.mean_ms(), e.variance_ms2(),
                          e.count());
  }
  return out;
}

absl::StatusOr<nas::v1::LatencyTable> ParseLatencyTable(absl::string_view text) {
  nas::v1::LatencyTable table;
  absl::flat_hash_map<std::string, int> seen;  // key -> line
  int number = 0;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    ++number;
    const absl::string_view line = absl::StripAsciiWhitespace(raw);
    if (line.empty() || line[0] == '#') continue;
    // Spaces or tabs separate fields.
    const std::vector<absl::string_view> f =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipWhitespace());
    if (f[0] == "device") {
      table.set_device_description(
          std::string(absl::StripAsciiWhitespace(line.substr(f[0].size()))));
    } else if (f[0] == "threads") {
      int threads = 0;
      if (f.size() != 2 || !absl::SimpleAtoi(f[1], &threads) || threads < 1) {
        return LineError(number, "expected 'threads N' with N >= 1");
      }
      table.set_threads(threads);
    } else if (f[0] == "overhead_ms") {
      double overhead = 0;
      if (f.size() != 2 || !absl::SimpleAtod(f[1], &overhead) || !std::isfinite(overhead)) {
        return LineError(number, "expected 'overhead_ms MS' with a finite number");
      }
      table.set_overhead_ms(overhead);
    } else if (f[0] == "op") {
      double mean = 0, variance = 0;
      int64_t count = 0;
      if (f.size() != 5) {
        return LineError(number, absl::StrCat("expected 'op KEY MEAN_MS VARIANCE_MS2 COUNT', got ",
                                              f.size(), " fields"));
      }
      if (!absl::SimpleAtod(f[2], &mean) || !std::isfinite(mean) || mean < 0) {
        return LineError(number, absl::StrCat("mean_ms \"", f[2], "\" is not a number >= 0"));
      }
      if (!absl::SimpleAtod(f[3], &variance) || !std::isfinite(variance) || variance < 0) {
        return LineError(number, absl::StrCat("variance_ms2 \"", f[3], "\" is not a number >= 0"));
      }
      if (!absl::SimpleAtoi(f[4], &count) || count < 1) {
        return LineError(number, absl::StrCat("count \"", f[4], "\" is not an integer >= 1"));
      }
      const std::string key(f[1]);
      auto [it, inserted] = seen.emplace(key, number);
      if (!inserted) {
        return LineError(number,
                         absl::StrCat("duplicate key ", key, " (first on line ", it->second, ")"));
      }
      nas::v1::LutEntry* e = table.add_entries();
      e->set_key(key);
      e->set_mean_ms(mean);
      e->set_variance_ms2(variance);
      e->set_count(count);
    } else {
      return LineError(number, absl::StrCat("unknown field \"", f[0],
                                            "\" (expected device, threads, overhead_ms or op)"));
    }
  }
  if (table.entries_size() == 0) {
    return absl::InvalidArgumentError("latency table: no 'op' lines");
  }
  return table;
}

}  // namespace nas
