#include "trainer/dataset.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "absl/strings/str_cat.h"
#include "search/status_macros.h"

namespace nas {
namespace {

// Reads a whole file, gunzipping it when it is gzip-compressed (zlib reads plain files as-is).
absl::StatusOr<std::string> ReadMaybeGzip(const std::string& dir, const std::string& base,
                                          std::string* used_path) {
  for (const std::string& path : {absl::StrCat(dir, "/", base, ".gz"), absl::StrCat(dir, "/", base)}) {
    gzFile f = gzopen(path.c_str(), "rb");
    if (f == nullptr) continue;
    *used_path = path;
    std::string data;
    char buf[1 << 16];
    int n;
    while ((n = gzread(f, buf, sizeof(buf))) > 0) data.append(buf, n);
    int err = 0;
    const char* msg = gzerror(f, &err);
    gzclose(f);
    if (n < 0 || err < 0) {
      return absl::DataLossError(absl::StrCat(path, ": cannot decompress: ", msg));
    }
    return data;
  }
  return absl::NotFoundError(
      absl::StrCat(dir, "/", base, "(.gz): no such file (install dataset-fashion-mnist, or name "
                               "a directory with IDX files)"));
}

uint32_t BigEndian32(const std::string& s, size_t offset) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data()) + offset;
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// Parses an IDX file of unsigned bytes with `dims` dimensions; returns the dimension sizes.
absl::StatusOr<std::vector<uint32_t>> ParseIdx(const std::string& data, const std::string& path,
                                               int dims) {
  if (data.size() < 4 + 4u * dims) {
    return absl::DataLossError(absl::StrCat(path, ": truncated IDX header"));
  }
  const uint32_t magic = BigEndian32(data, 0);
  if (magic != (0x0800u | static_cast<uint32_t>(dims))) {
    return absl::DataLossError(absl::StrCat(path, ": not an IDX file of ", dims,
                                            "-dimensional unsigned bytes (magic ", magic, ")"));
  }
  std::vector<uint32_t> shape;
  uint64_t total = 1;
  for (int i = 0; i < dims; ++i) {
    shape.push_back(BigEndian32(data, 4 + 4 * i));
    total *= shape.back();
  }
  if (data.size() != 4 + 4u * dims + total) {
    return absl::DataLossError(absl::StrCat(path, ": expected ", 4 + 4u * dims + total,
                                            " bytes, found ", data.size()));
  }
  return shape;
}

absl::StatusOr<ImageSet> LoadSplit(const std::string& dir, const std::string& prefix, int* height,
                                   int* width) {
  std::string images_path, labels_path;
  NAS_ASSIGN_OR_RETURN(std::string images,
                       ReadMaybeGzip(dir, prefix + "-images-idx3-ubyte", &images_path));
  NAS_ASSIGN_OR_RETURN(std::string labels,
                       ReadMaybeGzip(dir, prefix + "-labels-idx1-ubyte", &labels_path));
  NAS_ASSIGN_OR_RETURN(std::vector<uint32_t> ishape, ParseIdx(images, images_path, 3));
  NAS_ASSIGN_OR_RETURN(std::vector<uint32_t> lshape, ParseIdx(labels, labels_path, 1));
  if (ishape[0] != lshape[0]) {
    return absl::DataLossError(absl::StrCat(images_path, " has ", ishape[0], " images but ",
                                            labels_path, " has ", lshape[0], " labels"));
  }
  ImageSet set;
  set.count = ishape[0];
  *height = static_cast<int>(ishape[1]);
  *width = static_cast<int>(ishape[2]);
  set.pixels.assign(images.begin() + 16, images.end());
  set.labels.reserve(set.count);
  for (size_t i = 8; i < labels.size(); ++i) {
    set.labels.push_back(static_cast<unsigned char>(labels[i]));
  }
  return set;
}

}  // namespace

std::vector<std::string> FashionMnistClasses() {
  return {"t-shirt/top", "trouser", "pullover", "dress", "coat",
          "sandal",      "shirt",   "sneaker",  "bag",   "ankle boot"};
}

absl::StatusOr<ImageDataset> LoadIdxDataset(const std::string& dir) {
  ImageDataset d;
  d.name = dir;
  d.channels = 1;
  int th = 0, tw = 0;
  NAS_ASSIGN_OR_RETURN(d.train, LoadSplit(dir, "train", &d.height, &d.width));
  NAS_ASSIGN_OR_RETURN(d.test, LoadSplit(dir, "t10k", &th, &tw));
  if (th != d.height || tw != d.width) {
    return absl::DataLossError(absl::StrCat(dir, ": test images are ", th, "x", tw,
                                            ", training images ", d.height, "x", d.width));
  }
  int64_t max_label = 0;
  for (int64_t l : d.train.labels) max_label = std::max(max_label, l);
  d.classes = max_label == 9 ? FashionMnistClasses() : std::vector<std::string>();
  if (d.classes.empty()) {
    for (int64_t c = 0; c <= max_label; ++c) d.classes.push_back(absl::StrCat(c));
  }
  double sum = 0, sum_sq = 0;
  for (uint8_t p : d.train.pixels) {
    const double v = p / 255.0;
    sum += v;
    sum_sq += v * v;
  }
  const double n = static_cast<double>(d.train.pixels.size());
  d.mean = {static_cast<float>(sum / n)};
  d.stddev = {static_cast<float>(std::sqrt(sum_sq / n - (sum / n) * (sum / n)))};
  return d;
}

DatasetSplit SplitTrainValidation(const ImageDataset& data, int64_t validation, uint64_t seed) {
  std::vector<int64_t> order(data.train.count);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  validation = std::min(validation, data.train.count);
  DatasetSplit split;
  split.validation.assign(order.begin(), order.begin() + validation);
  split.train.assign(order.begin() + validation, order.end());
  return split;
}

}  // namespace nas
