// nasctl's search commands: submit, list, get, watch, cancel.
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "cli/flags.h"
#include "cli/format.h"
#include "cli/nasctl.h"
#include "cli/watch_view.h"
#include "common/status_macros.h"

namespace nas::cli {
namespace {

// The training recipe's flags, over the spec file's recipe. Values are checked by the
// controller (whose errors name the spec field); only what cannot be sent is refused here.
absl::Status ApplyRecipeFlags(nas::v1::TrainingRecipe* recipe) {
  if (absl::GetFlag(FLAGS_batch_size) != 0) recipe->set_batch_size(absl::GetFlag(FLAGS_batch_size));
  const std::string optimizer = absl::AsciiStrToLower(absl::GetFlag(FLAGS_optimizer));
  if (optimizer == "sgd") {
    recipe->set_optimizer(nas::v1::OPTIMIZER_SGD);
  } else if (optimizer == "adamw") {
    recipe->set_optimizer(nas::v1::OPTIMIZER_ADAMW);
  } else if (!optimizer.empty()) {
    return UsageError(absl::StrCat("--optimizer: \"", optimizer, "\" is neither sgd nor adamw"));
  }
  const std::string schedule = absl::AsciiStrToLower(absl::GetFlag(FLAGS_schedule));
  if (schedule == "cosine") {
    recipe->set_schedule(nas::v1::LR_SCHEDULE_COSINE);
  } else if (schedule == "step") {
    recipe->set_schedule(nas::v1::LR_SCHEDULE_STEP);
  } else if (schedule == "one_cycle") {
    recipe->set_schedule(nas::v1::LR_SCHEDULE_ONE_CYCLE);
  } else if (schedule == "cosine_warmup") {
    recipe->set_schedule(nas::v1::LR_SCHEDULE_COSINE_WARMUP);
  } else if (!schedule.empty()) {
    return UsageError(absl::StrCat("--schedule: \"", schedule,
                                   "\" is not cosine, step, one_cycle or cosine_warmup"));
  }
  if (absl::GetFlag(FLAGS_warmup_fraction) != 0) {
    recipe->set_warmup_fraction(absl::GetFlag(FLAGS_warmup_fraction));
  }
  const std::string precision = absl::AsciiStrToLower(absl::GetFlag(FLAGS_precision));
  if (precision == "auto") {
    recipe->set_precision(nas::v1::PRECISION_AUTO);
  } else if (precision == "fp32") {
    recipe->set_precision(nas::v1::PRECISION_FP32);
  } else if (precision == "bf16") {
    recipe->set_precision(nas::v1::PRECISION_BF16);
  } else if (!precision.empty()) {
    return UsageError(absl::StrCat("--precision: \"", precision, "\" is not auto, fp32 or bf16"));
  }
  if (absl::GetFlag(FLAGS_learning_rate) != 0) {
    recipe->set_learning_rate(absl::GetFlag(FLAGS_learning_rate));
  }
  if (absl::GetFlag(FLAGS_weight_decay) >= 0) {
    recipe->set_weight_decay(absl::GetFlag(FLAGS_weight_decay));
  } else if (absl::GetFlag(FLAGS_weight_decay) != -1) {
    return UsageError("--weight_decay: must be >= 0");
  }
  if (absl::GetFlag(FLAGS_label_smoothing) != 0) {
    recipe->set_label_smoothing(absl::GetFlag(FLAGS_label_smoothing));
  }
  const std::string augment = absl::AsciiStrToLower(absl::GetFlag(FLAGS_augment));
  if (!augment.empty()) {
    recipe->set_augment_crop(false);
    recipe->set_augment_flip(false);
    for (absl::string_view a : absl::StrSplit(augment, ',', absl::SkipWhitespace())) {
      a = absl::StripAsciiWhitespace(a);
      if (a == "crop") {
        recipe->set_augment_crop(true);
      } else if (a == "flip") {
        recipe->set_augment_flip(true);
      } else if (a != "none") {
        return UsageError(absl::StrCat("--augment: \"", a, "\" is not crop, flip or none"));
      }
    }
  }
  if (absl::GetFlag(FLAGS_validation_fraction) != 0) {
    recipe->set_validation_fraction(absl::GetFlag(FLAGS_validation_fraction));
    recipe->clear_validation_examples();
  }
  if (absl::GetFlag(FLAGS_validation_examples) != 0) {
    recipe->set_validation_examples(absl::GetFlag(FLAGS_validation_examples));
    if (absl::GetFlag(FLAGS_validation_fraction) == 0) recipe->clear_validation_fraction();
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Nasctl::Submit() {
  nas::v1::SubmitSearchRequest req;
  nas::v1::SearchSpec* spec = req.mutable_spec();
  if (!absl::GetFlag(FLAGS_spec).empty()) {
    NAS_RETURN_IF_ERROR(ParseFile(absl::GetFlag(FLAGS_spec), spec));
  }
  // Flags override the file.
  if (!absl::GetFlag(FLAGS_name).empty()) spec->set_display_name(absl::GetFlag(FLAGS_name));
  if (!absl::GetFlag(FLAGS_dataset).empty()) spec->set_dataset(absl::GetFlag(FLAGS_dataset));
  if (!absl::GetFlag(FLAGS_space).empty()) {
    spec->mutable_space()->set_name(absl::GetFlag(FLAGS_space));
  }
  if (!absl::GetFlag(FLAGS_strategy).empty()) {
    spec->mutable_strategy()->set_name(absl::GetFlag(FLAGS_strategy));
  }
  if (absl::GetFlag(FLAGS_seed) != 0) spec->mutable_strategy()->set_seed(absl::GetFlag(FLAGS_seed));
  if (!absl::GetFlag(FLAGS_strategy_settings).empty()) {
    for (absl::string_view kv : absl::StrSplit(absl::GetFlag(FLAGS_strategy_settings), ',')) {
      std::pair<std::string, std::string> setting = absl::StrSplit(kv, absl::MaxSplits('=', 1));
      if (setting.first.empty() || setting.second.empty()) {
        return UsageError(absl::StrCat("--strategy_settings: \"", kv, "\" is not KEY=VALUE"));
      }
      (*spec->mutable_strategy()->mutable_settings())[setting.first] = setting.second;
    }
  }
  if (!absl::GetFlag(FLAGS_profiles).empty()) {
    spec->clear_profile_ids();
    for (absl::string_view p : absl::StrSplit(absl::GetFlag(FLAGS_profiles), ',')) {
      spec->add_profile_ids(std::string(absl::StripAsciiWhitespace(p)));
    }
  }
  if (!absl::GetFlag(FLAGS_objectives).empty()) {
    spec->clear_objectives();
    for (absl::string_view m : absl::StrSplit(absl::GetFlag(FLAGS_objectives), ',')) {
      NAS_ASSIGN_OR_RETURN(const nas::v1::Metric metric,
                           ParseMetric(absl::StripAsciiWhitespace(m)));
      spec->add_objectives()->set_metric(metric);
    }
  }
  if (absl::GetFlag(FLAGS_candidates) != 0) {
    spec->mutable_budget()->set_max_candidates(absl::GetFlag(FLAGS_candidates));
  }
  if (absl::GetFlag(FLAGS_parallel) != 0) {
    spec->mutable_budget()->set_max_parallel(absl::GetFlag(FLAGS_parallel));
  }
  if (absl::GetFlag(FLAGS_epochs) != 0) {
    spec->mutable_recipe()->set_epochs(absl::GetFlag(FLAGS_epochs));
  }
  if (absl::GetFlag(FLAGS_train_subset) != 0) {
    spec->mutable_recipe()->set_train_subset(absl::GetFlag(FLAGS_train_subset));
  }
  NAS_RETURN_IF_ERROR(ApplyRecipeFlags(spec->mutable_recipe()));
  if (absl::GetFlag(FLAGS_warm_start) != 0) {
    spec->mutable_warm_start()->set_search_id(absl::GetFlag(FLAGS_warm_start));
  }
  if (!absl::GetFlag(FLAGS_warm_start_seeds).empty()) {
    spec->mutable_warm_start()->set_seeds(absl::GetFlag(FLAGS_warm_start_seeds));
  }
  if (absl::GetFlag(FLAGS_rungs) != 0) {
    spec->mutable_multi_fidelity()->set_rungs(absl::GetFlag(FLAGS_rungs));
  }
  if (absl::GetFlag(FLAGS_eta) != 0) {
    spec->mutable_multi_fidelity()->set_eta(absl::GetFlag(FLAGS_eta));
  }
  if (absl::GetFlag(FLAGS_finalists) != 0) {
    spec->mutable_final_training()->set_finalists_per_profile(absl::GetFlag(FLAGS_finalists));
  }
  if (absl::GetFlag(FLAGS_final_epochs) != 0) {
    spec->mutable_final_training()->set_epochs(absl::GetFlag(FLAGS_final_epochs));
  }
  if (!absl::GetFlag(FLAGS_reference).empty()) {
    spec->clear_reference();
    spec->mutable_reference()->set_preset(absl::GetFlag(FLAGS_reference));
  }
  if (!absl::GetFlag(FLAGS_constraints).empty()) {
    spec->clear_constraints();
    for (absl::string_view c : absl::StrSplit(absl::GetFlag(FLAGS_constraints), ',')) {
      NAS_ASSIGN_OR_RETURN(const nas::v1::Constraint constraint, ParseConstraint(c));
      *spec->add_constraints() = constraint;
    }
  }
  grpc::ClientContext ctx;
  NAS_RETURN_IF_ERROR(client_.Prepare(&ctx));
  nas::v1::Search search;
  NAS_RETURN_IF_ERROR(FromGrpc(client_.nas().SubmitSearch(&ctx, req, &search)));
  if (!absl::GetFlag(FLAGS_json)) std::cout << "submitted search " << search.id() << "\n";
  PrintSearch(search);
  // Warnings go to stderr too, so that a script keeping stdout (--json) still shows them.
  for (const std::string& w : search.warnings()) std::cerr << "nasctl: warning: " << w << "\n";
  return absl::GetFlag(FLAGS_watch) ? Watch(search.id()) : absl::OkStatus();
}

absl::Status Nasctl::List() {
  grpc::ClientContext ctx;
  NAS_RETURN_IF_ERROR(client_.Prepare(&ctx));
  nas::v1::ListSearchesRequest req;
  req.set_limit(absl::GetFlag(FLAGS_limit));
  nas::v1::ListSearchesResponse resp;
  NAS_RETURN_IF_ERROR(FromGrpc(client_.nas().ListSearches(&ctx, req, &resp)));
  if (absl::GetFlag(FLAGS_json)) {
    for (const auto& s : resp.searches()) std::cout << Json(s) << "\n";
    return absl::OkStatus();
  }
  std::vector<std::vector<std::string>> rows = {
      {"ID", "NAME", "STATE", "EVALUATED", "BEST ACC", "PROFILES", "CREATED"}};
  for (const auto& s : resp.searches()) {
    rows.push_back({absl::StrCat(s.id()), s.spec().display_name(), Short(s.state()),
                    absl::StrCat(s.progress().evaluated(), "/", s.progress().target()),
                    absl::StrFormat("%.4f", s.best_accuracy()),
                    absl::StrJoin(s.spec().profile_ids(), ","), s.created_at()});
  }
  PrintTable(rows);
  return absl::OkStatus();
}

absl::Status Nasctl::Get(int64_t id) {
  NAS_ASSIGN_OR_RETURN(const nas::v1::Search search, FetchSearch(id));
  PrintSearch(search);
  return absl::OkStatus();
}

absl::StatusOr<nas::v1::Search> Nasctl::FetchSearch(int64_t id) {
  grpc::ClientContext ctx;
  NAS_RETURN_IF_ERROR(client_.Prepare(&ctx));
  nas::v1::GetSearchRequest req;
  req.set_search_id(id);
  nas::v1::Search s;
  NAS_RETURN_IF_ERROR(FromGrpc(client_.nas().GetSearch(&ctx, req, &s)));
  return s;
}

// Follows a search's events until it ends. On a terminal, events scroll above a live
// progress line (bar, best accuracy, each front's hypervolume, ETA) redrawn once a second;
// piped, each event is one line with the progress line's figures. Ends with the fronts.
absl::Status Nasctl::Watch(int64_t id) {
  const bool json = absl::GetFlag(FLAGS_json);
  const bool tty = !json && isatty(STDOUT_FILENO) != 0;
  std::map<std::string, double> hypervolume;  // per profile, from FRONT_CHANGED events
  if (!json) {
    NAS_ASSIGN_OR_RETURN(const nas::v1::Search search, FetchSearch(id));
    for (const std::string& w : search.warnings()) std::cout << "warning: " << w << "\n";
    for (const std::string& profile : search.spec().profile_ids()) {
      NAS_ASSIGN_OR_RETURN(const nas::v1::ParetoFront front, FetchFront(id, profile));
      hypervolume[profile] = front.normalized_hypervolume();
    }
  }
  grpc::ClientContext ctx;
  NAS_RETURN_IF_ERROR(client_.Prepare(&ctx, /*unary=*/false));
  nas::v1::WatchSearchRequest req;
  req.set_search_id(id);
  auto reader = client_.nas().WatchSearch(&ctx, req);

  // The stream's reader runs on its own thread, so the terminal's line keeps its clock.
  std::mutex mu;
  std::condition_variable cv;
  std::deque<nas::v1::SearchEvent> inbox;
  bool ended = false;
  std::thread receive([&] {
    nas::v1::SearchEvent e;
    while (reader->Read(&e)) {
      std::lock_guard<std::mutex> lock(mu);
      inbox.push_back(e);
      cv.notify_one();
    }
    std::lock_guard<std::mutex> lock(mu);
    ended = true;
    cv.notify_one();
  });
  nas::v1::Search latest;
  nas::v1::SearchState final_state = nas::v1::SEARCH_STATE_UNSPECIFIED;
  constexpr int kBar = 24;
  RecentPeak running(absl::Seconds(10));
  // The progress line's "running": the most candidates in training at once lately.
  auto line = [&] {
    nas::v1::Search shown = latest;
    shown.mutable_progress()->set_leased(running.Peak(absl::Now()));
    return ProgressLine(shown, hypervolume, absl::Now(), kBar);
  };
  while (true) {
    std::deque<nas::v1::SearchEvent> batch;
    bool done = false;
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait_for(lock, std::chrono::seconds(1), [&] { return !inbox.empty() || ended; });
      batch.swap(inbox);
      done = ended;
    }
    for (const nas::v1::SearchEvent& e : batch) {
      latest = e.search();
      final_state = e.search().state();
      running.Observe(latest.progress().leased(), absl::Now());
      if (json) {
        std::cout << Json(e) << std::endl;
        continue;
      }
      if (e.kind() == nas::v1::SEARCH_EVENT_KIND_FRONT_CHANGED && !e.profile_id().empty()) {
        hypervolume[e.profile_id()] = e.normalized_hypervolume();
      }
      if (tty) {
        std::cout << "\r\033[K" << e.message() << "\n";
      } else {
        std::cout << line() << "  " << e.message() << std::endl;
      }
    }
    if (tty && latest.id() != 0) {
      std::cout << "\r\033[K" << line() << std::flush;
    }
    if (done) break;
  }
  receive.join();
  if (tty) std::cout << "\n";
  NAS_RETURN_IF_ERROR(FromGrpc(reader->Finish()));
  if (!json && latest.id() != 0) {
    std::cout << "\n";
    NAS_RETURN_IF_ERROR(Pareto(id));
  }
  if (final_state == nas::v1::SEARCH_STATE_FAILED) exit_code_ = 1;
  return absl::OkStatus();
}

absl::Status Nasctl::Extend(int64_t id, bool resume) {
  grpc::ClientContext ctx;
  NAS_RETURN_IF_ERROR(client_.Prepare(&ctx));
  nas::v1::ExtendSearchRequest req;
  req.set_search_id(id);
  if (!resume) {
    if (absl::GetFlag(FLAGS_add_candidates) == 0 && absl::GetFlag(FLAGS_add_wall_seconds) == 0) {
      return UsageError(
          "extend: give --add_candidates=N and/or --add_wall_seconds=S "
          "(nasctl resume SEARCH_ID runs a cancelled search on as it was)");
    }
    req.set_add_candidates(absl::GetFlag(FLAGS_add_candidates));
    req.set_add_wall_seconds(absl::GetFlag(FLAGS_add_wall_seconds));
  }
  nas::v1::Search s;
  NAS_RETURN_IF_ERROR(FromGrpc(client_.nas().ExtendSearch(&ctx, req, &s)));
  PrintSearch(s);
  return absl::GetFlag(FLAGS_watch) ? Watch(s.id()) : absl::OkStatus();
}

absl::Status Nasctl::Cancel(int64_t id) {
  grpc::ClientContext ctx;
  NAS_RETURN_IF_ERROR(client_.Prepare(&ctx));
  nas::v1::CancelSearchRequest req;
  req.set_search_id(id);
  nas::v1::Search s;
  NAS_RETURN_IF_ERROR(FromGrpc(client_.nas().CancelSearch(&ctx, req, &s)));
  PrintSearch(s);
  return absl::OkStatus();
}

}  // namespace nas::cli
