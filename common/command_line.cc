#include "common/command_line.h"

#include <algorithm>
#include <cstdlib>
#include <iostream>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace nas {
namespace {

bool IsOwnFlag(const absl::CommandLineFlag& flag, const std::vector<std::string>& dirs) {
  const std::string file = flag.Filename();
  return std::any_of(dirs.begin(), dirs.end(),
                     [&](const std::string& d) { return absl::StrContains(file, d); });
}

// The program's own flags, by name.
std::vector<const absl::CommandLineFlag*> OwnFlags(const std::vector<std::string>& dirs) {
  std::vector<const absl::CommandLineFlag*> own;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (!flag->IsRetired() && IsOwnFlag(*flag, dirs)) own.push_back(flag);
  }
  std::sort(own.begin(), own.end(),
            [](const auto* a, const auto* b) { return a->Name() < b->Name(); });
  return own;
}

size_t EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

bool IsHelp(absl::string_view name) {
  return name == "help" || name == "h" || name == "helpfull" || name == "helpshort" ||
         name == "helppackage" || name == "?";
}

// "--name=value" -> "name"; "-name" -> "name".
absl::string_view FlagName(absl::string_view arg) {
  arg.remove_prefix(absl::StartsWith(arg, "--") ? 2 : 1);
  return arg.substr(0, arg.find('='));
}

}  // namespace

std::optional<std::string> UnknownFlagError(int argc, char** argv,
                                            const std::vector<std::string>& flag_dirs) {
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    if (arg == "--") break;
    if (arg.size() < 2 || arg[0] != '-') continue;
    const absl::string_view name = FlagName(arg);
    if (name.empty() || IsHelp(name)) continue;
    const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag != nullptr && !flag->IsRetired()) continue;
    if (absl::StartsWith(name, "no")) {
      const absl::CommandLineFlag* negated = absl::FindCommandLineFlag(name.substr(2));
      if (negated != nullptr && negated->IsOfType<bool>()) continue;
    }
    std::string message = absl::StrCat("unknown flag --", name);
    const absl::CommandLineFlag* best = nullptr;
    size_t best_distance = std::max<size_t>(2, name.size() / 3) + 1;
    for (const absl::CommandLineFlag* own : OwnFlags(flag_dirs)) {
      size_t d = EditDistance(name, own->Name());
      // A flag given by the start of its name ("--cand" for "--candidates") is close too.
      if (name.size() >= 3 && absl::StartsWith(own->Name(), name)) d = std::min<size_t>(d, 1);
      if (d < best_distance) {
        best = own;
        best_distance = d;
      }
    }
    if (best != nullptr) absl::StrAppend(&message, "; did you mean --", best->Name(), "?");
    absl::StrAppend(&message, " (--help lists the flags)");
    return message;
  }
  return std::nullopt;
}

std::string HelpText(absl::string_view usage, const std::vector<std::string>& flag_dirs) {
  std::string out = absl::StrCat(usage, "\n\nFlags:\n");
  for (const absl::CommandLineFlag* flag : OwnFlags(flag_dirs)) {
    // 0, false and the like mean "unset" for most flags (their help says what then happens).
    const std::string def = flag->DefaultValue();
    const bool unset = def.empty() || def == "0" || def == "false" || def == "-1";
    absl::StrAppend(&out, "  --", flag->Name(), unset ? "" : absl::StrCat(" (default ", def, ")"),
                    "\n      ", flag->Help(), "\n");
  }
  return out;
}

std::vector<char*> ParseCommandLineOrExit(int argc, char** argv, absl::string_view usage,
                                          const std::vector<std::string>& flag_dirs) {
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    if (arg == "--") break;
    if (arg.size() >= 2 && arg[0] == '-' && IsHelp(FlagName(arg))) {
      std::cout << HelpText(usage, flag_dirs);
      std::exit(0);
    }
  }
  if (std::optional<std::string> error = UnknownFlagError(argc, argv, flag_dirs)) {
    const absl::string_view program = argv[0];
    std::cerr << program.substr(program.rfind('/') + 1) << ": " << *error << "\n";
    std::exit(2);
  }
  return absl::ParseCommandLine(argc, argv);
}

}  // namespace nas
