// nasctl's flags (defined in cli/flags.cc): the connection, the output, and each command's.
#ifndef NAS_CLI_FLAGS_H_
#define NAS_CLI_FLAGS_H_

#include <cstdint>
#include <string>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"

ABSL_DECLARE_FLAG(std::string, server);
ABSL_DECLARE_FLAG(std::string, token);
ABSL_DECLARE_FLAG(std::string, token_file);
ABSL_DECLARE_FLAG(std::string, tls_ca_file);
ABSL_DECLARE_FLAG(bool, json);
ABSL_DECLARE_FLAG(int, timeout_seconds);
ABSL_DECLARE_FLAG(std::string, spec);
ABSL_DECLARE_FLAG(std::string, name);
ABSL_DECLARE_FLAG(std::string, dataset);
ABSL_DECLARE_FLAG(std::string, space);
ABSL_DECLARE_FLAG(std::string, strategy);
ABSL_DECLARE_FLAG(std::string, strategy_settings);
ABSL_DECLARE_FLAG(uint64_t, seed);
ABSL_DECLARE_FLAG(std::string, profiles);
ABSL_DECLARE_FLAG(std::string, objectives);
ABSL_DECLARE_FLAG(int, candidates);
ABSL_DECLARE_FLAG(int, parallel);
ABSL_DECLARE_FLAG(int, epochs);
ABSL_DECLARE_FLAG(int, train_subset);
ABSL_DECLARE_FLAG(int, batch_size);
ABSL_DECLARE_FLAG(std::string, optimizer);
ABSL_DECLARE_FLAG(double, learning_rate);
ABSL_DECLARE_FLAG(std::string, schedule);
ABSL_DECLARE_FLAG(double, weight_decay);
ABSL_DECLARE_FLAG(double, label_smoothing);
ABSL_DECLARE_FLAG(double, warmup_fraction);
ABSL_DECLARE_FLAG(std::string, precision);
ABSL_DECLARE_FLAG(std::string, augment);
ABSL_DECLARE_FLAG(double, validation_fraction);
ABSL_DECLARE_FLAG(int, validation_examples);
ABSL_DECLARE_FLAG(int64_t, warm_start);
ABSL_DECLARE_FLAG(std::string, warm_start_seeds);
ABSL_DECLARE_FLAG(int, add_candidates);
ABSL_DECLARE_FLAG(int64_t, add_wall_seconds);
ABSL_DECLARE_FLAG(int, rungs);
ABSL_DECLARE_FLAG(int, eta);
ABSL_DECLARE_FLAG(int, finalists);
ABSL_DECLARE_FLAG(int, final_epochs);
ABSL_DECLARE_FLAG(std::string, reference);
ABSL_DECLARE_FLAG(std::string, constraints);
ABSL_DECLARE_FLAG(bool, watch);
ABSL_DECLARE_FLAG(std::string, profile);
ABSL_DECLARE_FLAG(std::string, plot);
ABSL_DECLARE_FLAG(std::string, state);
ABSL_DECLARE_FLAG(int, limit);
ABSL_DECLARE_FLAG(std::string, out);
ABSL_DECLARE_FLAG(std::string, format);
ABSL_DECLARE_FLAG(bool, admin);
ABSL_DECLARE_FLAG(std::string, user);
ABSL_DECLARE_FLAG(std::string, lut);
ABSL_DECLARE_FLAG(std::string, label);
ABSL_DECLARE_FLAG(std::string, device_tag);

#endif  // NAS_CLI_FLAGS_H_
