// The command line of this project's programs, one convention for all of them:
//   --help (or -h, --helpfull) prints the usage and the program's own flags, and exits 0;
//   an unknown flag is a usage error: one line naming it and the closest known flag, exit 2;
//   then the flags are parsed by Abseil (absl::ParseCommandLine).
//
//   int main(int argc, char** argv) {
//     std::vector<char*> args = nas::ParseCommandLineOrExit(
//         argc, argv, "nas-trainer: a LibTorch trainer worker ...", {"trainer/"});
#ifndef NAS_COMMON_COMMAND_LINE_H_
#define NAS_COMMON_COMMAND_LINE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace nas {

// ParseCommandLineOrExit() handles help and unknown flags as above, then returns
// absl::ParseCommandLine()'s positional arguments (argv[0] first). `usage` is printed as is;
// `flag_dirs` are the source directories whose flags are the program's own (listed by --help,
// offered as suggestions).
std::vector<char*> ParseCommandLineOrExit(int argc, char** argv, absl::string_view usage,
                                          const std::vector<std::string>& flag_dirs);

// UnknownFlagError() is the usage error for the first argument of argv[1..] that names no
// defined flag ("unknown flag --ecpochs; did you mean --epochs?"), or nullopt when every flag
// is known. Arguments after "--" are not flags.
std::optional<std::string> UnknownFlagError(int argc, char** argv,
                                            const std::vector<std::string>& flag_dirs);

// HelpText() is `usage` followed by the program's own flags, each with its default and help.
std::string HelpText(absl::string_view usage, const std::vector<std::string>& flag_dirs);

}  // namespace nas

#endif  // NAS_COMMON_COMMAND_LINE_H_
