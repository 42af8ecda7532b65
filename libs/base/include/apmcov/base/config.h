// Typed configuration from environment variables and command-line flags (design §9).
// Each variable NAME_LIKE_THIS is also the flag --name-like-this (or --name_like_this);
// a flag wins over the environment. Every bad value is recorded with the variable's name,
// so a service reports all of them at once and exits before doing anything.
//
//   ConfigReader reader(argc, argv);
//   cfg.http_port = reader.Int("HTTP_PORT", 8080, 0, 65535);
//   cfg.dd_api_key = reader.String("DD_API_KEY", "", Secret::kYes);
//   if (reader.HelpRequested()) { std::cout << reader.Usage("apmcov-x", "What it does."); }
//   if (absl::Status s = reader.Finish(); !s.ok()) { ...exit 2... }
//
// --help (or -h) lists every variable the program read, with its default and constraint.
//
// Secrets (Secret::kYes: keys, tokens, URLs with passwords) are never logged, and never come
// from a flag: a command line is readable by every user of the machine (/proc/*/cmdline), so
// --dd-api-key is refused with a message naming the variable. They come from NAME in the
// environment, or from the file named by NAME_FILE (a Kubernetes Secret mounted as a file;
// one trailing newline trimmed). Every value logged has any URL user-info masked.
//
// Not thread-safe; used once at start.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace apmcov {

enum class Secret {
  kNo,
  kYes,        // a credential: environment or NAME_FILE only, never a flag; never logged
  kSimulated,  // a made-up credential (the simulator's): flags allowed; never logged
};

// "https://user:pass@host/x" -> "https://***@host/x"; anything else unchanged.
std::string RedactUrlUserInfo(std::string_view value);

class ConfigReader {
 public:
  using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

  // argv[0] is skipped; positional arguments (not starting with --) are kept in order.
  ConfigReader(int argc, const char* const* argv, EnvLookup env = ProcessEnv());

  std::string String(std::string_view var, std::string_view def, Secret secret = Secret::kNo);
  // A value that must be one of `allowed` (compared as written).
  std::string Enum(std::string_view var, std::string_view def,
                   std::initializer_list<std::string_view> allowed);
  int64_t Int(std::string_view var, int64_t def, int64_t min, int64_t max);
  double Double(std::string_view var, double def, double min, double max);
  // true/false, 1/0, yes/no, on/off.
  bool Bool(std::string_view var, bool def);
  // A comma-separated list; blanks trimmed, empty items dropped.
  std::vector<std::string> List(std::string_view var, std::string_view def);
  // True when the variable was given (flag or env), even if empty.
  bool IsSet(std::string_view var) const;

  // Adds an error for `var` from a cross-field check in a config's Validate().
  void AddError(std::string_view var, std::string_view message);

  // OK, or InvalidArgument listing every bad variable and every unknown --flag.
  absl::Status Finish() const;

  const std::vector<std::string>& positional() const { return positional_; }
  // Variable → effective value, secrets shown as "<redacted>" (or "" when unset), for logs.
  const std::map<std::string, std::string>& Redacted() const { return effective_; }

  // --help or -h was given: print Usage() and exit 0 instead of Finish().
  bool HelpRequested() const;
  // Every variable read so far, in the order read: flag, variable, default, constraint.
  std::string Usage(std::string_view program, std::string_view summary) const;

  static EnvLookup ProcessEnv();
  static std::string FlagName(std::string_view var);  // "HTTP_PORT" -> "http-port"

 private:
  std::optional<std::string> Lookup(std::string_view var);
  // Environment or NAME_FILE only; a flag for it is an error.
  std::optional<std::string> LookupSecret(std::string_view var);
  void Record(std::string_view var, const std::string& value, Secret secret);
  void Describe(std::string_view var, std::string default_text, std::string constraint);

  struct VarHelp {
    std::string var, default_text, constraint;
  };

  EnvLookup env_;
  std::map<std::string, std::string> flags_;  // normalised flag name -> value
  std::map<std::string, bool> used_flags_;
  std::vector<std::string> positional_;
  std::vector<std::string> errors_;
  std::map<std::string, std::string> effective_;
  std::vector<VarHelp> help_;
};

// When --help or -h was given: prints reader.Usage(program, summary) to stdout and returns
// true (the caller exits 0). Call after every variable has been read, before Finish().
bool PrintUsageIfRequested(const ConfigReader& reader, std::string_view program,
                           std::string_view summary);

}  // namespace apmcov
