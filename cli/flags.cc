// nasctl's flags, one definition for every file of cli/ (declared in cli/flags.h).
#include "cli/flags.h"

ABSL_FLAG(std::string, server, "",
          "Controller address (default: $NAS_SERVER or 127.0.0.1:50051); several replicas "
          "comma-separated, or one dns:/// name of several");
ABSL_FLAG(std::string, token, "",
          "Bearer token (default: $NAS_TOKEN, or the file in --token_file)");
ABSL_FLAG(std::string, token_file, "", "File holding the bearer token");
ABSL_FLAG(std::string, tls_ca_file, "", "PEM CA certificate: connect with TLS");
ABSL_FLAG(bool, json, false, "Print JSON (one object per line) instead of tables");
ABSL_FLAG(int, timeout_seconds, 30, "Deadline of unary calls");
// submit
ABSL_FLAG(std::string, spec, "", "submit: a SearchSpec file (.json, or text proto otherwise)");
ABSL_FLAG(std::string, name, "", "submit: display name; profiles register: the profile's name");
ABSL_FLAG(std::string, dataset, "",
          "submit: dataset name (fashion-mnist, or one that workers serve with --dataset)");
ABSL_FLAG(std::string, space, "", "submit: search space (mobilenetv2, resnet)");
ABSL_FLAG(std::string, strategy, "", "submit: strategy (random, evolution, nsga2)");
ABSL_FLAG(
    std::string, strategy_settings, "",
    "submit: strategy settings, comma-separated KEY=VALUE (e.g. population=32,sample_size=8)");
ABSL_FLAG(uint64_t, seed, 0, "submit: strategy seed");
ABSL_FLAG(std::string, profiles, "", "submit: comma-separated hardware profile ids");
ABSL_FLAG(std::string, objectives, "",
          "submit: comma-separated metrics (accuracy, latency, peak_activation_bytes, "
          "model_bytes, params, macs, int8_model_bytes)");
ABSL_FLAG(int, candidates, 0, "submit: budget, candidates to evaluate");
ABSL_FLAG(int, parallel, 0, "submit: candidates in flight at once");
ABSL_FLAG(int, epochs, 0, "submit: training epochs per candidate");
ABSL_FLAG(int, train_subset, 0, "submit: training examples per candidate (0: all)");
ABSL_FLAG(int, batch_size, 0, "submit: training batch size (default 128)");
ABSL_FLAG(std::string, optimizer, "", "submit: sgd (Nesterov momentum 0.9, the default) or adamw");
ABSL_FLAG(double, learning_rate, 0,
          "submit: peak learning rate (default 0.05 for sgd, 0.002 for adamw)");
ABSL_FLAG(std::string, schedule, "",
          "submit: learning-rate schedule: cosine (default), step, one_cycle or cosine_warmup");
ABSL_FLAG(double, warmup_fraction, 0,
          "submit: share of the steps one_cycle and cosine_warmup warm up for (0 to 0.5; "
          "default 0.25 and 0.05)");
ABSL_FLAG(std::string, precision, "",
          "submit: training arithmetic: auto (default: bf16 on workers whose CPU has it), fp32 "
          "or bf16");
ABSL_FLAG(double, weight_decay, -1, "submit: weight decay (default 5e-4 for sgd, 0.05 for adamw)");
ABSL_FLAG(double, label_smoothing, 0, "submit: label smoothing, 0 to 1 (default 0)");
ABSL_FLAG(std::string, augment, "",
          "submit: data augmentation, comma-separated: crop, flip (none: \"none\")");
ABSL_FLAG(double, validation_fraction, 0,
          "submit: share of the training examples held out for validation (0 to 0.5; default: "
          "one sixth, at most 10,000)");
ABSL_FLAG(int, validation_examples, 0,
          "submit: training examples held out for validation (instead of a fraction)");
ABSL_FLAG(int64_t, warm_start, 0,
          "submit: start from this earlier search of yours: its evaluated candidates seed the "
          "search, and those trained alike are reused, not trained again");
ABSL_FLAG(std::string, warm_start_seeds, "",
          "submit: which of the earlier search's candidates seed it: front (default) or all");
ABSL_FLAG(int, add_candidates, 0, "extend: candidates to add to the search's budget");
ABSL_FLAG(int64_t, add_wall_seconds, 0,
          "extend: seconds to add to the search's wall-clock budget (if it has one)");
ABSL_FLAG(int, rungs, 0,
          "submit: successive-halving rungs including the full recipe (2 to 5; 0: off)");
ABSL_FLAG(int, eta, 0, "submit: successive halving's reduction factor (default 3)");
ABSL_FLAG(int, finalists, 0,
          "submit: final training: front members per profile trained again once the search "
          "phase ends (1 to 16; 0: none)");
ABSL_FLAG(int, final_epochs, 0, "submit: final training's epochs (default: --epochs)");
ABSL_FLAG(std::string, reference, "",
          "submit: the network you would ship otherwise, as a preset (resnet18, "
          "mobilenetv2-1.0): trained alike and every candidate compared with it");
ABSL_FLAG(std::string, constraints, "",
          "submit: comma-separated bounds, METRIC>=BOUND for accuracy, METRIC<=BOUND for the "
          "rest (e.g. accuracy_drop<=1,int8_model_bytes<=1048576); replace the spec's");
ABSL_FLAG(bool, watch, false, "submit: watch the search until it ends");
// pareto, candidates, fetch, users, tokens
ABSL_FLAG(std::string, profile, "",
          "pareto: one profile (default: every profile of the search); fetch: the profile the "
          "model is for (chooses the default format)");
ABSL_FLAG(std::string, format, "",
          "fetch: torchscript, onnx-fp32 or onnx-int8 (default: onnx-int8 for an int8 --profile, "
          "onnx-fp32 for another, torchscript without one)");
ABSL_FLAG(std::string, plot, "",
          "pareto: also draw accuracy against latency and memory per profile into this SVG file");
ABSL_FLAG(std::string, state, "", "candidates: only this state (queued, leased, evaluated, ...)");
ABSL_FLAG(int, limit, 0, "list, candidates: at most this many");
ABSL_FLAG(std::string, out, "", "fetch: output file (default: the model's suggested name)");
ABSL_FLAG(bool, admin, false, "users create: make an administrator");
ABSL_FLAG(std::string, user, "", "tokens create: for this user (admins only; default: you)");
ABSL_FLAG(std::string, lut, "",
          "profiles register: a latency table written by nas-profile (makes a LUT profile)");
ABSL_FLAG(std::string, label, "", "tokens create: a note to tell tokens apart");
ABSL_FLAG(std::string, device_tag, "",
          "profiles register: the device the profile describes, as its workers' --device_tag "
          "(a LUT's predictions are then compared with their measurements)");
