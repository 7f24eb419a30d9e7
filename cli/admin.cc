// nasctl's administration commands: profiles, users, tokens, whoami, health.
#include <iostream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/flags.h"
#include "cli/format.h"
#include "cli/nasctl.h"
#include "cli/units.h"
#include "common/status_macros.h"
#include "google/protobuf/text_format.h"
#include "proto/health.grpc.pb.h"
#include "search/latency_table.h"

namespace nas::cli {

absl::Status Nasctl::Profiles(const std::vector<std::string>& args) {
  const std::string sub = args.size() > 1 ? args[1] : "list";
  if (sub == "list") {
    grpc::ClientContext ctx;
    NAS_RETURN_IF_ERROR(client_.Prepare(&ctx));
    nas::v1::ListHardwareProfilesResponse resp;
    NAS_RETURN_IF_ERROR(FromGrpc(client_.nas().ListHardwareProfiles(&ctx, {}, &resp)));
    if (absl::GetFlag(FLAGS_json)) {
      for (const auto& p : resp.profiles()) std::cout << Json(p) << "\n";
      return absl::OkStatus();
    }
    std::vector<std::vector<std::string>> rows = {{"ID", "KIND", "WEIGHTS", "LATENCY LIMIT",
                                                   "MODEL LIMIT", "SRAM LIMIT", "OWNER",
                                                   "DESCRIPTION"}};
    for (const auto& p : resp.profiles()) {
      const auto& l = p.limits();
      rows.push_back(
          {p.id(), absl::AsciiStrToLower(nas::v1::ProfileKind_Name(p.kind()).substr(13)),
           p.weight_type() == nas::v1::WEIGHT_TYPE_INT8 ? "int8" : "fp32",
           l.max_latency_ms() > 0 ? absl::StrFormat("%.1f ms", l.max_latency_ms()) : "-",
           l.max_model_bytes() > 0 ? Bytes(l.max_model_bytes()) : "-",
           l.max_peak_activation_bytes() > 0 ? Bytes(l.max_peak_activation_bytes()) : "-",
           p.owner().empty() ? "built-in" : p.owner(), p.description()});
    }
    PrintTable(rows);
    return absl::OkStatus();
  }
  if (sub == "get" && args.size() > 2) {
    grpc::ClientContext ctx;
    NAS_RETURN_IF_ERROR(client_.Prepare(&ctx));
    nas::v1::GetHardwareProfileRequest req;
    req.set_profile_id(args[2]);
    nas::v1::HardwareProfile p;
    NAS_RETURN_IF_ERROR(FromGrpc(client_.nas().GetHardwareProfile(&ctx, req, &p)));
    std::string text;
    google::protobuf::TextFormat::PrintToString(p, &text);
    std::cout << (absl::GetFlag(FLAGS_json) ? Json(p) + "\n" : text);
    return absl::OkStatus();
  }
  const std::string lut = absl::GetFlag(FLAGS_lut);
  if (sub == "register" && (args.size() > 2 || !lut.empty())) {
    nas::v1::RegisterHardwareProfileRequest req;
    nas::v1::HardwareProfile* profile = req.mutable_profile();
    if (args.size() > 2) NAS_RETURN_IF_ERROR(ParseFile(args[2], profile));
    if (!absl::GetFlag(FLAGS_name).empty()) profile->set_name(absl::GetFlag(FLAGS_name));
    if (!absl::GetFlag(FLAGS_device_tag).empty()) {
      profile->set_device_tag(absl::GetFlag(FLAGS_device_tag));
    }
    if (!lut.empty()) {
      // A table nas-profile wrote: the profile predicts latency from it.
      NAS_ASSIGN_OR_RETURN(const std::string text, ReadFile(lut));
      absl::StatusOr<nas::v1::LatencyTable> table = ParseLatencyTable(text);
      if (!table.ok()) return UsageError(absl::StrCat(lut, ": ", table.status().message()));
      *profile->mutable_latency_table() = *std::move(table);
      profile->set_kind(nas::v1::PROFILE_KIND_LUT);
      if (profile->description().empty()) {
        profile->set_description(absl::StrCat("lookup table measured on ",
                                              profile->latency_table().device_description()));
      }
    }
    grpc::ClientContext ctx;
    NAS_RETURN_IF_ERROR(client_.Prepare(&ctx));
    nas::v1::HardwareProfile p;
    NAS_RETURN_IF_ERROR(FromGrpc(client_.nas().RegisterHardwareProfile(&ctx, req, &p)));
    std::cout << (absl::GetFlag(FLAGS_json) ? Json(p) : absl::StrCat("registered ", p.id()))
              << "\n";
    return absl::OkStatus();
  }
  return UsageError(
      "usage: nasctl profiles [list] | get ID | register FILE | register --lut=TABLE --name=NAME "
      "[--device_tag=TAG]");
}

absl::Status Nasctl::Users(const std::vector<std::string>& args) {
  const std::string sub = args.size() > 1 ? args[1] : "list";
  if (sub == "list") {
    grpc::ClientContext ctx;
    NAS_RETURN_IF_ERROR(client_.Prepare(&ctx));
    nas::v1::ListUsersResponse resp;
    NAS_RETURN_IF_ERROR(FromGrpc(client_.admin().ListUsers(&ctx, {}, &resp)));
    std::vector<std::vector<std::string>> rows = {{"ID", "NAME", "ADMIN", "CREATED"}};
    for (const auto& u : resp.users()) {
      if (absl::GetFlag(FLAGS_json)) std::cout << Json(u) << "\n";
      rows.push_back({absl::StrCat(u.id()), u.name(), u.admin() ? "yes" : "no", u.created_at()});
    }
    if (!absl::GetFlag(FLAGS_json)) PrintTable(rows);
    return absl::OkStatus();
  }
  if (sub == "create" && args.size() > 2) {
    grpc::ClientContext ctx;
    NAS_RETURN_IF_ERROR(client_.Prepare(&ctx));
    nas::v1::CreateUserRequest req;
    req.set_name(args[2]);
    req.set_admin(absl::GetFlag(FLAGS_admin));
    nas::v1::User u;
    NAS_RETURN_IF_ERROR(FromGrpc(client_.admin().CreateUser(&ctx, req, &u)));
    std::cout << (absl::GetFlag(FLAGS_json) ? Json(u) : absl::StrCat("created user ", u.name()))
              << "\n";
    return absl::OkStatus();
  }
  return UsageError("usage: nasctl users list | users create NAME [--admin]");
}

absl::Status Nasctl::Tokens(const std::vector<std::string>& args) {
  const std::string sub = args.size() > 1 ? args[1] : "";
  if (sub == "create") {
    grpc::ClientContext ctx;
    NAS_RETURN_IF_ERROR(client_.Prepare(&ctx));
    nas::v1::CreateTokenRequest req;
    req.set_user_name(absl::GetFlag(FLAGS_user));
    req.set_label(absl::GetFlag(FLAGS_label));
    nas::v1::CreateTokenResponse resp;
    NAS_RETURN_IF_ERROR(FromGrpc(client_.admin().CreateToken(&ctx, req, &resp)));
    if (absl::GetFlag(FLAGS_json)) {
      std::cout << Json(resp) << "\n";
    } else {
      // The secret alone on stdout, so `NAS_TOKEN=$(nasctl tokens create)` works.
      std::cout << resp.token() << "\n";
      std::cerr << "token " << resp.token_id() << " for " << resp.user_name()
                << " (shown once; store it now)\n";
    }
    return absl::OkStatus();
  }
  if (sub == "revoke") {
    grpc::ClientContext ctx;
    NAS_RETURN_IF_ERROR(client_.Prepare(&ctx));
    nas::v1::RevokeTokenRequest req;
    NAS_ASSIGN_OR_RETURN(const int64_t token_id, IdArg(args, 2, "TOKEN_ID"));
    req.set_token_id(token_id);
    nas::v1::RevokeTokenResponse resp;
    NAS_RETURN_IF_ERROR(FromGrpc(client_.admin().RevokeToken(&ctx, req, &resp)));
    std::cout << "revoked token " << req.token_id() << "\n";
    return absl::OkStatus();
  }
  return UsageError("usage: nasctl tokens create [--user=NAME] [--label=..] | revoke TOKEN_ID");
}

absl::Status Nasctl::WhoAmI() {
  grpc::ClientContext ctx;
  NAS_RETURN_IF_ERROR(client_.Prepare(&ctx));
  nas::v1::User u;
  NAS_RETURN_IF_ERROR(FromGrpc(client_.admin().WhoAmI(&ctx, {}, &u)));
  std::cout << (absl::GetFlag(FLAGS_json) ? Json(u)
                                          : absl::StrCat(u.name(), u.admin() ? " (admin)" : ""))
            << "\n";
  return absl::OkStatus();
}

absl::Status Nasctl::Health() {
  auto health = grpc::health::v1::Health::NewStub(client_.channel());
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::health::v1::HealthCheckResponse resp;
  NAS_RETURN_IF_ERROR(FromGrpc(health->Check(&ctx, {}, &resp)));
  const bool serving = resp.status() == grpc::health::v1::HealthCheckResponse::SERVING;
  std::cout << (serving ? "serving" : "not serving") << "\n";
  if (!serving) exit_code_ = 1;
  return absl::OkStatus();
}

}  // namespace nas::cli
