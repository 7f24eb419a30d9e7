#include "trainer/dataset.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numeric>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/dataset_name.h"
#include "common/status_macros.h"

namespace nas {
namespace {

// Reads a whole file, gunzipping it when it is gzip-compressed (zlib reads plain files as-is).
absl::StatusOr<std::string> ReadMaybeGzip(const std::string& dir, const std::string& base,
                                          std::string* used_path) {
  for (const std::string& path :
       {absl::StrCat(dir, "/", base, ".gz"), absl::StrCat(dir, "/", base)}) {
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
  return absl::NotFoundError(absl::StrCat(dir, "/", base, "(.gz): no such file"));
}

// One class name a line; empty when the file does not exist.
std::vector<std::string> ReadClassNames(const std::string& path) {
  std::vector<std::string> names;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    line = std::string(absl::StripAsciiWhitespace(line));
    if (!line.empty()) names.push_back(line);
  }
  return names;
}

// Checks the labels against the class names (numbering the classes when there are no names)
// and computes the per-channel statistics of the training pixels.
absl::Status Finish(ImageDataset& d, const std::string& names_path) {
  int64_t max_label = 0;
  for (const ImageSet* set : {&d.train, &d.test}) {
    for (int64_t l : set->labels) max_label = std::max(max_label, l);
  }
  if (d.classes.empty()) {
    for (int64_t c = 0; c <= max_label; ++c) d.classes.push_back(absl::StrCat(c));
  } else if (max_label >= static_cast<int64_t>(d.classes.size())) {
    return absl::DataLossError(absl::StrCat(names_path, " names ", d.classes.size(),
                                            " classes but a label is ", max_label));
  }
  const int64_t plane = int64_t{d.height} * d.width;
  for (int c = 0; c < d.channels; ++c) {
    double sum = 0, sum_sq = 0;
    for (int64_t i = 0; i < d.train.count; ++i) {
      const uint8_t* p = d.train.pixels.data() + (i * d.channels + c) * plane;
      for (int64_t j = 0; j < plane; ++j) {
        const double v = p[j] / 255.0;
        sum += v;
        sum_sq += v * v;
      }
    }
    const double n = static_cast<double>(std::max<int64_t>(1, d.train.count * plane));
    d.mean.push_back(static_cast<float>(sum / n));
    d.stddev.push_back(
        static_cast<float>(std::sqrt(std::max(1e-12, sum_sq / n - (sum / n) * (sum / n)))));
  }
  return absl::OkStatus();
}

// Appends the records of one CIFAR binary file: `label_bytes` label bytes (the last is the
// label used) then 3 x 32 x 32 pixels, channel-major.
absl::Status AppendCifarFile(const std::string& dir, const std::string& base, int label_bytes,
                             int classes, ImageSet* set) {
  std::string path;
  NAS_ASSIGN_OR_RETURN(std::string data, ReadMaybeGzip(dir, base, &path));
  constexpr size_t kPixels = 3 * 32 * 32;
  const size_t record = label_bytes + kPixels;
  if (data.empty() || data.size() % record != 0) {
    return absl::DataLossError(absl::StrCat(path, ": ", data.size(),
                                            " bytes is not a whole number of ", record,
                                            "-byte CIFAR records"));
  }
  const size_t n = data.size() / record;
  set->pixels.reserve(set->pixels.size() + n * kPixels);
  for (size_t i = 0; i < n; ++i) {
    const char* r = data.data() + i * record;
    const int label = static_cast<unsigned char>(r[label_bytes - 1]);
    if (label >= classes) {
      return absl::DataLossError(absl::StrCat(path, ": record ", i, " has label ", label,
                                              "; this format has ", classes, " classes"));
    }
    set->labels.push_back(label);
    set->pixels.insert(set->pixels.end(), r + label_bytes, r + record);
  }
  set->count += static_cast<int64_t>(n);
  return absl::OkStatus();
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
    return absl::DataLossError(
        absl::StrCat(path, ": expected ", 4 + 4u * dims + total, " bytes, found ", data.size()));
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

DatasetSource FashionMnist() {
  return {std::string(kDefaultDataset), DatasetFormat::kIdx, "/usr/share/datasets/fashion-mnist"};
}

absl::StatusOr<DatasetSource> ParseDatasetSource(const std::string& text) {
  const size_t eq = text.find('=');
  const size_t colon = text.find(':', eq == std::string::npos ? 0 : eq);
  if (eq == std::string::npos || colon == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dataset \"", text, "\": expected NAME=FORMAT:DIR, e.g. cifar10=cifar10:/data/cifar-10"));
  }
  DatasetSource source;
  source.name = text.substr(0, eq);
  const std::string format = text.substr(eq + 1, colon - eq - 1);
  source.dir = text.substr(colon + 1);
  if (!IsValidDatasetName(source.name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dataset \"", text, "\": the name must be 1 to 64 of a-z, 0-9, '.', '_' and '-'"));
  }
  if (format == "idx") {
    source.format = DatasetFormat::kIdx;
  } else if (format == "cifar10") {
    source.format = DatasetFormat::kCifar10;
  } else if (format == "cifar100") {
    source.format = DatasetFormat::kCifar100;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("dataset \"", text, "\": format \"", format,
                                                   "\" is not one of idx, cifar10, cifar100"));
  }
  if (source.dir.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("dataset \"", text, "\": no directory"));
  }
  return source;
}

absl::StatusOr<ImageDataset> LoadDataset(const DatasetSource& source) {
  absl::StatusOr<ImageDataset> d =
      source.format == DatasetFormat::kIdx
          ? LoadIdxDataset(source.dir)
          : LoadCifarDataset(source.dir, source.format == DatasetFormat::kCifar100);
  if (!d.ok()) return d;
  d->name = source.name;
  if (source.name == FashionMnist().name && source.format == DatasetFormat::kIdx &&
      ReadClassNames(source.dir + "/classes.txt").empty() && d->classes.size() == 10) {
    d->classes = FashionMnistClasses();
  }
  return d;
}

absl::StatusOr<ImageDataset> LoadCifarDataset(const std::string& dir, bool cifar100) {
  ImageDataset d;
  d.name = dir;
  d.channels = 3;
  d.height = 32;
  d.width = 32;
  const int classes = cifar100 ? 100 : 10;
  const int label_bytes = cifar100 ? 2 : 1;  // CIFAR-100: coarse label, then fine label.
  if (cifar100) {
    NAS_RETURN_IF_ERROR(AppendCifarFile(dir, "train.bin", label_bytes, classes, &d.train));
  } else {
    for (int i = 1; i <= 5; ++i) {
      NAS_RETURN_IF_ERROR(AppendCifarFile(dir, absl::StrCat("data_batch_", i, ".bin"), label_bytes,
                                          classes, &d.train));
    }
  }
  NAS_RETURN_IF_ERROR(AppendCifarFile(dir, cifar100 ? "test.bin" : "test_batch.bin", label_bytes,
                                      classes, &d.test));
  const std::string names_path =
      absl::StrCat(dir, cifar100 ? "/fine_label_names.txt" : "/batches.meta.txt");
  d.classes = ReadClassNames(names_path);
  if (!d.classes.empty() && static_cast<int>(d.classes.size()) != classes) {
    return absl::DataLossError(
        absl::StrCat(names_path, ": ", d.classes.size(), " class names; expected ", classes));
  }
  NAS_RETURN_IF_ERROR(Finish(d, names_path));
  return d;
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
  const std::string names_path = dir + "/classes.txt";
  d.classes = ReadClassNames(names_path);
  NAS_RETURN_IF_ERROR(Finish(d, names_path));
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
